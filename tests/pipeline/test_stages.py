"""The two stages over the in-memory ports: every message judged on its own, notifications
sent once, failures classified for the transport."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from uvqc.core.methods import MethodBook
from uvqc.core.verdicts import Verdict
from uvqc.errors import InfrastructureError, PermanentDeliveryError, TransientDeliveryError
from uvqc.pipeline import (
    Delivery,
    Incoming,
    MailSettings,
    Outcome,
    RetryPolicy,
    check_batch,
    notify_batch,
)
from uvqc.pipeline.records import NotificationRequest, NotificationStatus, ResultRecord
from uvqc.testing import (
    MemoryLedger,
    MemoryNotifyQueue,
    MemoryStore,
    MemoryWindows,
    RecordingChannel,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MAIL = MailSettings("uvqc@lab.example", ("chem@lab.example", "qa@lab.example"))
POLICY = RetryPolicy(base_seconds=10, max_seconds=100, max_attempts=3, jitter=0)

BODIES = [
    b'{"sampleId": "S-pass", "absorbanceResult": "0.45"}',
    b'{"sampleId": "S-dilute", "absorbance": 1.4}',
    b"not json",
    b'{"sampleId": "S-range", "absorbance": 0.7}',
]


def incoming(bodies: Sequence[bytes] = BODIES) -> list[Incoming]:
    return [Incoming(f"m{i}", b, NOW) for i, b in enumerate(bodies)]


class BrokenStore:
    def save_results(self, records: Sequence[ResultRecord]) -> None:
        raise InfrastructureError("database is locked")


def test_every_message_of_a_batch_is_judged_recorded_and_the_bad_ones_queued() -> None:
    store, queue = MemoryStore(), MemoryNotifyQueue()
    out = check_batch(
        incoming(), methods=MethodBook(), store=store, notify=queue, windows=MemoryWindows()
    )
    assert [r.verdict for r in out.records] == [
        Verdict.PASS,
        Verdict.FLAG,
        Verdict.REJECT,
        Verdict.FLAG,
    ]
    assert out.failed == []
    assert set(store.results) == {"m0", "m1", "m2", "m3"}
    assert store.results["m2"].raw == "not json"
    assert [r.record_id for r in queue.requests] == ["m1", "m2", "m3"]


def test_a_store_outage_fails_the_whole_batch_for_redelivery_and_queues_nothing() -> None:
    queue = MemoryNotifyQueue()
    out = check_batch(
        incoming(), methods=MethodBook(), store=BrokenStore(), notify=queue, windows=MemoryWindows()
    )
    assert out.failed == ["m0", "m1", "m2", "m3"]
    assert queue.requests == []


def test_a_notification_that_cannot_be_queued_fails_only_its_own_message() -> None:
    store, queue = MemoryStore(), MemoryNotifyQueue()
    queue.fail_for = {"m3"}
    out = check_batch(
        incoming(), methods=MethodBook(), store=store, notify=queue, windows=MemoryWindows()
    )
    assert out.failed == ["m3"]
    assert len(store.results) == 4


def requests() -> list[NotificationRequest]:
    store, queue = MemoryStore(), MemoryNotifyQueue()
    check_batch(
        incoming(), methods=MethodBook(), store=store, notify=queue, windows=MemoryWindows()
    )
    return queue.requests


def deliver(
    reqs: Sequence[NotificationRequest],
    ledger: MemoryLedger,
    channel: RecordingChannel,
    receive_count: int = 1,
    now: datetime = NOW,
) -> list[Outcome]:
    deliveries = [Delivery(f"d{i}", r.to_json(), receive_count) for i, r in enumerate(reqs)]
    results = notify_batch(
        deliveries,
        ledger=ledger,
        channel=channel,
        mail=MAIL,
        policy=POLICY,
        worker="w1",
        clock=lambda: now,
    )
    return [r.outcome for r in results]


def test_a_request_delivered_twice_sends_one_email() -> None:
    reqs = requests()
    ledger, channel = MemoryLedger(), RecordingChannel()
    assert deliver(reqs, ledger, channel) == [Outcome.SENT] * 3
    assert deliver(reqs, ledger, channel) == [Outcome.DUPLICATE] * 3
    assert len(channel.sent) == 3
    subjects = sorted(str(m["Subject"]) for m, _ in channel.sent)
    assert subjects == [
        "Data Quality Issue for S-dilute",
        "Data Quality Issue for S-range",
        "Rejected result without a readable sample ID",
    ]


def test_transient_failures_retry_with_exponential_backoff_then_dead_letter() -> None:
    req = requests()[:1]
    ledger, channel = MemoryLedger(), RecordingChannel()
    delays = []
    for attempt in (1, 2):
        channel.failures = [TransientDeliveryError("451 4.3.0 try again")]
        result = notify_batch(
            [Delivery("d", req[0].to_json(), attempt)],
            ledger=ledger,
            channel=channel,
            mail=MAIL,
            policy=POLICY,
            worker="w1",
            clock=lambda: NOW,
        )[0]
        assert result.outcome is Outcome.RETRY
        delays.append(result.delay_seconds)
    assert delays == [10, 20]
    channel.failures = [TransientDeliveryError("451 4.3.0 try again")]
    assert deliver(req, ledger, channel, receive_count=3) == [Outcome.DEAD]
    row = ledger.rows[req[0].key]
    assert row.status is NotificationStatus.DEAD
    assert row.last_error is not None and "gave up after 3 attempts" in row.last_error
    assert [a.outcome for a in row.attempts] == ["transient", "transient", "exhausted"]
    assert channel.sent == []


def test_a_permanent_failure_is_dead_lettered_and_a_redrive_delivers_it_once() -> None:
    req = requests()[:1]
    ledger, channel = MemoryLedger(), RecordingChannel()
    channel.failures = [PermanentDeliveryError("550 5.1.1 mailbox unavailable")]
    assert deliver(req, ledger, channel) == [Outcome.DEAD]
    assert "550 5.1.1" in (ledger.rows[req[0].key].last_error or "")
    assert deliver(req, ledger, channel) == [Outcome.SENT]  # redriven: a deliberate retry
    assert deliver(req, ledger, channel) == [Outcome.DUPLICATE]
    assert len(channel.sent) == 1


def test_recipients_that_accepted_before_a_partial_refusal_are_not_mailed_again() -> None:
    req = requests()[:1]
    ledger, channel = MemoryLedger(), RecordingChannel()
    channel.failures = [
        PermanentDeliveryError("qa@lab.example: 550 no such user", accepted=("chem@lab.example",))
    ]
    assert deliver(req, ledger, channel) == [Outcome.DEAD]
    assert deliver(req, ledger, channel) == [Outcome.SENT]
    assert channel.sent[0][1] == ("qa@lab.example",)


def test_a_claim_held_by_a_live_worker_is_busy_and_an_expired_one_is_resent() -> None:
    req = requests()[0]
    ledger, channel = MemoryLedger(), RecordingChannel()
    ledger.claim(req, message_id="<m>", worker="crashed", now=NOW, lease=timedelta(minutes=5))
    assert deliver([req], ledger, channel, now=NOW + timedelta(minutes=1)) == [Outcome.RETRY]
    later = NOW + timedelta(minutes=6)
    assert deliver([req], ledger, channel, now=later) == [Outcome.SENT]
    row = ledger.rows[req.key]
    assert row.attempts[-1].detail.startswith("resend after interrupted attempt")
    assert len(channel.sent) == 1


def test_a_malformed_notification_request_is_dead_lettered_with_its_reason() -> None:
    results = notify_batch(
        [Delivery("d", b"{not json", 1)],
        ledger=MemoryLedger(),
        channel=RecordingChannel(),
        mail=MAIL,
        policy=POLICY,
        worker="w1",
    )
    assert results[0].outcome is Outcome.DEAD
    assert "malformed notification request" in results[0].reason


@pytest.mark.parametrize(("attempt", "expected"), [(1, 10), (2, 20), (3, 40), (5, 100)])
def test_backoff_doubles_per_attempt_up_to_the_cap(attempt: int, expected: float) -> None:
    assert POLICY.delay(attempt) == expected


def test_each_attempt_records_where_it_went() -> None:
    reqs = requests()[:1]
    ledger, channel = MemoryLedger(), RecordingChannel()
    channel.failures = [TransientDeliveryError("451 4.3.0 try again")]
    deliver(reqs, ledger, channel)
    deliver(reqs, ledger, channel, receive_count=2)
    row = ledger.rows[reqs[0].key]
    where = "memory to chem@lab.example, qa@lab.example"
    assert [(a.outcome, a.channel) for a in row.attempts] == [
        ("transient", where),
        ("sent", where),
    ]
    assert row.channel == where


def test_a_duplicate_submission_shares_the_key_and_another_day_does_not() -> None:
    windows, queue = MemoryWindows(), MemoryNotifyQueue()
    body = b'{"sampleId": "S-dilute", "absorbance": 1.4}'
    same = b'{"absorbance": 1.4,  "sampleId": "S-dilute"}'
    for n, (raw, at) in enumerate(
        [(body, NOW), (same, NOW + timedelta(hours=23)), (body, NOW + timedelta(days=1))]
    ):
        check_batch(
            [Incoming(f"m{n}", raw, at)],
            methods=MethodBook(),
            store=MemoryStore(),
            notify=queue,
            windows=windows,
        )
    first, duplicate, next_day = (r.key for r in queue.requests)
    assert first == duplicate != next_day
