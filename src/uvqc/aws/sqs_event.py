"""The SQS event as Lambda delivers it, and the partial batch response Lambda expects.

Plain dict access on purpose: no Parser envelopes (measured at hundreds of ms of INIT).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from uvqc.adapters.sqs import (
    CORRELATION_ID,
    SOURCE,
    SOURCE_CHARS,
    SUBMISSION_ID,
    epoch_ms,
    read_intake,
    string_attributes,
)
from uvqc.pipeline.check import Incoming
from uvqc.pipeline.limits import bound_text
from uvqc.pipeline.notify import Delivery
from uvqc.pipeline.records import utcnow

SqsRecord = Mapping[str, Any]


def records(event: Mapping[str, Any]) -> list[SqsRecord]:
    return list(event.get("Records") or [])


def attributes(record: SqsRecord) -> dict[str, str]:
    """The record's string message attributes (sampleId, correlationId, ...)."""
    return string_attributes(record.get("messageAttributes") or {})


def receive_count(record: SqsRecord) -> int:
    return int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))


def sent_at(record: SqsRecord) -> datetime:
    """When the message was sent to the queue (the instrument's submission time)."""
    stamp = (record.get("attributes") or {}).get("SentTimestamp")
    return epoch_ms(stamp) if stamp else utcnow()


def first_received_at(record: SqsRecord) -> datetime | None:
    """When the message was first received (ApproximateFirstReceiveTimestamp), if known."""
    stamp = (record.get("attributes") or {}).get("ApproximateFirstReceiveTimestamp")
    return epoch_ms(stamp) if stamp else None


def incoming(record: SqsRecord) -> Incoming:
    """An intake record for the check stage; the correlation id is the submitter's (message
    attribute `correlationId`) or else the intake messageId, carried on to the notify stage.
    `uvqc submit` sets `source` and `submissionId`; a stand-in body (`standIn`) is turned
    back into the message it stands for (adapters.sqs.read_intake). Attribute values are
    the submitter's: they are bounded (correlation id 256 characters, source 1,000) so they
    cannot push a record or a notification request over a limit."""
    attrs = attributes(record)
    body, oversized = read_intake(record["body"], attrs)
    return Incoming(
        message_id=record["messageId"],
        body=body,
        received_at=sent_at(record),
        correlation_id=bound_text(attrs.get(CORRELATION_ID) or record["messageId"], 256),
        source=bound_text(attrs[SOURCE], SOURCE_CHARS) if attrs.get(SOURCE) else None,
        submission_id=bound_text(attrs[SUBMISSION_ID], 128) if attrs.get(SUBMISSION_ID) else None,
        oversized=oversized,
    )


def delivery(record: SqsRecord) -> Delivery:
    return Delivery(record["messageId"], record["body"], receive_count(record))


def batch_response(failed: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """{"batchItemFailures": [{"itemIdentifier": id}]}: an empty list deletes the whole
    batch; an empty identifier would fail the whole batch, so none is ever emitted."""
    ids = [i for i in dict.fromkeys(failed) if i]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}
