"""Lambda entry point of the check stage: intake-queue SQS batch -> `check_batch` ->
records in DynamoDB + notification requests on the notify queue -> partial batch response.

Why not Powertools' BatchProcessor: it calls a record handler once per record, but the
check stage is batch-level on purpose - one BatchWriteItem per 25 records and one
SendMessageBatch per 10 notifications is what keeps a 100-result batch at ~5-15 AWS calls
instead of 100-200. So the handler maps `CheckOutcome.failed` to `batchItemFailures` itself,
with the same contract: only infrastructure failures are reported (a reject is a verdict,
recorded and notified, and its message is deleted); an empty list deletes the batch.
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
from uvqc.adapters.dynamodb import DynamoRecordStore
from uvqc.adapters.dynamodb_runs import DynamoRunStore
from uvqc.adapters.dynamodb_windows import DynamoWindows
from uvqc.adapters.sqs import dead_letter
from uvqc.aws import sqs_event
from uvqc.aws.observability import logger, metrics
from uvqc.aws.queues import notice_queue
from uvqc.core.methods import MethodBook
from uvqc.core.verdicts import Verdict
from uvqc.errors import InfrastructureError, SettingsError
from uvqc.pipeline.check import check_batch
from uvqc.pipeline.ports import NotificationQueue
from uvqc.settings import load_settings


@dataclass(frozen=True, slots=True)
class CheckWiring:
    """What the check stage runs with; built once per container."""

    methods: MethodBook
    store: DynamoRecordStore
    notify: NotificationQueue  # run digests to UVQC_DIGEST_QUEUE_URL when set
    windows: DynamoWindows
    window: timedelta
    dlq_url: str | None = None  # intake DLQ: where a message that can never be stored goes
    runs: DynamoRunStore | None = None  # analytical runs, when UVQC_RUNS_TABLE is set


@functools.cache  # one per container: Lambda runs one invocation at a time in it
def wiring() -> CheckWiring:
    """The container's wiring, built on first use from the UVQC_* environment."""
    settings = load_settings()
    if not settings.records_table or not settings.notify_queue_url or not settings.ledger_table:
        raise SettingsError(
            "the check function needs UVQC_RECORDS_TABLE, UVQC_NOTIFY_QUEUE_URL and "
            "UVQC_LEDGER_TABLE (deduplication windows)"
        )
    methods = MethodBook.from_paths([settings.method] if settings.method else [])
    runs = None
    if settings.runs_table:
        runs = DynamoRunStore(
            boto.client("dynamodb"),
            settings.runs_table,
            methods,
            quiet_seconds=settings.run_quiet_seconds,
            grouping=settings.grouping,
        )
    return CheckWiring(
        methods=methods,
        store=DynamoRecordStore(boto.client("dynamodb"), settings.records_table),
        notify=notice_queue(settings.notify_queue_url, settings.digest_queue_url),
        windows=DynamoWindows(boto.client("dynamodb"), settings.ledger_table),
        window=timedelta(seconds=settings.dedup_window_seconds),
        dlq_url=settings.intake_dlq_url,
        runs=runs,
    )


def reset() -> None:
    """Rebuild the wiring on the next invocation (tests that change the environment)."""
    wiring.cache_clear()


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    w = wiring()
    records = {r["messageId"]: r for r in sqs_event.records(event)}
    messages = [sqs_event.incoming(r) for r in records.values()]
    outcome = check_batch(
        messages,
        methods=w.methods,
        store=w.store,
        notify=w.notify,
        windows=w.windows,
        window=w.window,
        runs=w.runs,
    )
    failed = list(outcome.failed)
    for message_id, reason in outcome.dead.items():
        if not _dead_letter(w, records[message_id], reason):
            failed.append(message_id)
    flagged, rejected = outcome.count(Verdict.FLAG), outcome.count(Verdict.REJECT)
    # These count stored results (a record that can never be stored is not among them).
    metrics.add_metric(name="ResultsChecked", unit=MetricUnit.Count, value=len(outcome.records))
    metrics.add_metric(name="ResultsFlagged", unit=MetricUnit.Count, value=flagged)
    metrics.add_metric(name="ResultsRejected", unit=MetricUnit.Count, value=rejected)
    if outcome.failed:
        metrics.add_metric(name="ResultsFailed", unit=MetricUnit.Count, value=len(outcome.failed))
    logger.info(
        "batch checked",
        extra={
            "messages": len(messages),
            "flagged": flagged,
            "rejected": rejected,
            "failed": len(outcome.failed),
            "deadLettered": len(outcome.dead),
        },
    )
    return sqs_event.batch_response(failed)


def _dead_letter(w: CheckWiring, record: sqs_event.SqsRecord, reason: str) -> bool:
    """Send a message whose record can never be stored to the intake DLQ with the reason;
    True if it may be deleted. Without UVQC_INTAKE_DLQ_URL (or if the send fails) it is
    reported as a failure: the queue's RedrivePolicy moves it after maxReceiveCount."""
    extra = {"messageId": record["messageId"], "reason": reason}
    if not w.dlq_url:
        logger.error(
            "record cannot be stored; no UVQC_INTAKE_DLQ_URL, left to the queue's RedrivePolicy",
            extra=extra,
        )
        return False
    try:
        dead_letter(
            boto.client("sqs"),
            w.dlq_url,
            body=record["body"],
            reason=f"record cannot be stored: {reason}",
            source_message_id=record["messageId"],
            receive_count=sqs_event.receive_count(record),
            attributes=sqs_event.attributes(record),
        )
    except InfrastructureError:
        logger.exception("could not dead-letter the message; it will be retried", extra=extra)
        return False
    metrics.add_metric(name="ResultsDeadLettered", unit=MetricUnit.Count, value=1)
    logger.error("message dead-lettered: its record cannot be stored", extra=extra)
    return True
