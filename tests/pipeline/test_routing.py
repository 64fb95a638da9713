"""DigestRouter: run digests to the digest queue, every other request to the notify queue,
whatever the mix and order; a queue's failures are reported and never stop the other."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from uvqc.core.verdicts import Verdict
from uvqc.pipeline.records import NotificationRequest
from uvqc.pipeline.routing import DigestRouter, is_digest
from uvqc.testing import MemoryNotifyQueue

AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
KINDS = st.sampled_from(["digest", "notice", "result"])
BATCH = st.text(min_size=1, max_size=8).filter(lambda s: s.strip() == s and s.isprintable())


def request(n: int, kind: str, batch: str) -> NotificationRequest:
    run = None
    if kind != "result":
        run = {"batchId": batch, "kind": "digest" if kind == "digest" else "decision"}
    return NotificationRequest(
        key=f"{n:040d}",
        sample_id=None if run else f"S-{n}",
        record_id=f"run:{batch}" if run else f"rec-{n}",
        verdict=Verdict.FLAG,
        findings=(),
        method="m",
        received_at=AT,
        run=run,
    )


@given(st.lists(st.tuples(KINDS, BATCH), max_size=20), st.booleans(), st.booleans())
def test_each_request_goes_to_one_queue_by_kind_and_failures_add_up(
    mix: list[tuple[str, str]], notify_fails: bool, digests_fail: bool
) -> None:
    requests = [request(n, kind, batch) for n, (kind, batch) in enumerate(mix)]
    notify, digests = MemoryNotifyQueue(), MemoryNotifyQueue()
    if notify_fails:
        notify.fail_for = {r.record_id for r in requests if not is_digest(r)}
    if digests_fail:
        digests.fail_for = {r.record_id for r in requests if is_digest(r)}
    failed = DigestRouter(notify, digests).publish(requests)
    assert all(is_digest(r) for r in digests.requests)
    assert not any(is_digest(r) for r in notify.requests)
    expected = {r.record_id for r in requests if is_digest(r) and digests_fail}
    expected |= {r.record_id for r in requests if not is_digest(r) and notify_fails}
    assert failed == expected
    if not (notify_fails or digests_fail):
        sent = [r.key for r in notify.requests + digests.requests]
        assert sorted(sent) == sorted(r.key for r in requests)
