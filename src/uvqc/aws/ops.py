"""The CLI's `--aws` operations, imported lazily by `uvqc submit|trace|dlq`: the intake
queue, the trace source (both tables) and the dead-letter queues, from the same UVQC_*
settings the functions read (take the values from the stack's Outputs).
"""

from __future__ import annotations

from typing import cast

from uvqc.adapters import boto
from uvqc.adapters.dynamodb import DynamoLedger, DynamoRecordStore, DynamoTrace
from uvqc.adapters.dynamodb_runs import DynamoRunStore, RunVerdictTrace
from uvqc.adapters.sqs import DeadLetterQueue, SqsDeadLetters, SqsIntakeQueue
from uvqc.adapters.submit_journal import SubmitJournal
from uvqc.core.methods import MethodBook
from uvqc.errors import SettingsError
from uvqc.pipeline.ports import DeadLetters, IntakeQueue, TraceSource
from uvqc.pipeline.submission import SubmissionQueue
from uvqc.settings import Settings


def intake_queue(settings: Settings, queue_url: str | None = None) -> IntakeQueue:
    """The SQS intake queue: `--queue-url` > UVQC_INTAKE_QUEUE_URL."""
    url = queue_url or settings.intake_queue_url
    if not url:
        raise SettingsError("no intake queue: pass --queue-url or set UVQC_INTAKE_QUEUE_URL")
    return SqsIntakeQueue(boto.client("sqs"), url)


def submission_queue(settings: Settings, queue_url: str | None = None) -> SubmissionQueue:
    """The SQS intake queue with the local submit journal (UVQC_SUBMIT_JOURNAL): lines sent
    before to the same queue are skipped."""
    url = queue_url or settings.intake_queue_url
    if not url:
        raise SettingsError("no intake queue: pass --queue-url or set UVQC_INTAKE_QUEUE_URL")
    return SqsIntakeQueue(boto.client("sqs"), url, SubmitJournal(settings.submit_journal))


def trace_source(settings: Settings) -> TraceSource:
    """Records and notifications of a sample, from the records and ledger tables."""
    if not settings.records_table or not settings.ledger_table:
        raise SettingsError(
            "uvqc trace --aws needs UVQC_RECORDS_TABLE and UVQC_LEDGER_TABLE "
            "(the stack outputs RecordsTableName and LedgerTableName)"
        )
    db = boto.client("dynamodb")
    trace = DynamoTrace(
        DynamoRecordStore(db, settings.records_table), DynamoLedger(db, settings.ledger_table)
    )
    if not settings.runs_table:
        return trace
    runs = DynamoRunStore(db, settings.runs_table, MethodBook())
    return cast(TraceSource, RunVerdictTrace(trace, runs))


def run_reader(settings: Settings) -> DynamoRunStore:
    """`uvqc runs --aws`: the runs table (stack output RunsTableName)."""
    if not settings.runs_table:
        raise SettingsError(
            "uvqc runs --aws needs UVQC_RUNS_TABLE (the stack output RunsTableName)"
        )
    return DynamoRunStore(boto.client("dynamodb"), settings.runs_table, MethodBook())


def record_reader(settings: Settings) -> DynamoRecordStore | None:
    """The records table (stack output RecordsTableName), when configured: reports read the
    scans of flagged samples from it."""
    if not settings.records_table:
        return None
    return DynamoRecordStore(boto.client("dynamodb"), settings.records_table)


def dead_letters(settings: Settings) -> DeadLetters:
    """The DLQs configured: intake -> intake queue, notify -> notify queue, digest -> digest
    queue (a dead digest goes back to the digest function, never to the notify function,
    which would send its plain text only)."""
    pairs = [
        ("intake", settings.intake_dlq_url, settings.intake_queue_url),
        ("notify", settings.notify_dlq_url, settings.notify_queue_url),
        ("digest", settings.digest_dlq_url, settings.digest_queue_url),
    ]
    queues = [DeadLetterQueue(name, dlq, src) for name, dlq, src in pairs if dlq and src]
    if not queues:
        raise SettingsError(
            "uvqc dlq --aws needs UVQC_INTAKE_DLQ_URL + UVQC_INTAKE_QUEUE_URL, "
            "UVQC_NOTIFY_DLQ_URL + UVQC_NOTIFY_QUEUE_URL and/or UVQC_DIGEST_DLQ_URL + "
            "UVQC_DIGEST_QUEUE_URL (see the stack outputs)"
        )
    return SqsDeadLetters(
        boto.client("sqs"), queues, move_client=boto.client("sqs", max_attempts=1)
    )
