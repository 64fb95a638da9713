"""The notify stage: notification requests -> e-mails, exactly once per notification key.

claim (ledger) -> send (channel) -> finish (ledger). Transient failures come back as RETRY
with an exponential-backoff delay for the transport to apply; permanent failures and
exhausted retries come back as DEAD with the reason, for the transport to dead-letter.
Any other exception while composing or sending is a permanent failure with its reason (a
bug or an input the channel cannot carry): it never escapes, never leaves a ledger row in
SENDING.

With a circuit breaker (uvqc.pipeline.breaker), a channel known to be down is not tried:
the deliveries come back as DEFER (put back after a short delay, no attempt counted), and
one probe at a time finds out when it is back. Only for as long as the retry schedule
lasts, counted from the result's arrival: after that a notification is tried, so an
outage longer than the schedule still dead-letters it with its reason (and alarms).

Attempts are counted by the ledger, not by the queue's receive count: the n-th attempt is
1 + the transient attempts recorded since the notification was created or last
dead-lettered (a redrive starts a fresh set). Deferrals, BUSY redeliveries and the copies a
deferral re-sends on SQS (receive count 1 again) never use up attempts; the queue's receive
limit (maxReceiveCount) stays a safety net above it.
"""

from __future__ import annotations

import logging
import random
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from uvqc.errors import DeliveryError
from uvqc.pipeline.addresses import parse_addresses
from uvqc.pipeline.breaker import BreakerState, CircuitBreaker
from uvqc.pipeline.email import compose, message_id
from uvqc.pipeline.ports import Channel, ClaimState, DigestComposer, Ledger, Mailable, Sender
from uvqc.pipeline.records import (
    Attempt,
    NotificationRequest,
    NotificationStatus,
    is_digest,
    utcnow,
)

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
    DEFER = "defer"  # channel down (breaker open): put back after delay_seconds, not an attempt


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

    def schedule_seconds(self) -> float:
        """How long the whole retry schedule waits (without jitter): the window in which
        a notification may be deferred untried while the channel is down. Older ones are
        tried (and so end in the dead-letter queue, with its alarm, if the outage lasts)."""
        return float(
            sum(
                min(self.max_seconds, self.base_seconds * 2 ** (n - 1))
                for n in range(1, self.max_attempts)
            )
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
    """Sender, recipients, subject prefix, and the options `uvqc trace` needs to find this
    runtime's records (printed in every e-mail: `--db PATH` when not the default, `--aws`)."""

    mail_from: str
    mail_to: tuple[str, ...]
    subject_prefix: str = ""
    trace_options: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> MailSettings:
        return cls(
            settings.mail_from,
            tuple(settings.mail_to),
            settings.subject_prefix,
            trace_options(settings),
        )

    def recipients(self) -> tuple[str, ...]:
        """The envelope recipients: the addr-spec of every mailbox in mail_to (a display
        name like `"Smith, Ann" <a@x.example>` is for the To header only)."""
        return tuple(m.addr_spec for m in parse_addresses(self.mail_to))


def trace_options(settings: Settings) -> str:
    """` --aws` on AWS; ` --db PATH` (shell-quoted) when the database is not the default."""
    if settings.runtime == "aws":
        return " --aws"
    if settings.db != type(settings).model_fields["db"].default:
        return f" --db {shlex.quote(str(settings.db))}"
    return ""


def destination(channel: Channel, email: Mailable, recipients: Sequence[str]) -> str:
    """Where an e-mail goes, for the ledger and `uvqc trace`: the channel's own description
    (`smtp relay.lab:25`, `file var/outbox/<name>.eml`, `ses`, `sns <topic arn>`) and the
    recipients."""
    describe = getattr(channel, "destination", None)
    where = str(describe(email)) if callable(describe) else channel.name
    return f"{where} to {', '.join(recipients)}" if recipients else where


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
    breaker: CircuitBreaker | None = None,
    digests: DigestComposer | None = None,
) -> list[NotifyResult]:
    """Deliver a batch over one channel session; one result per delivery, in order.
    With a breaker, deliveries are deferred while the channel is known to be down. With
    `digests`, a run digest request is sent as the digest e-mail it composes (else as the
    request's plain text, like any run notice)."""
    results: list[NotifyResult] = []
    with channel.open() as sender:
        for d in deliveries:
            results.append(
                _deliver(
                    d,
                    ledger,
                    channel,
                    sender,
                    mail,
                    policy,
                    worker,
                    lease,
                    clock,
                    breaker,
                    digests,
                )
            )
    return results


DEFER_MIN_SECONDS = 0.2
PROBE = "probe"  # the ledger outcome of a failed probe: recorded, never counted as an attempt


def _deliver(
    d: Delivery,
    ledger: Ledger,
    channel: Channel,
    sender: Sender,
    mail: MailSettings,
    policy: RetryPolicy,
    worker: str,
    lease: timedelta,
    clock: Callable[[], datetime],
    breaker: CircuitBreaker | None = None,
    digests: DigestComposer | None = None,
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
    was_closed = breaker is None or breaker.state is BreakerState.CLOSED
    if breaker is not None and not breaker.allow() and _may_defer(request, policy, clock):
        # The channel is down: not tried, no ledger change, no attempt counted.
        wait = max(DEFER_MIN_SECONDS, breaker.retry_in())
        return NotifyResult(
            d.message_id,
            Outcome.DEFER,
            request.key,
            request.sample_id,
            wait,
            f"channel down, deferred: {breaker.last_reason}",
        )
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

    detail_prefix = "resend after interrupted attempt; " if claim.resend else ""
    where = channel.name  # until the e-mail is composed: then the channel's own description
    try:
        pending = [r for r in mail.recipients() if r not in claim.record.delivered_to]
        email: Mailable | None = None
        if digests is not None and is_digest(request):
            email = digests.compose(
                request,
                message_id=mid,
                mail_from=mail.mail_from,
                mail_to=mail.mail_to,
                date=clock(),
            )
        if email is None:
            email = compose(
                request,
                mail_from=mail.mail_from,
                mail_to=mail.mail_to,
                subject_prefix=mail.subject_prefix,
                trace_options=mail.trace_options,
            )
        where = destination(channel, email, pending)
        accepted = sender.send(email, pending) if pending else ()
    except DeliveryError as exc:
        if breaker is not None:
            _record(breaker, exc, ctx)
        if (
            breaker is not None
            and not was_closed  # this try was the breaker's probe of a channel that is down
            and exc.transient
            and exc.channel_down
            and _may_defer(request, policy, clock)
        ):
            # A failed probe says the channel is still down, nothing about this message:
            # it is deferred like the others and the attempt is not counted (a dead relay
            # used to burn one message's attempts in a minute of probes).
            ledger.finish(
                request.key,
                status=NotificationStatus.RETRYING,
                attempt=Attempt(clock(), PROBE, detail_prefix + exc.reason, worker, where),
                delivered_to=tuple(claim.record.delivered_to) + exc.accepted,
                error=f"channel down (probe failed): {exc.reason}",
            )
            wait = max(DEFER_MIN_SECONDS, breaker.retry_in())
            return NotifyResult(
                d.message_id,
                Outcome.DEFER,
                request.key,
                request.sample_id,
                wait,
                f"channel down, probe failed: {exc.reason}",
            )
        # Recipients that accepted before a failure (transient or permanent) are not sent
        # to again on retry or redrive.
        delivered = tuple(claim.record.delivered_to) + exc.accepted
        attempt = _attempt_number(claim.record.attempts)
        return _failed(
            d,
            request,
            exc,
            delivered,
            ledger,
            policy,
            worker,
            clock,
            ctx,
            detail_prefix,
            where,
            attempt=attempt,
            breaker=breaker,
        )
    except Exception as exc:
        # Not a classified delivery failure: a bug, or an input the channel cannot carry.
        # Never leave the ledger row in SENDING (it would block the key until the lease
        # ends, and the same crash would repeat): dead-letter it with the reason.
        log.exception("unexpected error while composing or sending the notification", extra=ctx)
        unexpected = DeliveryError(
            f"unexpected {type(exc).__name__} while composing or sending: {exc}",
            transient=False,
        )
        delivered = tuple(claim.record.delivered_to)
        return _failed(
            d,
            request,
            unexpected,
            delivered,
            ledger,
            policy,
            worker,
            clock,
            ctx,
            detail_prefix,
            where,
        )
    if breaker is not None:
        breaker.record_success()

    delivered = tuple(claim.record.delivered_to) + tuple(accepted)
    ledger.finish(
        request.key,
        status=NotificationStatus.SENT,
        attempt=Attempt(clock(), "sent", f"{detail_prefix}Message-ID {mid}", worker, where),
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
    where: str,
    *,
    attempt: int | None = None,
    breaker: CircuitBreaker | None = None,
) -> NotifyResult:
    n = d.receive_count if attempt is None else attempt
    if not exc.transient:
        reason = f"permanent failure: {exc.reason}"
        outcome, kind = Outcome.DEAD, "permanent"
    elif n >= policy.max_attempts:
        reason = f"gave up after {n} attempts; last error: {exc.reason}"
        outcome, kind = Outcome.DEAD, "exhausted"
    else:
        reason = f"transient failure (attempt {n}): {exc.reason}"
        outcome, kind = Outcome.RETRY, "transient"
    status = NotificationStatus.DEAD if outcome is Outcome.DEAD else NotificationStatus.RETRYING
    ledger.finish(
        request.key,
        status=status,
        attempt=Attempt(clock(), kind, detail_prefix + exc.reason, worker, where),
        delivered_to=delivered,
        error=reason,
    )
    if outcome is Outcome.DEAD:
        log.error("notification dead-lettered: %s", reason, extra=ctx)
        return NotifyResult(d.message_id, outcome, request.key, request.sample_id, reason=reason)
    delay = policy.delay(n)
    if breaker is not None and breaker.is_open:
        # The breaker paces the channel now: come back by the next probe, not at the
        # backoff cap (while it stays open the message is deferred, not tried).
        delay = min(delay, max(DEFER_MIN_SECONDS, breaker.retry_in()))
    log.warning("notification failed, retry in %.1f s: %s", delay, reason, extra=ctx)
    return NotifyResult(d.message_id, outcome, request.key, request.sample_id, delay, reason)


def _may_defer(
    request: NotificationRequest, policy: RetryPolicy, clock: Callable[[], datetime]
) -> bool:
    """Deferral is for an outage shorter than the retry schedule; a notification older than
    that is tried like any other, so a lasting outage still ends in the dead-letter queue
    (and its alarm) instead of deferring forever."""
    return (clock() - request.received_at).total_seconds() < policy.schedule_seconds()


def _attempt_number(attempts: Sequence[Attempt]) -> int:
    """This attempt's number: 1 + the transient attempts the ledger holds since the
    notification was created or last dead-lettered (permanent/exhausted)."""
    trailing = 0
    for a in reversed(attempts):
        if a.outcome == PROBE:  # a failed probe of a channel that was down: not an attempt
            continue
        if a.outcome != "transient":
            break
        trailing += 1
    return trailing + 1


def _record(breaker: CircuitBreaker, exc: DeliveryError, ctx: Mapping[str, object]) -> None:
    """Tell the breaker how the channel did; log when it opens."""
    if not exc.channel_down:  # the channel answered, about this message
        breaker.record_success()
        return
    was_open = breaker.is_open
    breaker.record_failure(exc.reason)
    if breaker.is_open and not was_open:
        log.warning(
            "channel down after %d consecutive failures; notifications are deferred and the "
            "channel is probed in %.1f s: %s",
            breaker.failures,
            breaker.retry_in(),
            exc.reason,
            extra=ctx,
        )
