"""The daily digest's reads and marks on the embedded database (uvqc.daily.send).

Runs: the `runs` table (status, last arrival, decision document). Results outside runs: the
flagged and rejected rows of `results` received in the day (`received_at` is ISO 8601 UTC
with milliseconds, so text order is time order), without a `batchId` in their message. The
notify DLQ depth: the queue's own count. Marks: one `meta` row per (lab, date),
`daily:<lab>:<date>` -> the content hash last queued; and the automatic digest's own mark,
`daily-auto:<lab>` -> the last lab day the worker's tick queued (uvqc.daily.schedule).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime

from uvqc.adapters.sqlite.db import transaction
from uvqc.adapters.sqlite.queue import SqliteQueue
from uvqc.daily.digest import LooseResult, in_run
from uvqc.daily.send import StoredRun
from uvqc.pipeline.records import iso

DAY_SECONDS = 86400.0


class SqliteDaySource:
    """DaySource on the embedded database (any connection; only SELECTs)."""

    def __init__(self, conn: sqlite3.Connection, notify: SqliteQueue | None = None) -> None:
        self.conn = conn
        self.notify = notify

    def runs_until(self, end: datetime) -> list[StoredRun]:
        rows = self.conn.execute(
            "SELECT batch_id, method, status, last_at, decision FROM runs "
            "WHERE last_at < ? AND (status = 'open' OR last_at >= ?) ORDER BY batch_id",
            (end.timestamp(), end.timestamp() - 2 * DAY_SECONDS),
        ).fetchall()
        return [
            StoredRun(b, m, s, datetime.fromtimestamp(t, UTC), json.loads(d) if d else None)
            for b, m, s, t, d in rows
        ]

    def loose_results(self, start: datetime, end: datetime) -> Iterator[LooseResult]:
        for sample_id, verdict, raw in self.conn.execute(
            "SELECT sample_id, verdict, raw FROM results WHERE received_at >= ? "
            "AND received_at < ? AND verdict IN ('flag', 'reject') ORDER BY received_at",
            (iso(start), iso(end)),
        ):
            if not in_run(raw):
                yield LooseResult(sample_id, verdict)

    def dlq_depth(self) -> int | None:
        return None if self.notify is None else self.notify.dead_count()


def _name(lab: str, day: date) -> str:
    return f"daily:{lab}:{day.isoformat()}"


class SqliteDailyMarks:
    """DailyMarks in the database's `meta` table."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def last(self, lab: str, day: date) -> str | None:
        row = self.conn.execute(
            "SELECT value FROM meta WHERE name = ?", (_name(lab, day),)
        ).fetchone()
        return None if row is None else str(row[0])

    def remember(self, lab: str, day: date, digest: str) -> None:
        with transaction(self.conn) as c:
            c.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (_name(lab, day), digest)
            )

    def last_automatic(self, lab: str) -> date | None:
        """The last lab day the worker's automatic digest queued; None if it never did."""
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (_auto(lab),)).fetchone()
        return None if row is None else date.fromisoformat(str(row[0]))

    def remember_automatic(self, lab: str, day: date) -> None:
        with transaction(self.conn) as c:
            c.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                (_auto(lab), day.isoformat()),
            )


def _auto(lab: str) -> str:
    return f"daily-auto:{lab}"
