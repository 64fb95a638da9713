"""Relay health (issue 8, case 6): a hung relay costs one timeout, not two per message; a
relay that is down is not tried for every message; after an outage the backlog drains as
soon as the relay answers, not at the backoff cap."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from tests.embedded.conftest import result
from tests.support.relay import FaultyRelay
from uvqc.adapters.smtp import SmtpChannel, SmtpConfig
from uvqc.errors import TransientDeliveryError
from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker
from uvqc.pipeline.email import Email
from uvqc.pipeline.records import NotificationStatus

MakeRuntime = Callable[..., Runtime]

# Backoff long enough that waiting for it would blow the tests' deadlines: only the breaker
# can make these notifications go out in time.
SLOW_BACKOFF = {"retry_base_seconds": 300.0, "retry_max_seconds": 900.0, "max_attempts": 5}
QUICK_BREAKER = {
    "breaker_threshold": 2,
    "breaker_probe_seconds": 0.2,
    "breaker_max_probe_seconds": 0.5,
}


def test_a_timeout_is_not_retried_as_a_dropped_connection(relay: FaultyRelay) -> None:
    """A relay that accepts TCP and never answers: one timeout per send, not two."""
    relay.set_outage("silent")
    mail = Email((("From", "a@lab.example"), ("To", "b@lab.example"), ("Subject", "s")), "x\n")
    channel = SmtpChannel(SmtpConfig(relay.host, relay.port, timeout=0.5))
    with channel.open() as sender:
        try:
            sender.send(mail, ["b@lab.example"])
        except TransientDeliveryError as exc:
            assert exc.channel_down and "timed out" in exc.reason
        else:
            raise AssertionError("a silent relay cannot accept a message")
    assert relay.counters.silent_connections == 1  # the old code reconnected: 2


def test_a_hung_relay_is_tried_threshold_times_not_once_per_message(
    relay: FaultyRelay, make_runtime: MakeRuntime
) -> None:
    relay.set_outage("silent")
    rt = make_runtime(relay, smtp_timeout_seconds=0.5, **SLOW_BACKOFF, **QUICK_BREAKER)
    rt.db.intake_port.submit([result(f"H-{i}", 3.5) for i in range(10)])
    worker = Worker(rt)
    worker.check_once()
    worker.notify_once()
    # 2 connections (the breaker's threshold), each waited for once; before: 10 x 2.
    assert relay.counters.silent_connections == 2
    assert (worker.tally.retries, worker.tally.deferred) == (2, 8)
    stats = rt.db.notify.stats()
    assert stats.pending == 10 and stats.in_flight == 0


def test_after_an_outage_the_backlog_drains_when_the_relay_is_back_not_at_the_backoff_cap(
    relay: FaultyRelay, make_runtime: MakeRuntime
) -> None:
    relay.set_outage("refuse")
    rt = make_runtime(relay, **SLOW_BACKOFF, **QUICK_BREAKER)
    samples = [f"O-{i:02d}" for i in range(20)]
    rt.db.intake_port.submit([result(s, 3.5) for s in samples])
    stop = threading.Event()
    worker = Worker(rt)
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    try:
        # Wait until the breaker has opened and deferred the backlog at least once.
        for _ in range(300):
            if worker.tally.deferred >= 18 and worker.tally.retries >= 2:
                break
            stop.wait(0.05)
        relay.set_outage(None)
        # Liveness bound, not a timing assertion: the first retry backoff is >= 225 s.
        for _ in range(600):
            if len(relay.messages()) >= len(samples):
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join()
    assert Counter(m.sample_id for m in relay.messages()) == Counter(samples)
    assert rt.db.ledger.counts() == {"sent": len(samples)}
    for sample in samples:
        (row,) = rt.db.ledger.notifications_for_sample(sample)
        assert row.status is NotificationStatus.SENT
        # At most one failed try before the breaker opened: deferrals are not attempts.
        assert len(row.attempts) <= 2
    assert worker.tally.dead_lettered == 0
