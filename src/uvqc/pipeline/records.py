"""What the pipeline stores and passes between stages: plain, serialisable dataclasses.

- ResultRecord: one per received message (raw payload, verdict, findings, timestamps).
- NotificationRequest: what the check stage puts on the notify queue for a flagged or
  rejected result.
- NotificationRecord: the ledger row of one notification (status, attempts, Message-ID).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from uvqc.core.verdicts import Finding, Judgement, Verdict

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
    """A printable, single-line excerpt of a payload, safe to quote in an e-mail body."""
    text = as_text(raw)[: limit * 4]
    cleaned = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return cleaned[:limit] + ("..." if len(cleaned) > limit else "")


def notification_key(judgement: Judgement, raw: str | bytes) -> str:
    """Identity of a notification: the sample and its finding set (or the payload for a reject
    without a readable sample ID). The same result delivered twice maps to the same key."""
    findings = [(f.code, f.value, f.limit) for f in judgement.findings]
    if judgement.sample_id is not None:
        identity: Any = ["sample", judgement.sample_id, judgement.verdict.value, findings]
    else:
        digest = hashlib.sha256(as_text(raw).encode("utf-8", "surrogatepass")).hexdigest()
        identity = ["payload", digest, findings]
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]


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
    ) -> ResultRecord:
        text = as_text(raw)
        size = len(text.encode("utf-8", "surrogatepass"))
        truncated = size > RAW_KEEP_BYTES
        if truncated:
            text = text.encode("utf-8", "surrogatepass")[:RAW_KEEP_BYTES].decode("utf-8", "ignore")
        key = notification_key(judgement, raw) if judgement.needs_notification else None
        return cls(
            record_id=record_id,
            sample_id=judgement.sample_id,
            verdict=judgement.verdict,
            findings=judgement.findings,
            method=judgement.method,
            raw=text,
            received_at=received_at,
            checked_at=checked_at,
            notification_key=key,
            correlation_id=correlation_id,
            raw_truncated=truncated,
            raw_bytes=size,
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
        )


@dataclass(frozen=True, slots=True)
class NotificationRequest:
    """Body of a message on the notify queue: everything the e-mail needs, self-contained."""

    key: str
    sample_id: str | None
    record_id: str
    verdict: Verdict
    findings: tuple[Finding, ...]
    method: str | None
    received_at: datetime
    excerpt: str = ""
    correlation_id: str | None = None
    # A run decision (uvqc.runs.notices): batchId, code, anchor, affected, positions,
    # subject, body. None for a result's notification.
    run: dict[str, Any] | None = None

    @classmethod
    def for_record(cls, record: ResultRecord) -> NotificationRequest:
        if record.notification_key is None:
            raise ValueError(f"record {record.record_id} passed QC: nothing to notify")
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
        if self.run is not None:
            data["run"] = self.run
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> NotificationRequest:
        data = json.loads(text)
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
            run=data.get("run"),
        )


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

    def to_dict(self) -> dict[str, str]:
        return {
            "at": iso(self.at),
            "outcome": self.outcome,
            "detail": self.detail,
            "worker": self.worker,
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Attempt:
        return cls(
            parse_iso(data["at"]), data["outcome"], data.get("detail", ""), data.get("worker", "")
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
