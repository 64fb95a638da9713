"""Lambda entry point of the notify stage: notify-queue SQS batch -> `notify_batch` (ledger
on DynamoDB, channel smtp/ses/sns) -> per-message transport action -> partial batch response.

Per outcome: SENT/DUPLICATE -> success (the message is deleted); RETRY ->
ChangeMessageVisibility(backoff delay) and a batch item failure, so SQS redelivers it after
the delay; DEFER (the container's circuit breaker holds the channel for down) -> the same
with the breaker's short probe delay, and no attempt counted (the ledger counts attempts:
ApproximateReceiveCount cannot be given back); DEAD -> the message is sent to
the notify DLQ with its reason as a message attribute, then reported as success so the
event source mapping deletes it. As in the check handler, the stage is batch-level (one
channel session - one SMTP connection - per batch), so the mapping to `batchItemFailures`
is done here rather than by Powertools' per-record BatchProcessor. Idempotency is the
notification ledger (DynamoDB, conditional writes), shared in semantics with the embedded
runtime, keyed on the notification key rather than the SQS messageId.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from uvqc.adapters import boto
from uvqc.adapters.channels import make_channel
from uvqc.adapters.dynamodb import DynamoLedger
from uvqc.adapters.sqs import (
    NOTIFICATION_KEY,
    SAMPLE_ID,
    check_retry_schedule,
    dead_letter,
    delay_message,
    queue_url_from_arn,
    requeue,
)
from uvqc.adapters.ssm import smtp_password
from uvqc.aws import sqs_event
from uvqc.aws.observability import logger, metrics
from uvqc.errors import InfrastructureError, SettingsError
from uvqc.pipeline.breaker import BreakerPolicy, CircuitBreaker
from uvqc.pipeline.notify import MailSettings, NotifyResult, Outcome, RetryPolicy, notify_batch
from uvqc.pipeline.ports import Channel, DigestComposer
from uvqc.settings import Settings, load_settings

LEASE_MARGIN = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class NotifyWiring:
    """What the notify stage runs with; built once per container."""

    ledger: DynamoLedger
    channel: Channel
    mail: MailSettings
    policy: RetryPolicy
    dlq_url: str
    queue_url: str | None  # None: derived from each record's eventSourceARN
    breaker: CircuitBreaker  # the channel's health, kept across warm invocations
    digests: DigestComposer | None = None  # the digest function's (uvqc.aws.digest_handler)


def _channel(settings: Settings) -> Channel:
    if settings.channel == "smtp":
        password = smtp_password(
            explicit=settings.smtp_password,
            parameter=settings.smtp_password_parameter,
            secret=settings.smtp_password_secret,
            client=boto.client,
        )
        settings = settings.model_copy(update={"smtp_password": password})
    return make_channel(settings)


@functools.cache  # one per container: Lambda runs one invocation at a time in it
def wiring() -> NotifyWiring:
    """The container's wiring, built on first use from the UVQC_* environment."""
    settings = load_settings()
    if not settings.ledger_table or not settings.notify_dlq_url:
        raise SettingsError("the notify function needs UVQC_LEDGER_TABLE and UVQC_NOTIFY_DLQ_URL")
    return build_wiring(settings, dlq_url=settings.notify_dlq_url)


def build_wiring(
    settings: Settings, *, dlq_url: str, digests: DigestComposer | None = None
) -> NotifyWiring:
    """The notify stage's wiring on `settings`, dead-lettering to `dlq_url` (the notify
    function's or the digest function's DLQ)."""
    if not settings.ledger_table:
        raise SettingsError("a notify stage needs UVQC_LEDGER_TABLE (the notification ledger)")
    policy = RetryPolicy.from_settings(settings)
    check_retry_schedule(policy)  # SQS keeps a message hidden at most 12 h: refuse more
    return NotifyWiring(
        ledger=DynamoLedger(boto.client("dynamodb"), settings.ledger_table),
        channel=_channel(settings),
        mail=MailSettings.from_settings(settings),
        policy=policy,
        dlq_url=dlq_url,
        queue_url=settings.notify_queue_url if digests is None else None,
        breaker=CircuitBreaker(BreakerPolicy.from_settings(settings)),
        digests=digests,
    )


def reset() -> None:
    """Rebuild the wiring on the next invocation (tests that change the environment)."""
    wiring.cache_clear()


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process(wiring(), event, context)


def process(w: NotifyWiring, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One SQS batch through notify_batch with `w`; the partial batch response."""
    by_id = {r["messageId"]: r for r in sqs_event.records(event)}
    # The lease outlives this invocation: if it dies mid-send, the next claim is a resend.
    lease = timedelta(milliseconds=context.get_remaining_time_in_millis()) + LEASE_MARGIN
    results = notify_batch(
        [sqs_event.delivery(r) for r in by_id.values()],
        ledger=w.ledger,
        channel=w.channel,
        mail=w.mail,
        policy=w.policy,
        worker=f"{context.function_name}/{context.aws_request_id}",
        lease=lease,
        breaker=w.breaker,
        digests=w.digests,
    )
    w.breaker.take_recovery()  # nothing to wake on SQS: delays were capped while it was open
    failed = [r.message_id for r in results if not _settle(w, by_id[r.message_id], r)]
    return sqs_event.batch_response(failed)


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _settle(w: NotifyWiring, record: sqs_event.SqsRecord, result: NotifyResult) -> bool:
    """Apply a result to its SQS message; True if the message may be deleted."""
    ctx = {"sampleId": result.sample_id, "messageId": result.message_id}
    if result.outcome is Outcome.SENT:
        _count("NotificationsSent")
        return True
    if result.outcome is Outcome.DUPLICATE:
        _count("NotificationsDuplicate")
        return True
    if result.outcome is Outcome.DEFER:
        _count("NotificationsDeferred")
        queue_url = w.queue_url or queue_url_from_arn(record["eventSourceARN"])
        try:
            # A fresh copy starts with receive count 0: waiting out an outage never uses
            # up the queue's maxReceiveCount (the RedrivePolicy would dead-letter it).
            requeue(
                boto.client("sqs"),
                queue_url,
                body=record["body"],
                delay_seconds=result.delay_seconds,
                attributes=sqs_event.attributes(record),
            )
        except InfrastructureError:
            logger.exception("could not requeue the deferred notification", extra=ctx)
        else:
            return True
    else:
        _count("NotificationsFailed")
    if result.outcome in (Outcome.RETRY, Outcome.DEFER):
        if result.outcome is Outcome.RETRY:
            _count("NotificationsRetried")
        queue_url = w.queue_url or queue_url_from_arn(record["eventSourceARN"])
        try:
            delay = result.delay_seconds
            if result.outcome is Outcome.DEFER:
                delay = max(1.0, delay)  # never 0: that would redeliver it at once
            delay_message(
                boto.client("sqs"),
                queue_url,
                record["receiptHandle"],
                delay,
                first_received_at=sqs_event.first_received_at(record),
            )
        except InfrastructureError:
            # Still a failure: SQS redelivers after the queue's own visibility timeout.
            logger.exception(
                "could not delay the retry; queue visibility timeout applies", extra=ctx
            )
        return False
    attributes = sqs_event.attributes(record)
    if result.sample_id:
        attributes[SAMPLE_ID] = result.sample_id
    if result.key:
        attributes[NOTIFICATION_KEY] = result.key
    try:
        dead_letter(
            boto.client("sqs"),
            w.dlq_url,
            body=record["body"],
            reason=result.reason,
            source_message_id=result.message_id,
            receive_count=sqs_event.receive_count(record),
            attributes=attributes,
        )
    except InfrastructureError:
        # Not deleted, so not lost: it comes back, fails again and is dead-lettered then
        # (or the queue's RedrivePolicy moves it).
        logger.exception("could not dead-letter the notification; it will be retried", extra=ctx)
        return False
    _count("NotificationsDeadLettered")
    logger.error("notification dead-lettered", extra={**ctx, "reason": result.reason})
    return True
