"""Housekeeping of the embedded database: what is removed, when, and what is never removed
without an export.

- Queue rows: a message's row is deleted when its stage deletes it (SqliteQueue.delete), so
  there are no "done" rows to sweep; dead letters stay until redriven (they are evidence).
- The notification ledger: a SENT or DEAD row whose last activity is older than the ledger
  retention (default 90 days, the same as the DynamoDB ledger's TTL `expiration`) is
  removed by `sweep`, which the worker runs on a schedule. 90 days is far longer than any
  redelivery can arrive (queue visibility, retries, the deduplication window), so removing
  the row can never cause a second e-mail for the same notification.
- Records are QC evidence and are kept by default. `uvqc export` writes them (CSV or JSON
  Lines, by received_at range) and writes a row into `exports`; `prune_records` drops only
  records inside a range an export covered, unless forced.
- Space: new files are created with `auto_vacuum=INCREMENTAL` (adapters/sqlite/db.py);
  `sweep` and `prune_records` give freed pages back to the file system with
  `PRAGMA incremental_vacuum`, so the file stays flat under a steady state. `sweep` also
  checkpoints the WAL with TRUNCATE: between sweeps the WAL file grows up to about
  `wal_autocheckpoint` pages (8000 x 4 KiB) and SQLite keeps that size, reusing it.

Times are the records' own ISO-8601 UTC strings (`2026-11-29T06:19:07.957Z`), compared as
text: the format is fixed-width, so text order is time order.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TextIO

from uvqc.adapters.sqlite.db import transaction
from uvqc.adapters.sqlite.queue import INTAKE, dlq_of
from uvqc.adapters.sqlite.store import SqliteStore
from uvqc.errors import InfrastructureError
from uvqc.housekeeping.export import ExportFormat, ExportSummary, write_records
from uvqc.pipeline.records import iso

TRUNCATE_WAIT_MS = 200  # the WAL truncation waits this long for readers, then gives up
DELETE_CHUNK = 1000  # rows per write transaction: the write lock is never held for long
LEDGER_RETENTION = timedelta(days=90)  # == adapters/dynamodb.py LEDGER_RETENTION (TTL)
FINISHED = ("sent", "dead")  # NotificationStatus values a sweep may remove


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one housekeeping pass did."""

    ledger_rows_removed: int
    pages_freed: int
    wal_truncated: bool = False


@dataclass(frozen=True, slots=True)
class ExportEntry:
    """One row of the `exports` table: the records with `covered_from <= receivedAt <
    covered_to` were written to `destination` at `exported_at`."""

    id: int
    exported_at: str
    format: str
    destination: str
    since: str | None
    until: str | None
    covered_from: str
    covered_to: str
    records: int
    sha256: str


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What `prune_records` removed (or, when refused, what it would not)."""

    removed: int
    not_exported: int
    pages_freed: int


def _delete_in_chunks(
    conn: sqlite3.Connection, table: str, where: str, args: tuple[object, ...]
) -> int:
    """DELETE FROM table WHERE where, DELETE_CHUNK rows per transaction; rows removed."""
    removed = 0
    while True:
        with transaction(conn) as c:
            cur = c.execute(
                f"DELETE FROM {table} WHERE rowid IN "
                f"(SELECT rowid FROM {table} WHERE {where} LIMIT {DELETE_CHUNK})",
                args,
            )
            n = cur.rowcount
        removed += n
        if n < DELETE_CHUNK:
            return removed


def incremental_vacuum(conn: sqlite3.Connection) -> int:
    """Give the file's free pages back to the file system (auto_vacuum=INCREMENTAL files;
    a no-op on others). Returns the number of pages freed."""
    (mode,) = conn.execute("PRAGMA auto_vacuum").fetchone()
    if mode != 2:  # 2 = INCREMENTAL
        return 0
    (free,) = conn.execute("PRAGMA freelist_count").fetchone()
    if not free:
        return 0
    # executescript steps the pragma to completion: through execute(), Python's sqlite3
    # steps it once, which frees a single page. It runs as its own write transaction.
    lock = getattr(conn, "write_lock", None) or threading.Lock()
    with lock:
        try:
            conn.executescript("PRAGMA incremental_vacuum;")
        except sqlite3.Error as exc:
            raise InfrastructureError(f"incremental vacuum failed: {exc}") from exc
    (left,) = conn.execute("PRAGMA freelist_count").fetchone()
    return int(free) - int(left)


def sweep(
    conn: sqlite3.Connection,
    *,
    now: datetime | None = None,
    ledger_retention: timedelta = LEDGER_RETENTION,
) -> SweepReport:
    """One housekeeping pass: expired SENT/DEAD ledger rows out, free pages back."""
    cutoff = iso((now or datetime.now(UTC)) - ledger_retention)
    removed = _delete_in_chunks(
        conn,
        "notifications",
        "status IN (?, ?) AND COALESCE(sent_at, created_at) < ?",
        (*FINISHED, cutoff),
    )
    freed = incremental_vacuum(conn)
    return SweepReport(removed, freed, truncate_wal(conn))


def truncate_wal(conn: sqlite3.Connection) -> bool:
    """Checkpoint the WAL into the database and truncate the WAL file to zero bytes; False
    when a reader (another connection's open transaction) kept it from completing."""
    lock = getattr(conn, "write_lock", None) or threading.Lock()
    with lock:
        # A reader (an export's snapshot, another process) would make TRUNCATE wait for the
        # whole busy timeout while this thread holds the write lock: wait briefly instead;
        # the next sweep tries again.
        (timeout,) = conn.execute("PRAGMA busy_timeout").fetchone()
        try:
            conn.execute(f"PRAGMA busy_timeout={TRUNCATE_WAIT_MS}")
            (busy, _, _) = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            raise InfrastructureError(f"WAL checkpoint failed: {exc}") from exc
        finally:
            conn.execute(f"PRAGMA busy_timeout={int(timeout)}")
    return int(busy) == 0


# -- exports -------------------------------------------------------------------------------


def safe_until(conn: sqlite3.Connection, now: datetime) -> str:
    """The end of the received_at range an export made now can vouch for: `now`, or earlier
    if a message is still waiting on the intake queue (or its DLQ). Such a message gets its
    record later, with received_at = the time the queue accepted it, i.e. inside a range
    already exported; the coverage must stop before it."""
    (oldest,) = conn.execute(
        "SELECT MIN(sent_at) FROM messages WHERE queue IN (?, ?)", (INTAKE, dlq_of(INTAKE))
    ).fetchone()
    end = now if oldest is None else min(now, datetime.fromtimestamp(float(oldest), UTC))
    return iso(end)


def record_export(
    conn: sqlite3.Connection,
    *,
    exported_at: datetime,
    fmt: str,
    destination: str,
    since: str | None,
    until: str | None,
    covered_to: str,
    records: int,
    sha256: str,
) -> ExportEntry:
    """Write the `exports` row of a finished export (the covered range is [since or the
    beginning, min(until, covered_to)))."""
    covered_from = since or ""
    end = covered_to if until is None else min(until, covered_to)
    with transaction(conn) as c:
        cur = c.execute(
            "INSERT INTO exports (exported_at, format, destination, since, until, covered_from, "
            "covered_to, records, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (iso(exported_at), fmt, destination, since, until, covered_from, end, records, sha256),
        )
        row_id = int(cur.lastrowid or 0)
    return ExportEntry(
        row_id, iso(exported_at), fmt, destination, since, until, covered_from, end, records, sha256
    )


def exports(conn: sqlite3.Connection) -> list[ExportEntry]:
    rows = conn.execute(
        "SELECT id, exported_at, format, destination, since, until, covered_from, covered_to, "
        "records, sha256 FROM exports ORDER BY id"
    ).fetchall()
    return [ExportEntry(*r) for r in rows]


_NOT_COVERED = (
    "NOT EXISTS (SELECT 1 FROM exports e WHERE results.received_at >= e.covered_from "
    "AND results.received_at < e.covered_to)"
)


def not_exported_before(conn: sqlite3.Connection, before: str) -> tuple[int, str | None]:
    """How many records received before `before` no export covers, and the earliest one's
    received_at."""
    count, first = conn.execute(
        f"SELECT COUNT(*), MIN(received_at) FROM results WHERE received_at < ? AND {_NOT_COVERED}",
        (before,),
    ).fetchone()
    return int(count), first


def prune_records(conn: sqlite3.Connection, before: str, *, force: bool = False) -> PruneReport:
    """Delete the records received before `before`: only those an export covered, or all of
    them with `force`. Refuses (removes nothing) when any is not covered and not `force`:
    the caller reports `not_exported`."""
    uncovered, _ = not_exported_before(conn, before)
    if uncovered and not force:
        return PruneReport(0, uncovered, 0)
    removed = _delete_in_chunks(conn, "results", "received_at < ?", (before,))
    return PruneReport(removed, uncovered, incremental_vacuum(conn))


def file_bytes(conn: sqlite3.Connection) -> int:
    """Bytes the database occupies in pages (page_count x page_size), WAL excluded."""
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    (size,) = conn.execute("PRAGMA page_size").fetchone()
    return int(pages) * int(size)


def export_records(
    conn: sqlite3.Connection,
    store: SqliteStore,
    out: TextIO,
    *,
    fmt: ExportFormat,
    since: str | None,
    until: str | None,
    destination: str,
    now: datetime | None = None,
    note: bool = True,
) -> tuple[ExportSummary, ExportEntry | None]:
    """Write the records with since <= received_at < until to `out` from one read snapshot,
    then note the export in `exports` (only once everything was written: an export that
    fails half-way covers nothing; with `note=False`, never: a pipe or a device keeps no
    evidence `uvqc prune` may rely on). `store` must be on `conn`."""
    moment = now or datetime.now(UTC)
    conn.execute("BEGIN")  # deferred: a read snapshot, no write lock
    try:
        covered_to = safe_until(conn, moment)
        summary = write_records(store.results_between(since, until), out, fmt)
    finally:
        conn.execute("COMMIT")
    out.flush()
    if not note:
        return summary, None
    entry = record_export(
        conn,
        exported_at=moment,
        fmt=fmt,
        destination=destination,
        since=since,
        until=until,
        covered_to=covered_to,
        records=summary.records,
        sha256=summary.sha256,
    )
    return summary, entry
