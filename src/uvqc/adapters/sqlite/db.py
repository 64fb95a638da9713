"""One SQLite database file for the embedded runtime: queues, records and the ledger.

WAL journal, `synchronous=FULL` (every commit is on disk before it returns: durable over
kill -9 and power loss), a busy timeout so several worker processes can share the file, and
a schema migrated by `PRAGMA user_version`. Writers use `BEGIN IMMEDIATE` so two processes
never both read a row and then update it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from uvqc.errors import InfrastructureError

SCHEMA_VERSION = 6
BUSY_TIMEOUT_MS = 30_000
# Page cache per connection (default 2 MiB): records and their sample-id index outgrow it
# within ~20,000 results, and every batch then re-reads index pages from the OS.
CACHE_KIB = 64 * 1024
Synchronous = Literal["FULL", "NORMAL"]

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE messages (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        id            TEXT    NOT NULL UNIQUE,
        queue         TEXT    NOT NULL,
        body          TEXT    NOT NULL,
        sent_at       REAL    NOT NULL,
        visible_at    REAL    NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        in_flight     INTEGER NOT NULL DEFAULT 0,
        first_received_at REAL,
        source_queue  TEXT,
        dead_reason   TEXT,
        dead_at       REAL
    );
    CREATE INDEX messages_ready ON messages (queue, visible_at);

    CREATE TABLE results (
        record_id        TEXT PRIMARY KEY,
        sample_id        TEXT,
        verdict          TEXT NOT NULL,
        findings         TEXT NOT NULL,
        method           TEXT,
        raw              TEXT NOT NULL,
        raw_truncated    INTEGER NOT NULL DEFAULT 0,
        raw_bytes        INTEGER NOT NULL DEFAULT 0,
        received_at      TEXT NOT NULL,
        checked_at       TEXT NOT NULL,
        notification_key TEXT,
        correlation_id   TEXT
    );
    CREATE INDEX results_sample ON results (sample_id);

    CREATE TABLE notifications (
        key          TEXT PRIMARY KEY,
        sample_id    TEXT,
        record_id    TEXT NOT NULL,
        status       TEXT NOT NULL,
        message_id   TEXT NOT NULL,
        attempts     TEXT NOT NULL DEFAULT '[]',
        last_error   TEXT,
        delivered_to TEXT NOT NULL DEFAULT '[]',
        lease_until  TEXT,
        created_at   TEXT NOT NULL,
        sent_at      TEXT
    );
    CREATE INDEX notifications_sample ON notifications (sample_id);
    CREATE INDEX notifications_record ON notifications (record_id);
    """,
    # g12: instrument files imported by `uvqc watch` (content digest: imported exactly once).
    6: """
    CREATE TABLE ingested_files (
        sha256      TEXT PRIMARY KEY,
        file        TEXT NOT NULL,
        status      TEXT NOT NULL,
        results     INTEGER NOT NULL,
        reason      TEXT,
        ingested_at TEXT NOT NULL
    );
    """,
}


# One write lock per database file and process. Threads of one process (e.g. the check and
# notify stages of `uvqc run`) queue on it and wake as soon as it is free; without it they
# meet in SQLite's busy handler, which sleeps in growing steps (1, 2, 5 ... 100 ms) and made
# the notify stage wait far longer than the other thread held the lock. Other processes are
# still serialised by SQLite itself (BEGIN IMMEDIATE + busy_timeout).
_FILE_LOCKS: dict[str, threading.Lock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


class _Connection(sqlite3.Connection):
    """A connection that knows its file's in-process write lock."""

    write_lock: threading.Lock


def _file_lock(path: Path) -> threading.Lock:
    key = str(path.resolve())
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(key, threading.Lock())


def connect(path: Path, *, synchronous: Synchronous = "FULL") -> sqlite3.Connection:
    """Open (creating and migrating if needed) the database; autocommit mode, explicit
    transactions only (see `transaction`)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
            factory=_Connection,
        )
        conn.write_lock = _file_lock(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        conn.execute("PRAGMA wal_autocheckpoint=8000")
        _migrate(conn)
    except (sqlite3.Error, OSError) as exc:
        raise InfrastructureError(f"cannot open the database {path}: {exc}") from exc
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error); SQLite errors become
    InfrastructureError so the stages retry the message through its transport. Nested use on
    the same connection joins the outer transaction (a unit of work: one commit, one fsync)."""
    if conn.in_transaction:
        # Inside a unit of work this thread already opened on this connection: join it; the
        # outer transaction commits (or rolls back) everything at once.
        try:
            yield conn
        except sqlite3.Error as exc:
            raise InfrastructureError(f"database error: {exc}") from exc
        return
    lock = getattr(conn, "write_lock", None) or threading.Lock()  # not from `connect`: own
    with lock:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise InfrastructureError(f"database busy or unavailable: {exc}") from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise InfrastructureError(f"database error: {exc}") from exc
            raise


def _migrate(conn: sqlite3.Connection) -> None:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version >= SCHEMA_VERSION:
        return
    with transaction(conn):
        # Another process may have migrated between our check and the lock.
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        for target in range(version + 1, SCHEMA_VERSION + 1):
            # .get: numbers are assigned per branch and may have gaps until merged.
            for statement in _MIGRATIONS.get(target, "").split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={target}")
