"""The check stage: a batch of raw messages -> verdicts, durable records, notification requests.

Transport-independent: the embedded worker and the Lambda handler both call `check_batch`.
Each message succeeds or fails on its own. A reject is a verdict, not a failure: only
infrastructure errors (store, notify queue) fail a message, so its transport retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from uvqc.core.engine import judge
from uvqc.core.methods import MethodBook
from uvqc.core.verdicts import Verdict
from uvqc.errors import InfrastructureError
from uvqc.pipeline.ports import NotificationQueue, RecordStore
from uvqc.pipeline.records import NotificationRequest, ResultRecord, utcnow

log = logging.getLogger("uvqc.pipeline.check")


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message from the intake queue, whatever the transport."""

    message_id: str
    body: str | bytes
    received_at: datetime
    correlation_id: str | None = None


@dataclass(slots=True)
class CheckOutcome:
    """What happened to a batch: records made, and message ids the transport must retry."""

    records: list[ResultRecord] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def count(self, verdict: Verdict) -> int:
        return sum(1 for r in self.records if r.verdict is verdict)


def judge_batch(
    messages: Sequence[Incoming],
    *,
    methods: MethodBook,
    clock: Callable[[], datetime] = utcnow,
) -> list[ResultRecord]:
    """The pure half of the stage: a record (verdict, findings, raw payload) per message."""
    records: list[ResultRecord] = []
    checked_at = clock()
    for msg in messages:
        judgement, _ = judge(msg.body, methods)
        record = ResultRecord.create(
            record_id=msg.message_id,
            judgement=judgement,
            raw=msg.body,
            received_at=msg.received_at,
            checked_at=checked_at,
            correlation_id=msg.correlation_id or msg.message_id,
        )
        records.append(record)
        # Flagged and rejected results at INFO; passes at DEBUG: they are in the records,
        # and on AWS a line per passing result was the largest CloudWatch Logs cost.
        log.log(
            logging.DEBUG if record.verdict is Verdict.PASS else logging.INFO,
            "result %s",
            record.verdict.value,
            extra={
                "sampleId": record.sample_id,
                "messageId": msg.message_id,
                "correlationId": record.correlation_id,
                "verdict": record.verdict.value,
                "findings": [f.code for f in record.findings],
            },
        )
    return records


def record_batch(
    records: list[ResultRecord], *, store: RecordStore, notify: NotificationQueue
) -> CheckOutcome:
    """The durable half: store every record, then queue a notification request for each
    flagged or rejected one. Failed message ids are for the transport to redeliver."""
    outcome = CheckOutcome(records=records)
    if not records:
        return outcome
    try:
        store.save_results(records)
    except InfrastructureError:
        log.exception("could not store %d records; the batch will be retried", len(records))
        return CheckOutcome(failed=[r.record_id for r in records])
    requests = [NotificationRequest.for_record(r) for r in records if r.verdict is not Verdict.PASS]
    if requests:
        try:
            failed_records = notify.publish(requests)
        except InfrastructureError:
            log.exception("could not queue %d notifications", len(requests))
            failed_records = {r.record_id for r in requests}
        for record_id in sorted(failed_records):
            log.error(
                "notification not queued; the message will be retried",
                extra={"messageId": record_id},
            )
        outcome.failed = [r.record_id for r in records if r.record_id in failed_records]
    return outcome


def check_batch(
    messages: Sequence[Incoming],
    *,
    methods: MethodBook,
    store: RecordStore,
    notify: NotificationQueue,
    clock: Callable[[], datetime] = utcnow,
) -> CheckOutcome:
    """Judge, record and queue notifications for every message of a batch."""
    records = judge_batch(messages, methods=methods, clock=clock)
    return record_batch(records, store=store, notify=notify)
