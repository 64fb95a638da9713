"""The small ports the two stages are written against. SQLite and AWS adapters implement them;
`uvqc.testing` ships in-memory implementations (real ports, not mocks)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from uvqc.pipeline.records import (
    Attempt,
    NotificationRecord,
    NotificationRequest,
    NotificationStatus,
    ResultRecord,
)

if TYPE_CHECKING:
    from uvqc.runs.notices import RunArrival


class RecordStore(Protocol):
    """Durable results: one record per received message, idempotent by record_id."""

    def save_results(self, records: Sequence[ResultRecord]) -> None:
        """Store (or overwrite, on redelivery) every record; InfrastructureError on failure."""
        ...


class RunStore(Protocol):
    """Analytical runs (uvqc.runs): results by run, decisions, announced run notices."""

    def track(self, arrivals: Sequence[RunArrival], *, now: datetime) -> list[NotificationRequest]:
        """Store the arrivals, re-evaluate their runs, and return the run decisions to
        announce (with earlier ones not yet confirmed); InfrastructureError on failure."""
        ...

    def confirm(self, requests: Sequence[NotificationRequest]) -> None:
        """These run notices are on the notify queue: do not return them again."""
        ...


class NotificationQueue(Protocol):
    """The notify queue as the check stage sees it."""

    def publish(self, requests: Sequence[NotificationRequest]) -> set[str]:
        """Enqueue requests; return the record_ids of those that could not be enqueued."""
        ...


class ClaimState(StrEnum):
    CLAIMED = "claimed"  # this worker may send now
    ALREADY_SENT = "already_sent"  # delivered before: do not send again
    BUSY = "busy"  # another worker holds an unexpired lease: try later


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    record: NotificationRecord
    resend: bool = False  # a previous claim expired mid-send: the relay may have the mail


def decide_claim(row: NotificationRecord, now: datetime) -> tuple[ClaimState, bool]:
    """The ledger's rule for a key it already holds, shared by every implementation:
    SENT -> ALREADY_SENT; SENDING under an unexpired lease -> BUSY; SENDING with an expired
    lease -> CLAIMED as a resend (a worker died mid-send: the relay may have the e-mail);
    RETRYING or DEAD -> CLAIMED (a retry, or a redriven dead letter). Returns (state, resend).
    A key the ledger does not hold yet is simply CLAIMED."""
    if row.status is NotificationStatus.SENT:
        return ClaimState.ALREADY_SENT, False
    if row.status is NotificationStatus.SENDING and row.lease_until and row.lease_until > now:
        return ClaimState.BUSY, False
    return ClaimState.CLAIMED, row.status is NotificationStatus.SENDING


class Ledger(Protocol):
    """Idempotency ledger for notifications: claim -> send -> mark sent."""

    def claim(
        self,
        request: NotificationRequest,
        *,
        message_id: str,
        worker: str,
        now: datetime,
        lease: timedelta,
    ) -> Claim: ...

    def finish(
        self,
        key: str,
        *,
        status: NotificationStatus,
        attempt: Attempt,
        delivered_to: Sequence[str],
        error: str | None = None,
    ) -> None:
        """Record an attempt's outcome: SENT, RETRYING or DEAD (releases the lease)."""
        ...


class Mailable(Protocol):
    """What a channel sends: a plain e-mail (pipeline.email.Email) or a run digest
    (uvqc.digest.compose.Digest, multipart with inline images)."""

    @property
    def message_id(self) -> str: ...

    @property
    def mail_from(self) -> str: ...

    @property
    def needs_smtputf8(self) -> bool: ...

    @property
    def body(self) -> str:
        """The complete plain text (what SNS carries)."""
        ...

    def get(self, name: str, default: str | None = None) -> str | None: ...

    def as_bytes(self, *, smtputf8: bool = False) -> bytes: ...


class DigestComposer(Protocol):
    """Composes the e-mail of a run digest request (`request.run["kind"] == "digest"`)."""

    def compose(
        self,
        request: NotificationRequest,
        *,
        message_id: str,
        mail_from: str,
        mail_to: Sequence[str],
        date: datetime,
    ) -> Mailable | None:
        """The digest e-mail; None when the run is unknown here (the plain text is sent)."""
        ...


class Sender(Protocol):
    """An open channel session (one SMTP connection reused across a batch)."""

    def send(self, email: Mailable, recipients: Sequence[str]) -> tuple[str, ...]:
        """Deliver; return the recipients that accepted. Raise TransientDeliveryError or
        PermanentDeliveryError (with the recipients that did accept, if any)."""
        ...


class Channel(Protocol):
    """A way to deliver e-mails: smtp, file, ses, sns."""

    name: str

    def open(self) -> AbstractContextManager[Sender]: ...


class TraceSource(Protocol):
    """What `uvqc trace` reads: everything known about one sample."""

    def results_for_sample(self, sample_id: str) -> list[ResultRecord]: ...

    def notifications_for_sample(self, sample_id: str) -> list[NotificationRecord]: ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message in a dead-letter queue, with why it is there."""

    message_id: str
    queue: str  # "intake" | "notify"
    body: str
    reason: str
    sample_id: str | None
    dead_at: datetime | None
    receive_count: int


class DeadLetters(Protocol):
    """The dead-letter queues, for `uvqc dlq list|show|redrive` (embedded and --aws)."""

    def list(self, limit: int = 100) -> list[DeadLetter]: ...

    def show(self, message_id: str) -> DeadLetter | None: ...

    def redrive(self, queue: str | None = None) -> int:
        """Move dead letters back to their source queue(s); return how many were moved."""
        ...


class IntakeQueue(Protocol):
    """Where results are submitted (`uvqc submit`): the SQLite intake queue or SQS."""

    def submit(self, bodies: Sequence[bytes]) -> list[str]:
        """Enqueue raw result messages; return their message ids."""
        ...
