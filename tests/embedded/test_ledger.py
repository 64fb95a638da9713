"""The SQLite ledger follows MemoryLedger's claim rules exactly (same test, both ledgers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from uvqc.adapters.sqlite import SqliteLedger, connect
from uvqc.core.verdicts import Finding, Severity, Verdict
from uvqc.pipeline.ports import ClaimState, Ledger
from uvqc.pipeline.records import Attempt, NotificationRequest, NotificationStatus
from uvqc.testing import MemoryLedger

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=60)
REQUEST = NotificationRequest(
    key="k1",
    sample_id="S-1",
    record_id="r1",
    verdict=Verdict.FLAG,
    findings=(Finding("over_range", Severity.FAIL, "too high", 4.2, 3.0),),
    method="default",
    received_at=T0,
)


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, db_path: Path) -> MemoryLedger | SqliteLedger:
    return MemoryLedger() if request.param == "memory" else SqliteLedger(connect(db_path))


def claim(ledger: Ledger, at: datetime, worker: str = "w1") -> ClaimState:
    return ledger.claim(REQUEST, message_id="<m>", worker=worker, now=at, lease=LEASE).state


def finish(ledger: Ledger, status: NotificationStatus, to: tuple[str, ...] = ()) -> None:
    ledger.finish("k1", status=status, attempt=Attempt(T0, status.value), delivered_to=to)


def test_a_new_key_is_claimed_and_a_second_claim_is_busy(ledger: Ledger) -> None:
    assert claim(ledger, T0) is ClaimState.CLAIMED
    assert claim(ledger, T0 + timedelta(seconds=1), "w2") is ClaimState.BUSY


def test_a_sent_key_is_never_claimed_again(ledger: Ledger) -> None:
    claim(ledger, T0)
    finish(ledger, NotificationStatus.SENT, ("lab@x",))
    assert claim(ledger, T0 + timedelta(days=1)) is ClaimState.ALREADY_SENT


def test_an_expired_lease_is_claimed_again_as_a_resend(ledger: Ledger) -> None:
    claim(ledger, T0)
    got = ledger.claim(REQUEST, message_id="<m>", worker="w2", now=T0 + 2 * LEASE, lease=LEASE)
    assert (got.state, got.resend) == (ClaimState.CLAIMED, True)


@pytest.mark.parametrize("status", [NotificationStatus.RETRYING, NotificationStatus.DEAD])
def test_retrying_and_dead_keys_are_claimed_again_keeping_who_was_served(
    ledger: Ledger, status: NotificationStatus
) -> None:
    claim(ledger, T0)
    finish(ledger, status, ("a@x",))
    got = ledger.claim(REQUEST, message_id="<m>", worker="w2", now=T0, lease=LEASE)
    assert (got.state, got.resend, got.record.delivered_to) == (ClaimState.CLAIMED, False, ("a@x",))


def test_attempts_accumulate_in_order(ledger: MemoryLedger | SqliteLedger) -> None:
    claim(ledger, T0)
    finish(ledger, NotificationStatus.RETRYING)
    claim(ledger, T0)
    finish(ledger, NotificationStatus.SENT, ("a@x",))
    (row,) = ledger.notifications_for_sample("S-1")
    assert [a.outcome for a in row.attempts] == ["retrying", "sent"]
    assert row.status is NotificationStatus.SENT


def test_where_each_attempt_went_is_kept_per_attempt_and_on_the_row(
    ledger: MemoryLedger | SqliteLedger,
) -> None:
    claim(ledger, T0)
    smtp = "smtp relay.lab:25 to a@x"
    ledger.finish(
        "k1",
        status=NotificationStatus.RETRYING,
        attempt=Attempt(T0, "transient", "451", "w1", smtp),
        delivered_to=(),
    )
    claim(ledger, T0)
    ledger.finish(
        "k1", status=NotificationStatus.SENT, attempt=Attempt(T0, "sent"), delivered_to=("a@x",)
    )
    row = ledger.notification_by_key("k1")
    assert row is not None
    assert [a.channel for a in row.attempts] == [smtp, ""]
    assert row.channel == smtp  # an attempt that does not say keeps the last known one
    assert ledger.notification_by_key("nope") is None
