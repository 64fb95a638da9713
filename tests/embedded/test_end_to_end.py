"""The whole embedded pipeline against a relay that fails on purpose."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes
from email.policy import default

import pytest

from tests.embedded.conftest import result
from tests.support.relay import FaultyRelay
from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker
from uvqc.pipeline.records import NotificationStatus

MakeRuntime = Callable[..., Runtime]


def submit_mix(rt: Runtime, n: int, prefix: str = "S") -> set[str]:
    """n results, every third flagged, every 20th unreadable; returns the samples to notify."""
    bodies, notify = [], set()
    for i in range(n):
        sid = f"{prefix}-{i:04d}"
        if i % 20 == 7:
            bodies.append(b'{"sampleId": "' + sid.encode() + b'", "absorbance": "oops"}')
            notify.add(sid)
        elif i % 3 == 0:
            bodies.append(result(sid, 3.5))
            notify.add(sid)
        else:
            bodies.append(result(sid))
    rt.db.intake_port.submit(bodies)
    return notify


def sample_counts(relay: FaultyRelay) -> Counter[str | None]:
    return Counter(m.sample_id for m in relay.messages())


def test_flaky_relay_every_result_recorded_and_every_issue_mailed_exactly_once(
    relay: FaultyRelay, make_runtime: MakeRuntime
) -> None:
    relay.set_faults(transient_rate=0.25, drop_rate=0.1)
    rt = make_runtime(relay, max_attempts=12)
    expected = submit_mix(rt, 300)
    tally = Worker(rt).run_until_idle()

    assert sum(rt.db.store.counts().values()) == 300
    assert tally.retries > 0 and relay.counters.dropped > 0  # the faults did happen
    assert sample_counts(relay) == Counter({s: 1 for s in expected})
    assert len(set(relay.message_ids())) == len(expected)
    assert rt.db.ledger.counts() == {"sent": len(expected)}
    assert tally.dead_lettered == 0


def test_a_permanent_failure_is_dead_lettered_and_redrive_delivers_it_later(
    relay: FaultyRelay, make_runtime: MakeRuntime
) -> None:
    rt = make_runtime(relay)
    relay.reject_sample = "S-0003"
    expected = submit_mix(rt, 40)
    tally = Worker(rt).run_until_idle()
    assert tally.dead_lettered == 1
    (dead,) = rt.db.dead_letters.list()
    assert dead.sample_id == "S-0003" and "550 5.7.1" in dead.reason
    (note,) = rt.db.ledger.notifications_for_sample("S-0003")
    assert note.status is NotificationStatus.DEAD and "550" in (note.last_error or "")

    relay.reject_sample = None
    assert rt.db.dead_letters.redrive() == 1
    Worker(rt).run_until_idle()
    assert sample_counts(relay) == Counter({s: 1 for s in expected})
    (note,) = rt.db.ledger.notifications_for_sample("S-0003")
    assert [a.outcome for a in note.attempts] == ["permanent", "sent"]


def test_a_full_outage_for_a_while_delays_but_loses_nothing(
    relay: FaultyRelay, make_runtime: MakeRuntime
) -> None:
    rt = make_runtime(relay, max_attempts=30)
    expected = submit_mix(rt, 60)
    relay.set_outage("refuse")
    threading.Timer(0.6, relay.set_outage, args=(None,)).start()
    tally = Worker(rt).run_until_idle()
    assert tally.retries > 0
    assert sample_counts(relay) == Counter({s: 1 for s in expected})


def test_duplicate_submissions_send_no_duplicate(
    relay: FaultyRelay, make_runtime: MakeRuntime
) -> None:
    rt = make_runtime(relay)
    expected = submit_mix(rt, 30)
    submit_mix(rt, 30)  # the same results again
    tally = Worker(rt).run_until_idle()
    assert sum(rt.db.store.counts().values()) == 60  # both deliveries are on record
    assert tally.duplicates == len(expected)
    assert sample_counts(relay) == Counter({s: 1 for s in expected})


def headers_of(relay: FaultyRelay) -> list[list[tuple[str, str]]]:
    return [list(message_from_bytes(m.data, policy=default).items()) for m in relay.messages()]


def test_a_sample_id_with_crlf_is_rejected_and_injects_no_header(
    relay: FaultyRelay, make_runtime: MakeRuntime
) -> None:
    rt = make_runtime(relay)
    evil = "S-1\r\nBcc: attacker@evil.example"
    rt.db.intake_port.submit([json.dumps({"sampleId": evil, "absorbance": 0.5}).encode()])
    Worker(rt).run_until_idle()
    assert rt.db.store.counts() == {"reject": 1}
    (headers,) = headers_of(relay)
    assert "bcc" not in {k.lower() for k, _ in headers}
    assert all("\r" not in v and "\n" not in v for _, v in headers)
    assert relay.messages()[0].recipients == ("lab@localhost",)


def test_a_forged_request_with_crlf_in_the_sample_id_injects_no_header(
    relay: FaultyRelay, make_runtime: MakeRuntime
) -> None:
    rt = make_runtime(relay)
    forged = {
        "key": "forged",
        "sampleId": "S-2\r\nBcc: attacker@evil.example\r\nSubject: hi",
        "recordId": "r\nX-Evil: 1",
        "verdict": "flag",
        "findings": [],
        "method": None,
        "receivedAt": "2026-01-01T00:00:00Z",
        "correlationId": "c\r\nX-Evil: 2",
    }
    rt.db.notify.send([json.dumps(forged)])
    Worker(rt).run_until_idle()
    (headers,) = headers_of(relay)
    names = [k.lower() for k, _ in headers]
    assert "bcc" not in names and "x-evil" not in names and names.count("subject") == 1
    assert relay.messages()[0].recipients == ("lab@localhost",)


@pytest.mark.parametrize("workers", [3])
def test_concurrent_workers_in_threads_send_each_notification_once(
    relay: FaultyRelay, make_runtime: MakeRuntime, workers: int
) -> None:
    relay.set_faults(transient_rate=0.1)
    first = make_runtime(relay, max_attempts=12, worker_batch_size=10)
    expected = submit_mix(first, 150)
    runtimes = [first] + [
        make_runtime(relay, max_attempts=12, worker_batch_size=10) for _ in range(workers - 1)
    ]
    threads = [threading.Thread(target=Worker(rt).run_until_idle) for rt in runtimes]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert time.monotonic() - started < 60
    assert sample_counts(relay) == Counter({s: 1 for s in expected})
