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
from uvqc.pipeline.ports import NotificationQueue, RecordStore, RunStore
from uvqc.pipeline.records import NotificationRequest, ResultRecord, utcnow
from uvqc.runs.notices import RunArrival, arrival_for

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
    arrivals: list[RunArrival] | None = None,
) -> list[ResultRecord]:
    """The pure half of the stage: a record (verdict, findings, raw payload) per message.
    Results of runs judged with a `[run]` method are also appended to `arrivals`."""
    records: list[ResultRecord] = []
    checked_at = clock()
    for msg in messages:
        judgement, message = judge(msg.body, methods)
        record = ResultRecord.create(
            record_id=msg.message_id,
            judgement=judgement,
            raw=msg.body,
            received_at=msg.received_at,
            checked_at=checked_at,
            correlation_id=msg.correlation_id or msg.message_id,
        )
        records.append(record)
        if arrivals is not None and message is not None and message.batch_id is not None:
            arrival = arrival_for(message, record, methods)
            if arrival is not None:
                arrivals.append(arrival)
        log.info(
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
    records: list[ResultRecord],
    *,
    store: RecordStore,
    notify: NotificationQueue,
    runs: RunStore | None = None,
    arrivals: Sequence[RunArrival] = (),
    clock: Callable[[], datetime] = utcnow,
) -> CheckOutcome:
    """The durable half: store every record, then queue a notification request for each
    flagged or rejected one, then update the runs of `arrivals` and queue their decisions.
    Failed message ids are for the transport to redeliver."""
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
    if runs is not None and arrivals:
        failed_runs = track_runs(arrivals, runs=runs, notify=notify, now=clock())
        lost = {a.result.record_id for a in arrivals if a.batch_id in failed_runs}
        outcome.failed = [r.record_id for r in records if r.record_id in lost | set(outcome.failed)]
    return outcome


def track_runs(
    arrivals: Sequence[RunArrival], *, runs: RunStore, notify: NotificationQueue, now: datetime
) -> set[str]:
    """Update the runs of these arrivals and queue the decisions to announce; returns the
    batchIds whose update or notices failed (their messages are redelivered, and the run
    store hands unconfirmed notices out again)."""
    batches = {a.batch_id for a in arrivals}
    try:
        notices = runs.track(arrivals, now=now)
    except InfrastructureError:
        log.exception("could not update %d run(s); their results will be retried", len(batches))
        return batches
    return publish_notices(notices, runs=runs, notify=notify)


def publish_notices(
    notices: Sequence[NotificationRequest], *, runs: RunStore, notify: NotificationQueue
) -> set[str]:
    """Queue run notices and confirm those queued; the batchIds of those that were not."""
    if not notices:
        return set()
    try:
        failed = notify.publish(notices)
    except InfrastructureError:
        log.exception("could not queue %d run notice(s)", len(notices))
        failed = {n.record_id for n in notices}
    runs.confirm([n for n in notices if n.record_id not in failed])
    return {(n.run or {}).get("batchId", "") for n in notices if n.record_id in failed}


def check_batch(
    messages: Sequence[Incoming],
    *,
    methods: MethodBook,
    store: RecordStore,
    notify: NotificationQueue,
    runs: RunStore | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> CheckOutcome:
    """Judge, record and queue notifications for every message of a batch (and, with a run
    store, update runs and queue their decisions)."""
    arrivals: list[RunArrival] = []
    records = judge_batch(messages, methods=methods, clock=clock, arrivals=arrivals)
    return record_batch(
        records, store=store, notify=notify, runs=runs, arrivals=arrivals, clock=clock
    )
