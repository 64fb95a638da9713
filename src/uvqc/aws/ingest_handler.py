"""Lambda entry point of the S3 drop: ObjectCreated on ``inbox/`` -> the same readers as
`uvqc ingest` -> results on the intake queue.

A refused file (or refused samples) is recorded as ``rejected/<key>.reason.json`` in the same
bucket (outside the ``inbox/`` prefix the event filter listens to) and e-mailed: one reject
notification request on the notify queue, whose key is derived from the file's content and
the reason, so a retried invocation never sends a second e-mail (the notify ledger).
Infrastructure failures raise: Lambda retries the asynchronous invocation twice, then sends
the event to the function's on-failure destination (IngestDLQ, behind an alarm).

Delivery is at least once: S3 may deliver an event twice and a retry after a partial send
repeats the file's results; the check stage's notification identity (content digest) keeps
that to one e-mail per result.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from uvqc.adapters import boto
from uvqc.adapters.sqs import SqsIntakeQueue, SqsNotificationQueue
from uvqc.aws.observability import logger, metrics
from uvqc.core.verdicts import Finding, Severity, Verdict
from uvqc.errors import InfrastructureError, SettingsError
from uvqc.ingest.naming import IngestConfig
from uvqc.ingest.results import FileOutcome, Options, ingest_bytes, resolve_wavelength
from uvqc.pipeline.records import NotificationRequest

INBOX_PREFIX = "inbox/"
REJECTED_PREFIX = "rejected/"
# ~10 bytes of memory per byte of file (text, rows, scans, messages; measured in
# tests/aws/test_ingest_handler.py): 5 MiB keeps a 128 MB function well clear.
MAX_OBJECT_BYTES = 5 * 1024 * 1024
FILE_REFUSED = "file_refused"
SAMPLE_REFUSED = "sample_refused"


@dataclass(frozen=True, slots=True)
class IngestWiring:
    """What the ingest function runs with; built once per container."""

    s3: Any
    intake: SqsIntakeQueue
    notify: SqsNotificationQueue
    options: Options


@functools.cache
def wiring() -> IngestWiring:
    from uvqc.settings import load_settings

    settings = load_settings()
    if not settings.intake_queue_url or not settings.notify_queue_url:
        raise SettingsError(
            "the ingest function needs UVQC_INTAKE_QUEUE_URL and UVQC_NOTIFY_QUEUE_URL"
        )
    config = IngestConfig.load(settings.ingest_config)
    return IngestWiring(
        s3=boto.client("s3"),
        intake=SqsIntakeQueue(boto.client("sqs"), settings.intake_queue_url),
        notify=SqsNotificationQueue(boto.client("sqs"), settings.notify_queue_url),
        options=Options(wavelength_nm=resolve_wavelength(None, settings), config=config),
    )


def reset() -> None:
    wiring.cache_clear()


def _objects(event: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    found = []
    for record in event.get("Records", []):
        s3 = record.get("s3", {})
        bucket = s3.get("bucket", {}).get("name")
        obj = s3.get("object", {})
        if bucket and obj.get("key") is not None:
            found.append((bucket, unquote_plus(obj["key"]), int(obj.get("size", 0) or 0)))
    return found


def _refusal_text(outcome: FileOutcome) -> str:
    if outcome.file_refusal is not None:
        return f"refused ({outcome.refusal_kind}): {outcome.file_refusal}"
    parts = [f"{r.name or '(unnamed)'}: {r.reason}" for r in outcome.refused[:10]]
    more = f"; and {len(outcome.refused) - 10} more" if len(outcome.refused) > 10 else ""
    return f"{len(outcome.refused)} sample(s) refused: " + "; ".join(parts) + more


def _request(bucket: str, key: str, outcome: FileOutcome, reason: str) -> NotificationRequest:
    digest = hashlib.sha256(f"{outcome.sha256}\n{reason}".encode()).hexdigest()[:40]
    code = FILE_REFUSED if outcome.file_refusal is not None else SAMPLE_REFUSED
    message = f"Instrument file s3://{bucket}/{key} {reason}"
    return NotificationRequest(
        key=f"ingest-{digest}",
        sample_id=PurePosixPath(key).name[:128] or None,  # the e-mail names the file
        record_id=f"ingest:{outcome.sha256[:32]}",
        verdict=Verdict.REJECT,
        findings=(Finding(code=code, severity=Severity.FAIL, message=message[:2000]),),
        method=None,
        received_at=datetime.now(UTC),
        excerpt="",
    )


def _record(w: IngestWiring, bucket: str, key: str, outcome: FileOutcome, reason: str) -> None:
    body = {
        "bucket": bucket,
        "key": key,
        "sha256": outcome.sha256,
        "format": outcome.format,
        "results": len(outcome.messages),
        "reason": reason,
        "refused": [
            {
                "sample": r.name,
                "line": r.line,
                "column": r.column,
                "position": r.position,
                "reason": r.reason,
            }
            for r in outcome.refused
        ],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    name = key.removeprefix(INBOX_PREFIX)
    w.s3.put_object(
        Bucket=bucket,
        Key=f"{REJECTED_PREFIX}{name}.reason.json",
        Body=json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8"),
        ContentType="application/json",
    )


def ingest_object(w: IngestWiring, bucket: str, key: str, size: int) -> FileOutcome:
    """One S3 object: parse, send results, record and e-mail refusals."""
    if size > MAX_OBJECT_BYTES:
        outcome = FileOutcome(key, "", "auto", key)
        outcome.file_refusal = f"{size} bytes is over the {MAX_OBJECT_BYTES}-byte limit"
        outcome.refusal_kind = "size"
        outcome.sha256 = hashlib.sha256(f"{bucket}/{key}/{size}".encode()).hexdigest()
    else:
        data = w.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        outcome = ingest_bytes(data, key, options=w.options)
    if outcome.messages:
        w.intake.submit(outcome.messages)  # InfrastructureError: the invocation is retried
    if not outcome.ok:
        reason = _refusal_text(outcome)
        _record(w, bucket, key, outcome, reason)
        failed = w.notify.publish([_request(bucket, key, outcome, reason)])
        if failed:
            raise InfrastructureError(f"could not request the reject e-mail for {key}")
    return outcome


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    w = wiring()
    results = refused = files = 0
    for bucket, key, size in _objects(event):
        if not key.startswith(INBOX_PREFIX):
            continue
        outcome = ingest_object(w, bucket, key, size)
        files += 1
        results += len(outcome.messages)
        refused += 0 if outcome.ok else 1
        logger.info(
            "file ingested",
            extra={
                "key": key,
                "format": outcome.format,
                "results": len(outcome.messages),
                "refusedSamples": len(outcome.refused),
                "fileRefusal": outcome.file_refusal,
            },
        )
    metrics.add_metric(name="FilesIngested", unit=MetricUnit.Count, value=files)
    metrics.add_metric(name="ResultsIngested", unit=MetricUnit.Count, value=results)
    metrics.add_metric(name="FilesRefused", unit=MetricUnit.Count, value=refused)
    return {"files": files, "results": results, "refused": refused}
