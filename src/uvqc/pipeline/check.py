"""The check stage: a batch of raw messages -> verdicts, durable records, notification requests.

Transport-independent: the embedded worker and the Lambda handler both call `check_batch`.
Each message succeeds or fails on its own. A reject is a verdict, not a failure: only
infrastructure errors (store, window index, notify queue) fail a message, so its transport
retries it. A record the store can never take (over its size limit even when bounded) is
`dead`: the transport dead-letters that message with the reason, and the rest of the batch
goes on. Flagged and rejected results get their notification key from their content and
the deduplication window (`uvqc.pipeline.identity`): one e-mail per distinct result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from uvqc.core.engine import judge
from uvqc.core.methods import MethodBook
from uvqc.core.verdicts import Verdict
from uvqc.errors import InfrastructureError, UnstorableRecords
from uvqc.pipeline.identity import DEFAULT_WINDOW, WindowIndex, read_content
from uvqc.pipeline.ports import NotificationQueue, RecordStore, RunStore
from uvqc.pipeline.records import NotificationRequest, ResultRecord, source_text, utcnow
from uvqc.pipeline.submission import Oversized, record_id_for
from uvqc.runs.notices import RunArrival, arrival_for

log = logging.getLogger("uvqc.pipeline.check")


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message from the intake queue, whatever the transport."""

    message_id: str
    body: str | bytes
    received_at: datetime
    correlation_id: str | None = None
    source: str | None = None  # "day.jsonl:12" (queue envelope); else the message's `source`
    submission_id: str | None = None  # stable identity of a submitted line (re-submissions)
    oversized: Oversized | None = None  # too large for the transport: a stand-in arrived


@dataclass(slots=True)
class CheckOutcome:
    """What happened to a batch: records made, message ids the transport must retry, and
    message ids it must dead-letter (with why)."""

    records: list[ResultRecord] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dead: dict[str, str] = field(default_factory=dict)  # message id -> why it can never be stored

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
        if msg.oversized is None:
            judgement, message = judge(msg.body, methods)
            raw: str | bytes = msg.body
        else:
            judgement, message = msg.oversized.judgement(), None
            raw = msg.oversized.excerpt
        # The instrument file a message names (`source`, written by `uvqc ingest`) says more
        # than the envelope's submitted file and line; a reject's is read from its content.
        source = source_text(getattr(message, "source", None))
        digest = None
        if judgement.needs_notification:
            content = read_content(msg.body)
            digest = content.digest
            if source is None and isinstance(content.data, dict):
                source = source_text(content.data.get("source"))
        source = source or msg.source
        record = ResultRecord.create(
            record_id=record_id_for(msg.message_id, msg.submission_id),
            judgement=judgement,
            raw=raw,
            received_at=msg.received_at,
            checked_at=checked_at,
            correlation_id=msg.correlation_id or msg.message_id,
            source=source,
            content_digest=digest,
        )
        if msg.oversized is not None:
            record = replace(record, raw_truncated=True, raw_bytes=msg.oversized.size)
        records.append(record)
        if arrivals is not None and message is not None and message.batch_id is not None:
            arrival = arrival_for(message, record, methods)
            if arrival is not None:
                arrivals.append(arrival)
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


def assign_keys(
    records: list[ResultRecord], windows: WindowIndex, span: timedelta
) -> list[ResultRecord]:
    """Records with their notification keys: flagged and rejected ones get the key of their
    content's deduplication window (InfrastructureError if the index cannot be reached)."""
    todo = [
        i
        for i, r in enumerate(records)
        if r.verdict is not Verdict.PASS and r.content_digest and r.notification_key is None
    ]
    if not todo:
        return records
    keys = windows.assign(
        [(records[i].content_digest or "", records[i].received_at) for i in todo], span
    )
    keyed = list(records)
    for i, key in zip(todo, keys, strict=True):
        keyed[i] = replace(records[i], notification_key=key)
    return keyed


def message_ids(messages: Sequence[Incoming]) -> dict[str, list[str]]:
    """Record id -> the message ids it was made from (one, unless a line came twice)."""
    ids: dict[str, list[str]] = {}
    for msg in messages:
        ids.setdefault(record_id_for(msg.message_id, msg.submission_id), []).append(msg.message_id)
    return ids


def record_batch(
    records: list[ResultRecord],
    *,
    store: RecordStore,
    notify: NotificationQueue,
    windows: WindowIndex,
    window: timedelta = DEFAULT_WINDOW,
    ids: dict[str, list[str]] | None = None,
    runs: RunStore | None = None,
    arrivals: Sequence[RunArrival] = (),
    clock: Callable[[], datetime] = utcnow,
) -> CheckOutcome:
    """The durable half: give flagged and rejected records their notification keys (window
    index), store every record, queue a notification request for each flagged or rejected
    one, then update the runs of `arrivals` and queue their decisions. Failed (and dead)
    message ids are for the transport to redeliver (or dead-letter); `ids` maps record ids
    to message ids (`message_ids`), where they differ."""
    outcome = _record_batch(records, store=store, notify=notify, windows=windows, window=window)
    stored = {r.record_id for r in outcome.records}
    tracked = [a for a in arrivals if a.result.record_id in stored]
    if runs is not None and tracked:
        failed_runs = track_runs(tracked, runs=runs, notify=notify, now=clock())
        lost = {a.result.record_id for a in tracked if a.batch_id in failed_runs}
        outcome.failed = [r.record_id for r in records if r.record_id in lost | set(outcome.failed)]
    if ids:
        outcome.failed = [m for r in outcome.failed for m in ids.get(r, [r])]
        outcome.dead = {m: why for r, why in outcome.dead.items() for m in ids.get(r, [r])}
    return outcome


def _record_batch(
    records: list[ResultRecord],
    *,
    store: RecordStore,
    notify: NotificationQueue,
    windows: WindowIndex,
    window: timedelta,
) -> CheckOutcome:
    if not records:
        return CheckOutcome(records=records)
    try:
        records = assign_keys(records, windows, window)
    except InfrastructureError:
        log.exception("could not assign notification keys; the batch will be retried")
        return CheckOutcome(failed=[r.record_id for r in records])
    outcome = CheckOutcome(records=records)
    try:
        store.save_results(records)
    except UnstorableRecords as exc:
        # The others are stored; these can never be: dead-letter them, do not retry.
        for record_id, reason in exc.reasons.items():
            log.error("record cannot be stored: %s", reason, extra={"recordId": record_id})  # noqa: TRY400
        outcome.dead = dict(exc.reasons)
        records = [r for r in records if r.record_id not in exc.reasons]
        outcome.records = records
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
                extra={"recordId": record_id},
            )
        outcome.failed = [r.record_id for r in records if r.record_id in failed_records]
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
    windows: WindowIndex,
    window: timedelta = DEFAULT_WINDOW,
    runs: RunStore | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> CheckOutcome:
    """Judge, record and queue notifications for every message of a batch (and, with a run
    store, update runs and queue their decisions)."""
    arrivals: list[RunArrival] = []
    records = judge_batch(messages, methods=methods, clock=clock, arrivals=arrivals)
    return record_batch(
        records,
        store=store,
        notify=notify,
        windows=windows,
        window=window,
        ids=message_ids(messages),
        runs=runs,
        arrivals=arrivals,
        clock=clock,
    )
