"""What the pipeline stores and passes between stages: plain, serialisable dataclasses.

- ResultRecord: one per received message (raw payload, verdict, findings, timestamps).
- NotificationRequest: what the check stage puts on the notify queue for a flagged or
  rejected result.
- NotificationRecord: the ledger row of one notification (status, attempts, Message-ID).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from uvqc.core.display import spelled
from uvqc.core.verdicts import Finding, Judgement, Verdict
from uvqc.pipeline.limits import bound_findings

RAW_KEEP_BYTES = 256 * 1024
EXCERPT_CHARS = 300


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def as_text(raw: str | bytes) -> str:
    """Raw payload as text; undecodable bytes are kept visibly (backslash escapes)."""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")


def safe_excerpt(raw: str | bytes, limit: int = EXCERPT_CHARS) -> str:
    """A printable, single-line excerpt of a payload, safe to quote in an e-mail body: every
    character that is not printable (controls, bidi overrides, line separators) spelled out
    as uvqc.core.display does (core.display.spelled)."""
    text = as_text(raw)[: limit * 4]
    cleaned = "".join(ch if ch.isprintable() else spelled(ord(ch)) for ch in text)
    return cleaned[:limit] + ("..." if len(cleaned) > limit else "")


CONTEXT_FIELDS = ("batchId", "instrumentId", "measuredAt", "sampleType")
CONTEXT_CHARS = 80


def message_context(raw: str | bytes) -> dict[str, str]:
    """What the chemist needs to find the cuvette and the run, read from the message as sent
    (also from a rejected one): batchId, instrumentId, measuredAt, sampleType, as printable
    single-line text. Fields absent or not scalars are left out; never raises."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    found: dict[str, str] = {}
    for name in CONTEXT_FIELDS:
        value = data.get(name)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            found[name] = safe_excerpt(str(value), CONTEXT_CHARS)
    return found


def source_text(value: Any) -> str | None:
    """A result's source as `file:line[:column]` from the message's `source` field
    (`{"file", "line", "column", "sha256"}`, written by `uvqc ingest`) or a plain string."""
    if isinstance(value, str):
        return safe_excerpt(value, 300) or None
    if isinstance(value, dict):
        file = value.get("file")
        if not isinstance(file, str) or not file:
            return None
        parts = [safe_excerpt(file, 260)]
        for name in ("line", "column"):
            number = value.get(name)
            if not isinstance(number, int) or isinstance(number, bool):
                break
            parts.append(str(number))
        return ":".join(parts)
    file = getattr(value, "file", None)  # a pydantic model of the same shape
    if isinstance(file, str):
        return source_text({k: getattr(value, k, None) for k in ("file", "line", "column")})
    return None


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """The durable record of one received message and its verdict."""

    record_id: str
    sample_id: str | None
    verdict: Verdict
    findings: tuple[Finding, ...]
    method: str | None
    raw: str
    received_at: datetime
    checked_at: datetime
    notification_key: str | None = None
    correlation_id: str | None = None
    raw_truncated: bool = False
    raw_bytes: int = 0
    indices: Mapping[str, float | None] | None = None  # uvqc.spectra.indices, if scanned
    source: str | None = None  # where the result came from: "day.jsonl:12", "export.csv:3:2"
    content_digest: str | None = None  # uvqc.pipeline.identity.content_digest (notified ones)

    @classmethod
    def create(
        cls,
        *,
        record_id: str,
        judgement: Judgement,
        raw: str | bytes,
        received_at: datetime,
        checked_at: datetime,
        correlation_id: str | None = None,
        source: str | None = None,
        content_digest: str | None = None,
        notification_key: str | None = None,
    ) -> ResultRecord:
        """The record of one message. The notification key (flagged and rejected results)
        is assigned by the check stage from the content digest and the window index. Raw
        payloads are kept up to RAW_KEEP_BYTES (`raw_truncated`, `raw_bytes` say what was
        cut); findings are bounded (limits.bound_findings): they may quote the input at any
        length."""
        text = as_text(raw)
        size = len(text.encode("utf-8", "surrogatepass"))
        truncated = size > RAW_KEEP_BYTES
        if truncated:
            text = text.encode("utf-8", "surrogatepass")[:RAW_KEEP_BYTES].decode("utf-8", "ignore")
        return cls(
            record_id=record_id,
            sample_id=judgement.sample_id,
            verdict=judgement.verdict,
            findings=bound_findings(judgement.findings),
            method=judgement.method,
            raw=text,
            received_at=received_at,
            checked_at=checked_at,
            notification_key=notification_key,
            correlation_id=correlation_id,
            raw_truncated=truncated,
            raw_bytes=size,
            indices=judgement.indices,
            source=source,
            content_digest=content_digest,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "recordId": self.record_id,
            "sampleId": self.sample_id,
            "verdict": self.verdict.value,
            "findings": [f.to_dict() for f in self.findings],
            "method": self.method,
            "raw": self.raw,
            "receivedAt": iso(self.received_at),
            "checkedAt": iso(self.checked_at),
            "notificationKey": self.notification_key,
            "correlationId": self.correlation_id,
            "rawTruncated": self.raw_truncated,
            "rawBytes": self.raw_bytes,
            "indices": None if self.indices is None else dict(self.indices),
            "source": self.source,
            "contentDigest": self.content_digest,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResultRecord:
        return cls(
            record_id=data["recordId"],
            sample_id=data.get("sampleId"),
            verdict=Verdict(data["verdict"]),
            findings=tuple(Finding.from_dict(f) for f in data.get("findings", [])),
            method=data.get("method"),
            raw=data.get("raw", ""),
            received_at=parse_iso(data["receivedAt"]),
            checked_at=parse_iso(data["checkedAt"]),
            notification_key=data.get("notificationKey"),
            correlation_id=data.get("correlationId"),
            raw_truncated=bool(data.get("rawTruncated", False)),
            raw_bytes=int(data.get("rawBytes", 0)),
            indices=data.get("indices"),
            source=data.get("source"),
            content_digest=data.get("contentDigest"),
        )


@dataclass(frozen=True, slots=True)
class NotificationRequest:
    """Body of a message on the notify queue: everything the e-mail needs, self-contained.

    `context` holds what identifies the measurement at the instrument (batchId,
    instrumentId, measuredAt, sampleType, as sent); `source` the file and line it came from.
    """

    key: str
    sample_id: str | None
    record_id: str
    verdict: Verdict
    findings: tuple[Finding, ...]
    method: str | None
    received_at: datetime
    excerpt: str = ""
    correlation_id: str | None = None
    source: str | None = None
    context: tuple[tuple[str, str], ...] = ()
    # A run decision (uvqc.runs.notices): batchId, code, anchor, affected, positions,
    # subject, body. None for a result's notification.
    run: dict[str, Any] | None = None

    @classmethod
    def for_record(cls, record: ResultRecord) -> NotificationRequest:
        if record.notification_key is None:
            raise ValueError(f"record {record.record_id} has no notification key")
        return cls(
            key=record.notification_key,
            sample_id=record.sample_id,
            record_id=record.record_id,
            verdict=record.verdict,
            findings=record.findings,
            method=record.method,
            received_at=record.received_at,
            excerpt=safe_excerpt(record.raw) if record.verdict is Verdict.REJECT else "",
            correlation_id=record.correlation_id,
            source=record.source,
            context=tuple(message_context(record.raw).items()),
        )

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "key": self.key,
            "sampleId": self.sample_id,
            "recordId": self.record_id,
            "verdict": self.verdict.value,
            "findings": [f.to_dict() for f in self.findings],
            "method": self.method,
            "receivedAt": iso(self.received_at),
            "excerpt": self.excerpt,
            "correlationId": self.correlation_id,
        }
        if self.source is not None:
            data["source"] = self.source
        if self.context:
            data["context"] = dict(self.context)
        if self.run is not None:
            data["run"] = self.run
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> NotificationRequest:
        data = json.loads(text)
        context = data.get("context") or {}
        return cls(
            key=data["key"],
            sample_id=data.get("sampleId"),
            record_id=data["recordId"],
            verdict=Verdict(data["verdict"]),
            findings=tuple(Finding.from_dict(f) for f in data.get("findings", [])),
            method=data.get("method"),
            received_at=parse_iso(data["receivedAt"]),
            excerpt=data.get("excerpt", ""),
            correlation_id=data.get("correlationId"),
            source=data.get("source"),
            context=tuple((str(k), str(v)) for k, v in dict(context).items()),
            run=data.get("run"),
        )


DIGEST_KIND = "digest"  # `run["kind"]` of a run digest request (uvqc.runs.notices)


def is_digest(request: NotificationRequest) -> bool:
    """Whether a request is a run digest (composed with figures by a DigestComposer)."""
    return (request.run or {}).get("kind") == DIGEST_KIND


class NotificationStatus(StrEnum):
    """Where a notification stands in the ledger."""

    SENDING = "sending"  # claimed by a worker; the lease says until when
    RETRYING = "retrying"  # a transient failure; the transport redelivers after a delay
    SENT = "sent"  # the relay accepted it; never sent again
    DEAD = "dead"  # permanent failure or retries exhausted; in the dead-letter queue


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at delivering a notification."""

    at: datetime
    outcome: str  # "sent" | "transient" | "permanent" | "exhausted" | "resend"
    detail: str = ""
    worker: str = ""
    channel: str = ""  # where it went: "smtp relay.lab:25 to a@x", "file var/outbox/....eml"

    def to_dict(self) -> dict[str, str]:
        data = {
            "at": iso(self.at),
            "outcome": self.outcome,
            "detail": self.detail,
            "worker": self.worker,
        }
        if self.channel:
            data["channel"] = self.channel
        return data

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Attempt:
        return cls(
            parse_iso(data["at"]),
            data["outcome"],
            data.get("detail", ""),
            data.get("worker", ""),
            data.get("channel", ""),
        )


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """The ledger row of one notification: the idempotency key and its delivery story."""

    key: str
    sample_id: str | None
    record_id: str
    status: NotificationStatus
    message_id: str
    created_at: datetime
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None
    delivered_to: tuple[str, ...] = ()
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)
    channel: str | None = None  # where the last attempt went (the channel and destination)
