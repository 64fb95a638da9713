"""Render a sample's story (`uvqc trace`) and dead letters (`uvqc dlq`) from the ports, so the
embedded and the AWS runtimes print the same thing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from uvqc.core.display import display_lines
from uvqc.pipeline.ports import DeadLetter, TraceSource
from uvqc.pipeline.records import NotificationRecord, ResultRecord, iso, safe_excerpt
from uvqc.runs.report import email_phrase

RAW_SHOWN = 2000


@runtime_checkable
class RecordLookup(Protocol):
    """Optional TraceSource extension: find a result by its record (message) id, a
    notification by its key, and every result a notification covered."""

    def result_by_id(self, record_id: str) -> ResultRecord | None: ...

    def notification_by_key(self, key: str) -> NotificationRecord | None: ...

    def results_for_key(self, key: str) -> list[ResultRecord]: ...


# `<uvqc.KEY@domain>` (with or without the brackets): the Message-ID uvqc gives each e-mail.
_MESSAGE_ID = re.compile(r"^<?uvqc\.([0-9a-f]{16,64})@[^>\s]*>?$", re.IGNORECASE)
_KEY = re.compile(r"^[0-9a-f]{40}$")


@runtime_checkable
class RunVerdictSource(Protocol):
    """Optional TraceSource extension: run QC's verdict changes (uvqc.runs)."""

    def run_verdicts_for_sample(self, sample_id: str) -> list[Any]: ...


@runtime_checkable
class RunEmailSource(Protocol):
    """Optional TraceSource extension: the run decisions naming a sample and the e-mail that
    announced each (its own, a group or the run digest; uvqc.runs.grouping.coverage)."""

    def run_emails_for_sample(self, sample_id: str) -> list[dict[str, Any]]: ...


@dataclass
class Story:
    query: str
    results: list[ResultRecord] = field(default_factory=list)
    notifications: list[NotificationRecord] = field(default_factory=list)
    kind: str = "sample"  # what the query named: sample | notification | record
    run_verdicts: list[Any] = field(default_factory=list)  # VerdictChange, oldest first
    run_emails: list[dict[str, Any]] = field(default_factory=list)  # grouping.coverage

    @property
    def found(self) -> bool:
        return bool(self.results or self.notifications)


def key_of(query: str) -> str | None:
    """The notification key named by a Message-ID (`<uvqc.KEY@domain>`) or a bare key."""
    text = query.strip()
    match = _MESSAGE_ID.match(text)
    if match:
        return match.group(1).lower()
    return text.lower() if _KEY.match(text.lower()) else None


def gather(source: TraceSource, query: str) -> Story:
    """Everything about a sample ID; failing that, about a notification (its key or its
    Message-ID, with or without <>) or a record (message) id. A Message-ID is never taken
    for a sample ID."""
    is_message_id = _MESSAGE_ID.match(query.strip()) is not None
    if not is_message_id:
        story = Story(
            query, source.results_for_sample(query), source.notifications_for_sample(query)
        )
        if isinstance(source, RunVerdictSource):
            story.run_verdicts = source.run_verdicts_for_sample(query)
        if isinstance(source, RunEmailSource):
            story.run_emails = source.run_emails_for_sample(query)
        if story.found:
            return story
    if not isinstance(source, RecordLookup):
        return Story(query, kind="notification" if is_message_id else "sample")
    key = key_of(query)
    if key is not None:
        note = source.notification_by_key(key)
        covered = source.results_for_key(key)
        if note is not None or covered:
            return Story(query, covered, [note] if note else [], kind="notification")
    record = source.result_by_id(query)
    if record is None:
        return Story(query, kind="notification" if is_message_id else "record")
    story = Story(query, [record], kind="record")
    if record.notification_key is not None:
        note = source.notification_by_key(record.notification_key)
        story.notifications = [note] if note is not None else []
    return story


def _notification_dict(n: NotificationRecord, story: Story) -> dict[str, Any]:
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
        "channel": n.channel,
        "attempts": [a.to_dict() for a in n.attempts],
        "coversRecords": [r.record_id for r in story.results if r.notification_key == n.key],
    }


def story_dict(story: Story) -> dict[str, Any]:
    notes = {n.key: n for n in story.notifications}
    results = []
    for r in story.results:
        data = r.to_dict()
        note = notes.get(r.notification_key or "")
        data["coveredBy"] = (
            None
            if note is None
            else {
                "notificationKey": note.key,
                "messageId": note.message_id,
                "sentForRecord": note.record_id,
                "duplicate": note.record_id != r.record_id,
                "status": note.status.value,
                "channel": note.channel,
            }
        )
        results.append(data)
    return {
        "query": story.query,
        "kind": story.kind,
        "results": results,
        "notifications": [_notification_dict(n, story) for n in story.notifications],
        "runVerdicts": [
            {
                "recordId": c.record_id,
                "batchId": c.batch_id,
                "at": iso(c.at),
                "verdict": c.verdict,
                "findings": list(c.findings),
            }
            for c in story.run_verdicts
        ],
        "runEmails": story.run_emails,
    }


def _number(value: float) -> str:
    return f"{value:.6g}"


def _result_lines(
    r: ResultRecord,
    notes: dict[str, NotificationRecord],
    db_hint: str = "",
    changes: Sequence[Any] = (),
) -> list[str]:
    lines = [f"Result {r.record_id}"]
    if r.sample_id is not None:
        lines.append(f"  sample     {safe_excerpt(r.sample_id, 200)}")
    if r.source:
        lines.append(f"  source     {r.source}")
    lines += [
        f"  received   {iso(r.received_at)}",
        f"  checked    {iso(r.checked_at)}",
        f"  verdict    {r.verdict.value.upper()}" + (f"  (method {r.method})" if r.method else ""),
    ]
    for f in r.findings:
        numbers = (
            "" if f.value is None and f.limit is None else f"  [value {f.value}, limit {f.limit}]"
        )
        lines.append(f"    - {f.severity.value}: {f.code}: {f.message}{numbers}")
    if r.indices:
        shown = [f"{k} {_number(v)}" for k, v in r.indices.items() if v is not None]
        lines.append(f"  indices    {', '.join(shown) or 'none (the scan covers no index range)'}")
    for c in changes:
        codes = ", ".join(c.findings) or "no findings"
        lines.append(
            f"  run QC     {iso(c.at)}: {c.verdict.upper()} ({codes}) in run {c.batch_id}"
            f"  (uvqc runs show {c.batch_id})"
        )
    raw = safe_excerpt(r.raw, RAW_SHOWN)
    size = f"{r.raw_bytes} bytes" + (", truncated when stored" if r.raw_truncated else "")
    lines.append(f"  payload    ({size}) {raw}")
    flagged_by_run = [c for c in changes if c.verdict != "pass"]
    if r.notification_key is None and flagged_by_run:
        batch = flagged_by_run[-1].batch_id
        lines.append(
            "  notification: none at check time (it passed); run QC's decisions are e-mailed "
            f"once per run, listing this sample: `uvqc runs show {batch}{db_hint}`"
        )
    elif r.notification_key is None:
        lines.append("  notification: none needed (passed)")
    elif r.notification_key in notes:
        note = notes[r.notification_key]
        if note.record_id != r.record_id:
            lines.append(
                f"  covered by the e-mail for record {note.record_id} (same content within "
                f"the deduplication window: a duplicate, not e-mailed again)"
            )
        lines.extend(_notification_lines(note, db_hint))
    else:
        lines.append(f"  notification {r.notification_key}: queued, not attempted yet")
    return lines


def _notification_lines(n: NotificationRecord, db_hint: str = "") -> list[str]:
    status = {
        "sent": f"DELIVERED at {iso(n.sent_at)}" if n.sent_at else "DELIVERED",
        "dead": f"DEAD-LETTERED (see `uvqc dlq list{db_hint}`; `uvqc dlq redrive{db_hint}` "
        "retries it)",
        "retrying": "WAITING TO RETRY",
        "sending": "BEING SENT" + (f" (lease until {iso(n.lease_until)})" if n.lease_until else ""),
    }[n.status.value]
    lines = [
        f"  notification {n.key}",
        f"    Message-ID {n.message_id}",
        f"    status     {status}",
    ]
    if n.channel:
        lines.append(f"    went to    {n.channel}")
    if n.delivered_to:
        lines.append(f"    delivered to {', '.join(n.delivered_to)}")
    for i, a in enumerate(n.attempts, 1):
        who = f" (worker {a.worker})" if a.worker else ""
        via = f" via {a.channel}" if a.channel else ""
        lines.append(f"    attempt {i}: {iso(a.at)} {a.outcome}: {a.detail}{via}{who}")
    if n.last_error and n.status.value != "sent":
        lines.append(f"    last error {n.last_error}")
    return lines


def _run_email_lines(emails: Sequence[dict[str, Any]], db_hint: str) -> list[str]:
    """Which e-mail announced each run decision naming the sample."""
    if not emails:
        return []
    lines = ["Run decisions naming this sample (each e-mailed once):"]
    for e in emails:
        lines.append(f"  {e['code']} in run {e['batchId']}: {email_phrase(e)}")
    batches = dict.fromkeys(e["batchId"] for e in emails)
    lines += [f"  (uvqc runs show {b}{db_hint})" for b in batches]
    return [*lines, ""]


def story_text(story: Story, db_hint: str = "") -> str:
    """The story as text; `db_hint` (" --db PATH") completes the commands it suggests."""
    notes = {n.key: n for n in story.notifications}
    used: set[str] = set()
    title = {"sample": "Sample", "notification": "Notification", "record": "Record"}
    lines = [f"{title.get(story.kind, 'Sample')} {story.query}: {len(story.results)} result(s)", ""]
    for r in story.results:
        changes = [c for c in story.run_verdicts if c.record_id == r.record_id]
        lines.extend(_result_lines(r, notes, db_hint, changes))
        lines.append("")
        if r.notification_key:
            used.add(r.notification_key)
    for n in story.notifications:  # notifications whose result is not in the store (yet)
        if n.key not in used:
            lines.append(f"Notification for record {n.record_id}")
            lines.extend(_notification_lines(n, db_hint))
            lines.append("")
    lines.extend(_run_email_lines(story.run_emails, db_hint))
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
