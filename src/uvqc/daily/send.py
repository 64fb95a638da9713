"""Queue the daily digest of a lab day: read the day (a DaySource), build the request
(uvqc.daily.digest), put it on the notify queue, and remember its content hash (DailyMarks),
the same on both runtimes (`uvqc digest daily`, the embedded worker's daily tick, the AWS
daily function).

Repeat only on change: if the day's content hash is the one remembered, nothing is queued
(the digest went out, or is on its way); a different one is queued marked as an update. The
mark is written after the request is queued: a crash between the two queues the same request
(same key) again, which the notify ledger drops, so an e-mail is never sent twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from uvqc.daily.digest import (
    DayFacts,
    LooseResult,
    Outside,
    content_hash,
    daily_request,
    day_bounds,
    run_of_day,
)
from uvqc.errors import InfrastructureError
from uvqc.pipeline.ports import NotificationQueue
from uvqc.pipeline.records import NotificationRequest


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run as a DaySource reads it: its method, status, last arrival and decision."""

    batch_id: str
    method: str
    status: str
    last_at: datetime
    document: dict[str, Any] | None


class DaySource(Protocol):
    """What a daily digest reads from a runtime's stores (SQLite, or DynamoDB + SQS)."""

    def runs_until(self, end: datetime) -> Sequence[StoredRun]:
        """At least every open run whose last result arrived before `end`, and every run
        whose last result arrived within the day that ends at `end` (more is allowed: the
        caller selects by day)."""
        ...

    def loose_results(self, start: datetime, end: datetime) -> Iterable[LooseResult]:
        """Flagged and rejected results received in [start, end) whose message names no
        `batchId` (uvqc.daily.digest.in_run)."""
        ...

    def dlq_depth(self) -> int | None:
        """Messages in the notify dead-letter queue now; None when not known."""
        ...


class DailyMarks(Protocol):
    """The content hash of the last daily digest queued for each (lab, date)."""

    def last(self, lab: str, day: date) -> str | None: ...

    def remember(self, lab: str, day: date, digest: str) -> None: ...


def day_facts(source: DaySource, *, lab: str, day: date, tz: str) -> DayFacts:
    """The facts of one lab day from a source."""
    start, end = day_bounds(day, tz)
    ended, still_open = [], []
    for run in sorted(source.runs_until(end), key=lambda r: r.batch_id):
        document = run.document or {"batchId": run.batch_id, "status": run.status}
        if run.status == "final" and start <= run.last_at < end:
            ended.append(run_of_day(document, run.method))
        elif run.status != "final" and run.last_at < end:
            still_open.append(run_of_day(document, run.method))
    return DayFacts(
        lab=lab,
        day=day,
        tz=tz,
        runs=tuple(ended),
        open_runs=tuple(still_open),
        outside=Outside.of(source.loose_results(start, end)),
        dlq_depth=source.dlq_depth(),
    )


@dataclass(frozen=True, slots=True)
class Queued:
    """What `queue_daily` did: the request (None when unchanged) and why."""

    facts: DayFacts
    digest: str
    request: NotificationRequest | None
    update: bool

    def describe(self) -> str:
        day = self.facts.day.isoformat()
        if self.request is None:
            return f"daily digest {self.facts.lab} {day}: unchanged since queued; nothing queued"
        what = "update" if self.update else "digest"
        subject = (self.request.run or {}).get("subject", "")
        return f"queued daily {what} {self.facts.lab} {day}: key {self.request.key} ({subject})"


def queue_daily(
    source: DaySource,
    marks: DailyMarks,
    notify: NotificationQueue,
    *,
    lab: str,
    day: date,
    tz: str,
    now: datetime,
) -> Queued:
    """Queue the digest of `day` unless its content was queued before (see the module
    docstring); InfrastructureError if the notify queue refused it (nothing remembered)."""
    facts = day_facts(source, lab=lab, day=day, tz=tz)
    digest = content_hash(facts)
    before = marks.last(lab, day)
    if before == digest:
        return Queued(facts, digest, None, False)
    request = daily_request(facts, update=before is not None, now=now)
    if notify.publish([request]):
        raise InfrastructureError(f"the daily digest of {day} could not be queued; try again")
    marks.remember(lab, day, digest)
    return Queued(facts, digest, request, before is not None)
