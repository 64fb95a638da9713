"""The notify stage: notification requests -> e-mails, exactly once per notification key.

claim (ledger) -> send (channel) -> finish (ledger). Transient failures come back as RETRY
with an exponential-backoff delay for the transport to apply; permanent failures and
exhausted retries come back as DEAD with the reason, for the transport to dead-letter.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from uvqc.errors import DeliveryError
from uvqc.pipeline.email import compose, message_id
from uvqc.pipeline.ports import Channel, ClaimState, Ledger, Sender
from uvqc.pipeline.records import Attempt, NotificationRequest, NotificationStatus, utcnow

if TYPE_CHECKING:
    from uvqc.settings import Settings

log = logging.getLogger("uvqc.pipeline.notify")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message from the notify queue; receive_count is 1 on the first delivery."""

    message_id: str
    body: str | bytes
    receive_count: int = 1


class Outcome(StrEnum):
    SENT = "sent"  # delivered now: delete the message
    DUPLICATE = "duplicate"  # delivered before: delete the message, send nothing
    RETRY = "retry"  # make it visible again after delay_seconds
    DEAD = "dead"  # move to the dead-letter queue with the reason


@dataclass(frozen=True, slots=True)
class NotifyResult:
    message_id: str
    outcome: Outcome
    key: str | None = None
    sample_id: str | None = None
    delay_seconds: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits base * 2**(n-1), capped, +-25 %."""

    base_seconds: float = 30.0
    max_seconds: float = 900.0
    max_attempts: int = 5
    jitter: float = 0.25

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            base_seconds=settings.retry_base_seconds,
            max_seconds=settings.retry_max_seconds,
            max_attempts=settings.max_attempts,
        )

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds before attempt + 1; the cap applies after the jitter, so no delay ever
        exceeds max_seconds (an SQS visibility timeout cannot exceed 12 h)."""
        raw = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        return float(max(0.0, min(self.max_seconds, raw * (1 + self.jitter * (2 * rng() - 1)))))

    def longest_schedule(self) -> float:
        """Seconds of every retry delay together at their largest (jitter up, capped): the
        longest a notification can wait between its first and its last attempt."""
        return float(
            sum(
                min(self.max_seconds, self.base_seconds * 2 ** (n - 1) * (1 + self.jitter))
                for n in range(1, self.max_attempts)
            )
        )


@dataclass(frozen=True, slots=True)
class MailSettings:
    mail_from: str
    mail_to: tuple[str, ...]
    subject_prefix: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> MailSettings:
        return cls(settings.mail_from, tuple(settings.mail_to), settings.subject_prefix)


def notify_batch(
    deliveries: Sequence[Delivery],
    *,
    ledger: Ledger,
    channel: Channel,
    mail: MailSettings,
    policy: RetryPolicy,
    worker: str,
    lease: timedelta = timedelta(minutes=5),
    clock: Callable[[], datetime] = utcnow,
) -> list[NotifyResult]:
    """Deliver a batch over one channel session; one result per delivery, in order."""
    results: list[NotifyResult] = []
    with channel.open() as sender:
        for d in deliveries:
            results.append(_deliver(d, ledger, sender, mail, policy, worker, lease, clock))
    return results


def _deliver(
    d: Delivery,
    ledger: Ledger,
    sender: Sender,
    mail: MailSettings,
    policy: RetryPolicy,
    worker: str,
    lease: timedelta,
    clock: Callable[[], datetime],
) -> NotifyResult:
    try:
        request = NotificationRequest.from_json(d.body)
    except (ValueError, KeyError, TypeError) as exc:
        reason = f"malformed notification request: {type(exc).__name__}: {exc}"
        log.error(reason, extra={"messageId": d.message_id})  # noqa: TRY400 - bad input, no bug
        return NotifyResult(d.message_id, Outcome.DEAD, reason=reason)

    ctx = {
        "sampleId": request.sample_id,
        "messageId": d.message_id,
        "recordId": request.record_id,
        "correlationId": request.correlation_id,
        "notificationKey": request.key,
    }
    mid = message_id(request.key, mail.mail_from)
    claim = ledger.claim(request, message_id=mid, worker=worker, now=clock(), lease=lease)
    if claim.state is ClaimState.ALREADY_SENT:
        log.info("notification already sent; duplicate delivery dropped", extra=ctx)
        return NotifyResult(d.message_id, Outcome.DUPLICATE, request.key, request.sample_id)
    if claim.state is ClaimState.BUSY:
        lease_until = claim.record.lease_until or clock()
        wait = max(1.0, (lease_until - clock()).total_seconds())
        log.info("notification claimed by another worker; retry later", extra=ctx)
        return NotifyResult(d.message_id, Outcome.RETRY, request.key, request.sample_id, wait)
    if claim.resend:
        log.warning("previous send was interrupted; resending with Message-ID %s", mid, extra=ctx)

    pending = [r for r in mail.mail_to if r not in claim.record.delivered_to]
    email = compose(
        request, mail_from=mail.mail_from, mail_to=mail.mail_to, subject_prefix=mail.subject_prefix
    )
    detail_prefix = "resend after interrupted attempt; " if claim.resend else ""
    try:
        accepted = sender.send(email, pending) if pending else ()
    except DeliveryError as exc:
        # Recipients that accepted before a failure (transient or permanent) are not sent
        # to again on retry or redrive.
        delivered = tuple(claim.record.delivered_to) + exc.accepted
        return _failed(
            d, request, exc, delivered, ledger, policy, worker, clock, ctx, detail_prefix
        )

    delivered = tuple(claim.record.delivered_to) + tuple(accepted)
    ledger.finish(
        request.key,
        status=NotificationStatus.SENT,
        attempt=Attempt(clock(), "sent", f"{detail_prefix}Message-ID {mid}", worker),
        delivered_to=delivered,
    )
    log.info("notification sent", extra={**ctx, "messageIdHeader": mid})
    return NotifyResult(d.message_id, Outcome.SENT, request.key, request.sample_id)


def _failed(
    d: Delivery,
    request: NotificationRequest,
    exc: DeliveryError,
    delivered: tuple[str, ...],
    ledger: Ledger,
    policy: RetryPolicy,
    worker: str,
    clock: Callable[[], datetime],
    ctx: Mapping[str, object],
    detail_prefix: str,
) -> NotifyResult:
    if not exc.transient:
        reason = f"permanent failure: {exc.reason}"
        outcome, kind = Outcome.DEAD, "permanent"
    elif d.receive_count >= policy.max_attempts:
        reason = f"gave up after {d.receive_count} attempts; last error: {exc.reason}"
        outcome, kind = Outcome.DEAD, "exhausted"
    else:
        reason = f"transient failure (attempt {d.receive_count}): {exc.reason}"
        outcome, kind = Outcome.RETRY, "transient"
    status = NotificationStatus.DEAD if outcome is Outcome.DEAD else NotificationStatus.RETRYING
    ledger.finish(
        request.key,
        status=status,
        attempt=Attempt(clock(), kind, detail_prefix + exc.reason, worker),
        delivered_to=delivered,
        error=reason,
    )
    if outcome is Outcome.DEAD:
        log.error("notification dead-lettered: %s", reason, extra=ctx)
        return NotifyResult(d.message_id, outcome, request.key, request.sample_id, reason=reason)
    delay = policy.delay(d.receive_count)
    log.warning("notification failed, retry in %.1f s: %s", delay, reason, extra=ctx)
    return NotifyResult(d.message_id, outcome, request.key, request.sample_id, delay, reason)
