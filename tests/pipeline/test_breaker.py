"""The circuit breaker as a state machine, on a clock the test moves (issue 8, case 6)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from uvqc.core.verdicts import Finding, Severity, Verdict
from uvqc.errors import PermanentDeliveryError, TransientDeliveryError
from uvqc.pipeline.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from uvqc.pipeline.notify import Delivery, MailSettings, Outcome, RetryPolicy, notify_batch
from uvqc.pipeline.records import NotificationRequest, NotificationStatus
from uvqc.testing import MemoryLedger, RecordingChannel


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(threshold: int = 3) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    policy = BreakerPolicy(threshold=threshold, probe_seconds=2, max_probe_seconds=10)
    return CircuitBreaker(policy, clock), clock


def test_it_opens_after_threshold_consecutive_channel_failures_only() -> None:
    b, _ = breaker(3)
    b.record_failure("refused")
    b.record_failure("refused")
    b.record_success()  # the channel answered in between: the count starts over
    b.record_failure("refused")
    b.record_failure("refused")
    assert b.allow() and b.state is BreakerState.CLOSED
    b.record_failure("refused")
    assert b.state is BreakerState.OPEN
    assert not b.allow()
    assert b.retry_in() == 2


def test_one_probe_at_the_probe_time_and_the_interval_doubles_up_to_its_cap() -> None:
    b, clock = breaker(1)
    b.record_failure("timeout")
    waits = []
    for _ in range(5):
        clock.now += b.retry_in()
        assert b.allow()  # the probe
        assert b.state is BreakerState.HALF_OPEN
        assert not b.allow()  # nobody else while the probe is out
        b.record_failure("timeout")
        waits.append(b.retry_in())
    assert waits == [4, 8, 10, 10, 10]


def test_a_successful_probe_closes_it_and_reports_the_recovery_once() -> None:
    b, clock = breaker(1)
    b.record_failure("refused")
    clock.now += 2
    assert b.allow()
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.allow()
    assert b.take_recovery() is True
    assert b.take_recovery() is False
    b.record_failure("refused")
    assert b.retry_in() == 2  # the probe backoff starts over after a recovery


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["fail", "ok", "allow", "tick"]), max_size=60))
def test_it_never_lets_two_probes_out_and_never_blocks_forever(events: list[str]) -> None:
    b, clock = breaker(2)
    out = 0
    for event in events:
        if event == "fail":
            b.record_failure("x")
        elif event == "ok":
            b.record_success()
        elif event == "tick":
            clock.now += 3
        elif b.allow() and b.state is BreakerState.HALF_OPEN:
            out += 1
            assert out == 1
        if b.state is not BreakerState.HALF_OPEN:
            out = 0
        assert 0 <= b.retry_in() <= 10
    clock.now += 10
    assert b.allow() or b.state is BreakerState.HALF_OPEN


# -- in the notify stage -----------------------------------------------------------------

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MAIL = MailSettings("uvqc@lab.example", ("lab@lab.example",))
POLICY = RetryPolicy(base_seconds=60, max_seconds=900, max_attempts=3, jitter=0)


def requests(n: int) -> list[Delivery]:
    out = []
    for i in range(n):
        req = NotificationRequest(
            key=f"{i:040d}",
            sample_id=f"S-{i}",
            record_id=f"r-{i}",
            verdict=Verdict.FLAG,
            findings=(Finding("dilution_required", Severity.FAIL, "high", 1.5, 1.0),),
            method="default",
            received_at=NOW,
        )
        out.append(Delivery(f"m-{i}", req.to_json(), 1))
    return out


def run(
    deliveries: list[Delivery], ledger: MemoryLedger, channel: RecordingChannel, b: CircuitBreaker
) -> list[Outcome]:
    results = notify_batch(
        deliveries,
        ledger=ledger,
        channel=channel,
        mail=MAIL,
        policy=POLICY,
        worker="w",
        clock=lambda: NOW,
        breaker=b,
    )
    return [r.outcome for r in results]


def test_a_down_channel_is_tried_threshold_times_then_the_rest_is_deferred_untried() -> None:
    b, clock = breaker(2)
    ledger, channel = MemoryLedger(), RecordingChannel()
    down = TransientDeliveryError("connection refused", channel_down=True)
    channel.failures = [down] * 10
    outcomes = run(requests(6), ledger, channel, b)
    assert outcomes == [Outcome.RETRY] * 2 + [Outcome.DEFER] * 4
    assert len(channel.failures) == 8  # only two tries reached the channel
    assert len(ledger.rows) == 2  # the deferred ones were not even claimed: no attempt used
    # The retry delay is capped by the probe time, not the 60 s backoff.
    clock.now += 2
    channel.failures = []
    assert run(requests(6), ledger, channel, b) == [Outcome.SENT] * 6
    assert b.take_recovery()
    assert all(r.status is NotificationStatus.SENT for r in ledger.rows.values())


def test_a_reply_about_the_message_is_not_a_channel_failure() -> None:
    b, _ = breaker(1)
    ledger, channel = MemoryLedger(), RecordingChannel()
    channel.failures = [PermanentDeliveryError("550 5.7.1 rejected")] * 3
    assert run(requests(3), ledger, channel, b) == [Outcome.DEAD] * 3
    assert b.state is BreakerState.CLOSED


def test_deferrals_do_not_use_up_attempts_even_when_the_queue_counts_receives() -> None:
    """On SQS a deferred message is received again (its receive count grows); the ledger
    counts attempts, so the notification still gets all of its attempts."""
    b, clock = breaker(1)
    ledger, channel = MemoryLedger(), RecordingChannel()
    (d,) = requests(1)
    channel.failures = [TransientDeliveryError("refused", channel_down=True)]
    assert run([d], ledger, channel, b) == [Outcome.RETRY]
    for receive in range(2, 8):  # deferred six times while the breaker is open
        assert run([Delivery(d.message_id, d.body, receive)], ledger, channel, b) == [Outcome.DEFER]
    clock.now += 2
    channel.failures = [TransientDeliveryError("451 try later")]
    (result,) = notify_batch(
        [Delivery(d.message_id, d.body, 8)],
        ledger=ledger,
        channel=channel,
        mail=MAIL,
        policy=POLICY,
        worker="w",
        clock=lambda: NOW,
        breaker=b,
    )
    assert result.outcome is Outcome.RETRY  # attempt 2 of 3, not receive 8 of 3
    assert "attempt 2" in result.reason


def test_an_unexpected_error_while_sending_is_a_classified_failure_never_a_stuck_row() -> None:
    """Issue 8 case 3: a UnicodeEncodeError escaped the stage and left the ledger row in
    SENDING, so every later delivery found it BUSY, crashed again, and so on."""
    ledger, channel = MemoryLedger(), RecordingChannel()
    channel.failures = [UnicodeEncodeError("ascii", "jürgen", 1, 2, "ordinal not in range")]
    (d,) = requests(1)
    (result,) = notify_batch(
        [d], ledger=ledger, channel=channel, mail=MAIL, policy=POLICY, worker="w"
    )
    assert result.outcome is Outcome.DEAD
    assert "UnicodeEncodeError" in result.reason
    (row,) = ledger.rows.values()
    assert row.status is NotificationStatus.DEAD
    assert row.last_error is not None and "UnicodeEncodeError" in row.last_error


def test_recipients_with_display_names_are_sent_to_their_addr_spec() -> None:
    ledger, channel = MemoryLedger(), RecordingChannel()
    mail = MailSettings(
        "Labor Qualität <qc@lab.example>", ('"Smith, Ann" <a@x.example>', "b@y.example")
    )
    (d,) = requests(1)
    notify_batch([d], ledger=ledger, channel=channel, mail=mail, policy=POLICY, worker="w")
    ((email, recipients),) = channel.sent
    assert recipients == ("a@x.example", "b@y.example")
    assert email["To"] == '"Smith, Ann" <a@x.example>, b@y.example'


def test_deferral_lasts_the_retry_schedule_then_a_lasting_outage_dead_letters() -> None:
    """A notification older than the retry schedule (60 + 120 s here) is tried although the
    breaker is open, so an outage longer than the schedule still ends in the DLQ (and its
    alarm) instead of deferring forever."""
    b, _ = breaker(1)
    b.record_failure("refused")
    ledger, channel = MemoryLedger(), RecordingChannel()
    channel.failures = [TransientDeliveryError("refused", channel_down=True)] * 5
    (d,) = requests(1)
    young = notify_batch(
        [d], ledger=ledger, channel=channel, mail=MAIL, policy=POLICY, worker="w",
        clock=lambda: NOW, breaker=b,
    )  # fmt: skip
    assert young[0].outcome is Outcome.DEFER
    later = NOW.replace(minute=4)  # 240 s after the result arrived: past the schedule
    old = notify_batch(
        [d], ledger=ledger, channel=channel, mail=MAIL, policy=POLICY, worker="w",
        clock=lambda: later, breaker=b,
    )  # fmt: skip
    assert old[0].outcome is Outcome.RETRY  # tried: attempts count again


def test_failed_probes_of_a_dead_channel_never_use_up_a_message_s_attempts() -> None:
    """A fresh user's find: with the relay dead, every probe was an attempt of the message
    it carried, so that message was dead-lettered after a minute of probes although the
    retry schedule (and the deferral) was still running."""
    b, clock = breaker(1)
    ledger, channel = MemoryLedger(), RecordingChannel()
    down = "cannot reach SMTP 127.0.0.1:1: ConnectionRefusedError"
    (delivery,) = requests(1)
    channel.failures.append(TransientDeliveryError(down, channel_down=True))
    assert run([delivery], ledger, channel, b) == [Outcome.RETRY]  # opens the breaker
    for n in range(2, 12):  # ten probes, each failing: far more than max_attempts (3)
        clock.now += b.retry_in()
        channel.failures.append(TransientDeliveryError(down, channel_down=True))
        assert run([Delivery("m-0", delivery.body, n)], ledger, channel, b) == [Outcome.DEFER]
    row = ledger.rows[f"{0:040d}"]
    assert row.status is NotificationStatus.RETRYING
    assert [a.outcome for a in row.attempts].count("probe") == 10
    clock.now += b.retry_in()  # the relay is back: the next probe delivers it
    assert run([Delivery("m-0", delivery.body, 12)], ledger, channel, b) == [Outcome.SENT]
    assert len(channel.sent) == 1
