"""Render a sample's story (`uvqc trace`) and dead letters (`uvqc dlq`) from the ports, so the
embedded and the AWS runtimes print the same thing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from uvqc.core.display import display_lines
from uvqc.pipeline.ports import DeadLetter, TraceSource
from uvqc.pipeline.records import NotificationRecord, ResultRecord, iso, safe_excerpt

RAW_SHOWN = 2000


@runtime_checkable
class RecordLookup(Protocol):
    """Optional TraceSource extension: find a result by its record (message) id."""

    def result_by_id(self, record_id: str) -> ResultRecord | None: ...

    def notification_by_key(self, key: str) -> NotificationRecord | None: ...


@dataclass
class Story:
    query: str
    results: list[ResultRecord] = field(default_factory=list)
    notifications: list[NotificationRecord] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.results or self.notifications)


def gather(source: TraceSource, query: str) -> Story:
    """Everything about a sample ID; failing that, about a record (message) id."""
    story = Story(query, source.results_for_sample(query), source.notifications_for_sample(query))
    if story.found or not isinstance(source, RecordLookup):
        return story
    record = source.result_by_id(query)
    if record is None:
        return story
    story.results = [record]
    if record.notification_key is not None:
        note = source.notification_by_key(record.notification_key)
        story.notifications = [note] if note is not None else []
    return story


def _notification_dict(n: NotificationRecord) -> dict[str, Any]:
    return {
        "key": n.key,
        "sampleId": n.sample_id,
        "recordId": n.record_id,
        "status": n.status.value,
        "messageId": n.message_id,
        "createdAt": iso(n.created_at),
        "sentAt": iso(n.sent_at) if n.sent_at else None,
        "leaseUntil": iso(n.lease_until) if n.lease_until else None,
        "lastError": n.last_error,
        "deliveredTo": list(n.delivered_to),
        "attempts": [a.to_dict() for a in n.attempts],
    }


def story_dict(story: Story) -> dict[str, Any]:
    return {
        "query": story.query,
        "results": [r.to_dict() for r in story.results],
        "notifications": [_notification_dict(n) for n in story.notifications],
    }


def _result_lines(r: ResultRecord, notes: dict[str, NotificationRecord]) -> list[str]:
    lines = [
        f"Result {r.record_id}",
        f"  received   {iso(r.received_at)}",
        f"  checked    {iso(r.checked_at)}",
        f"  verdict    {r.verdict.value.upper()}" + (f"  (method {r.method})" if r.method else ""),
    ]
    for f in r.findings:
        numbers = (
            "" if f.value is None and f.limit is None else f"  [value {f.value}, limit {f.limit}]"
        )
        lines.append(f"    - {f.severity.value}: {f.code}: {f.message}{numbers}")
    raw = safe_excerpt(r.raw, RAW_SHOWN)
    size = f"{r.raw_bytes} bytes" + (", truncated when stored" if r.raw_truncated else "")
    lines.append(f"  payload    ({size}) {raw}")
    if r.notification_key is None:
        lines.append("  notification: none needed (passed)")
    elif r.notification_key in notes:
        lines.extend(_notification_lines(notes[r.notification_key]))
    else:
        lines.append(f"  notification {r.notification_key}: queued, not attempted yet")
    return lines


def _notification_lines(n: NotificationRecord) -> list[str]:
    status = {
        "sent": f"DELIVERED at {iso(n.sent_at)}" if n.sent_at else "DELIVERED",
        "dead": "DEAD-LETTERED (see `uvqc dlq list`; `uvqc dlq redrive` retries it)",
        "retrying": "WAITING TO RETRY",
        "sending": "BEING SENT" + (f" (lease until {iso(n.lease_until)})" if n.lease_until else ""),
    }[n.status.value]
    lines = [
        f"  notification {n.key}",
        f"    Message-ID {n.message_id}",
        f"    status     {status}",
    ]
    if n.delivered_to:
        lines.append(f"    delivered to {', '.join(n.delivered_to)}")
    for i, a in enumerate(n.attempts, 1):
        who = f" (worker {a.worker})" if a.worker else ""
        lines.append(f"    attempt {i}: {iso(a.at)} {a.outcome}: {a.detail}{who}")
    if n.last_error and n.status.value != "sent":
        lines.append(f"    last error {n.last_error}")
    return lines


def story_text(story: Story) -> str:
    notes = {n.key: n for n in story.notifications}
    used: set[str] = set()
    lines = [f"Sample {story.query}: {len(story.results)} result(s)", ""]
    for r in story.results:
        lines.extend(_result_lines(r, notes))
        lines.append("")
        if r.notification_key:
            used.add(r.notification_key)
    for n in story.notifications:  # notifications whose result is not in the store (yet)
        if n.key not in used:
            lines.append(f"Notification for record {n.record_id}")
            lines.extend(_notification_lines(n))
            lines.append("")
    return display_lines("\n".join(lines))  # sample IDs and messages escaped for display


def dead_letter_dict(d: DeadLetter) -> dict[str, Any]:
    return {
        "messageId": d.message_id,
        "queue": d.queue,
        "sampleId": d.sample_id,
        "reason": d.reason,
        "deadAt": iso(d.dead_at) if d.dead_at else None,
        "receiveCount": d.receive_count,
        "body": d.body,
    }
