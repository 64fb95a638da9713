"""One SQLite database file for the embedded runtime: queues, records and the ledger.

WAL journal, `synchronous=FULL` (every commit is on disk before it returns: durable over
kill -9 and power loss), a busy timeout so several worker processes can share the file, and
a schema migrated by `PRAGMA user_version`. Writers use `BEGIN IMMEDIATE` so two processes
never both read a row and then update it.

Opening is explicit about what the caller may do to the file:

* `connect` (writing commands: submit, work, run, dlq redrive, db migrate) creates a missing
  file (unless `create=False`), switches it to WAL and migrates its schema to
  SCHEMA_VERSION, logging each upgrade. Creation is race-free between processes: the steps
  that SQLite answers with an immediate SQLITE_BUSY (switching the journal mode while another
  process creates the file, where the busy handler is not consulted) are retried until the
  busy timeout.
* `connect_readonly` (read commands: trace, dlq list, dlq show) opens with `mode=ro` and
  never writes: a missing, empty, foreign, newer, older or corrupt file is a
  DatabaseFileError naming the file and what to do.

uvqc files carry `PRAGMA application_id` = APPLICATION_ID ("uvqc"), so another application's
SQLite file is recognised as such (files from before migration 3 are recognised by their
tables and get the id when migrated).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from uvqc.errors import DatabaseBusyError, DatabaseFileError, InfrastructureError

log = logging.getLogger("uvqc.adapters.sqlite")

SCHEMA_VERSION = 9
APPLICATION_ID = 0x75767163  # the bytes "uvqc" (PRAGMA application_id, offset 68 of the file)
UVQC_TABLES = frozenset({"messages", "results", "notifications"})
BUSY_TIMEOUT_MS = 30_000
# Page cache per connection (SQLite's default is 2 MiB). The worker's connection gets more:
# records and their sample-id index outgrow 2 MiB within ~20,000 results, and every batch
# then re-reads index pages from the OS page cache. A process holds several connections
# (`uvqc run`: 6), and each cache grows up to its size, so the big one is given to the
# worker's connection only (see local/runtime.py); 64 MiB on every connection made
# `uvqc run` reach 134 MB peak RSS at 1M results.
CACHE_KIB = 2 * 1024
WORK_CACHE_KIB = 16 * 1024
Synchronous = Literal["FULL", "NORMAL"]
_BUSY_NAMES = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})
_BROKEN_NAMES = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})
T = TypeVar("T")

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
    # n8a: notification identity (content + deduplication window), where each e-mail went,
    # the source of a result, and the channel a database is bound to.
    2: """
    ALTER TABLE results ADD COLUMN source TEXT;
    ALTER TABLE results ADD COLUMN content_digest TEXT;
    CREATE INDEX results_notification ON results (notification_key)
        WHERE notification_key IS NOT NULL;
    ALTER TABLE notifications ADD COLUMN channel TEXT;
    CREATE TABLE result_windows (
        digest       TEXT PRIMARY KEY,
        window_start TEXT NOT NULL,
        key          TEXT NOT NULL
    );
    CREATE TABLE meta (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # Mark the file as uvqc's, so a foreign SQLite file is told apart from ours.
    3: f"PRAGMA application_id = {APPLICATION_ID}",
    # Exports of records (`uvqc export`): what was written, when, for which received_at
    # range; `uvqc prune` drops only records an export covered (uvqc.housekeeping).
    4: """
    CREATE TABLE exports (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        exported_at  TEXT    NOT NULL,
        format       TEXT    NOT NULL,
        destination  TEXT    NOT NULL,
        since        TEXT,
        until        TEXT,
        covered_from TEXT    NOT NULL,
        covered_to   TEXT    NOT NULL,
        records      INTEGER NOT NULL,
        sha256       TEXT    NOT NULL
    );
    """,
    # 5: analytical runs (uvqc.runs, adapters/sqlite/runs.py, docs/RUNS.md)
    5: """
    CREATE TABLE runs (
        batch_id     TEXT PRIMARY KEY,
        method       TEXT NOT NULL,
        status       TEXT NOT NULL DEFAULT 'open',
        verdict      TEXT NOT NULL DEFAULT 'pass',
        positions    INTEGER NOT NULL DEFAULT 0,
        batch_size   INTEGER,
        first_at     TEXT NOT NULL,
        last_at      REAL NOT NULL,
        finalised_at TEXT,
        version      INTEGER NOT NULL DEFAULT 0,
        decision     TEXT
    );
    CREATE INDEX runs_open ON runs (status, last_at);

    CREATE TABLE run_results (
        batch_id  TEXT NOT NULL,
        record_id TEXT NOT NULL,
        result    TEXT NOT NULL,
        PRIMARY KEY (batch_id, record_id)
    );

    CREATE TABLE run_verdicts (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        record_id TEXT NOT NULL,
        batch_id  TEXT NOT NULL,
        sample_id TEXT,
        at        TEXT NOT NULL,
        verdict   TEXT NOT NULL,
        findings  TEXT NOT NULL
    );
    CREATE INDEX run_verdicts_sample ON run_verdicts (sample_id);

    CREATE TABLE run_notices (
        key        TEXT PRIMARY KEY,
        batch_id   TEXT NOT NULL,
        anchor     TEXT NOT NULL,
        code       TEXT NOT NULL,
        affected   TEXT NOT NULL,
        request    TEXT NOT NULL,
        created_at TEXT NOT NULL,
        published  INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX run_notices_batch ON run_notices (batch_id);
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
    # Submissions (n8c): where each queued result came from and its stable identity, the
    # run that queued it, and every submission ever queued, so a re-run skips what was sent.
    7: """
    ALTER TABLE messages ADD COLUMN source TEXT;
    ALTER TABLE messages ADD COLUMN submission_id TEXT;
    ALTER TABLE messages ADD COLUMN submitted_by TEXT;
    CREATE TABLE submissions (
        id BLOB PRIMARY KEY  -- first 16 bytes of the submission id: a small, hot index
    ) WITHOUT ROWID;
    """,
    # Water-quality indices of a scanned result (uvqc.spectra.indices), as JSON.
    8: "ALTER TABLE results ADD COLUMN indices TEXT",
    # Grouped run decision e-mails (uvqc.runs.grouping): a held decision waits until
    # held_until (epoch seconds); covered_by is the key of the group or digest e-mail that
    # announced it (NULL: its own e-mail).
    9: """
    ALTER TABLE run_notices ADD COLUMN held_until REAL;
    ALTER TABLE run_notices ADD COLUMN covered_by TEXT;
    CREATE INDEX run_notices_held ON run_notices (held_until)
        WHERE held_until IS NOT NULL AND covered_by IS NULL;
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


def is_busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds a lock; trying later helps."""
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(tuple(_BUSY_NAMES)) or "database is locked" in str(exc)


def _translated(exc: sqlite3.Error, path: Path, doing: str) -> Exception:
    """The uvqc error for a SQLite error: busy, a broken/foreign file, or infrastructure."""
    if is_busy(exc):
        return DatabaseBusyError(f"{doing} {path}: another process holds its lock ({exc})")
    if getattr(exc, "sqlite_errorname", "").startswith(tuple(_BROKEN_NAMES)):
        return DatabaseFileError(
            f"{path} is not a SQLite database, or it is corrupt ({exc}): check --db / "
            "UVQC_DB; restore it from a backup if it was uvqc's"
        )
    return InfrastructureError(f"{doing} {path}: {exc}")


@dataclass(frozen=True, slots=True)
class FileState:
    """What a database file is, read from its header and schema."""

    application_id: int
    version: int
    tables: frozenset[str]
    journal_mode: str


def _state(conn: sqlite3.Connection) -> FileState:
    (app_id,) = conn.execute("PRAGMA application_id").fetchone()
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    return FileState(int(app_id), int(version), frozenset(r[0] for r in rows), str(mode).lower())


def _check_usable(path: Path, state: FileState, *, reading: bool) -> None:
    """Refuse a file uvqc must not touch (and, for reads, one it cannot read as it is)."""
    check = "check --db / UVQC_DB"
    if state.application_id not in (0, APPLICATION_ID):
        raise DatabaseFileError(
            f"{path} belongs to another application (SQLite application_id "
            f"{state.application_id:#x}; uvqc's is {APPLICATION_ID:#x}): {check}"
        )
    if state.application_id == 0 and state.tables and not state.tables >= UVQC_TABLES:
        names = ", ".join(sorted(state.tables))
        shown = names if len(names) <= 60 else names[:57] + "..."
        raise DatabaseFileError(
            f"{path} is another application's SQLite database (tables: {shown}), not "
            f"uvqc's: {check}"
        )
    if state.version > SCHEMA_VERSION:
        raise DatabaseFileError(
            f"{path} was written by a newer uvqc (schema {state.version}; this uvqc knows "
            f"schemas up to {SCHEMA_VERSION}): upgrade uvqc to read it"
        )
    if not reading:
        return
    if not state.tables:
        raise DatabaseFileError(
            f"{path} is an empty database: nothing was ever submitted to it. {check}, or "
            f"`uvqc run FILE --db {path}` first"
        )
    if state.version < SCHEMA_VERSION:
        raise DatabaseFileError(
            f"{path} has schema {state.version}; this uvqc reads schema {SCHEMA_VERSION}: "
            f"run `uvqc db migrate --db {path}` first (writing commands migrate by themselves)"
        )


def retry_busy(action: Callable[[], T], *, timeout_s: float = BUSY_TIMEOUT_MS / 1000) -> T:
    """Run `action`, trying again while SQLite answers busy, until `timeout_s`. For the
    statements where SQLite returns SQLITE_BUSY at once instead of calling the busy handler
    (changing the journal mode while another process creates the file)."""
    deadline = time.monotonic() + timeout_s
    pause = 0.002
    while True:
        try:
            return action()
        except (sqlite3.OperationalError, DatabaseBusyError) as exc:
            busy = isinstance(exc, DatabaseBusyError) or is_busy(exc)
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(pause * random.uniform(0.5, 1.5))
        pause = min(pause * 2, 0.1)


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """WAL journal and the current schema: nothing to do for a file that has both (the
    common case); otherwise set up, retrying what another process's setup makes busy."""
    state = retry_busy(lambda: _state(conn))
    _check_usable(path, state, reading=False)
    if state.journal_mode != "wal":
        # auto_vacuum must be set before the file's first write (the journal mode included);
        # on an existing file it changes nothing.
        retry_busy(lambda: conn.execute("PRAGMA auto_vacuum=INCREMENTAL").fetchone())
        retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone())
    if state.version < SCHEMA_VERSION:
        retry_busy(lambda: _migrate(conn, path))


def connect(
    path: Path,
    *,
    synchronous: Synchronous = "FULL",
    create: bool = True,
    cache_kib: int = CACHE_KIB,
) -> sqlite3.Connection:
    """Open a database for writing, creating it (unless `create=False`) and migrating it to
    SCHEMA_VERSION; autocommit mode, explicit transactions only (see `transaction`). A new
    file gets `auto_vacuum=INCREMENTAL` (housekeeping returns freed pages with `PRAGMA
    incremental_vacuum`). `cache_kib`: this connection's page cache.
    DatabaseFileError for a file uvqc must not write (missing with create=False, foreign,
    newer, corrupt); InfrastructureError when SQLite or the file system fails."""
    if path.is_dir() or (not create and not path.is_file()):
        what = "a directory" if path.is_dir() else "no database"
        raise DatabaseFileError(f"{what} at {path}: check --db / UVQC_DB")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
            factory=_Connection,
        )
    except (sqlite3.Error, OSError) as exc:
        raise InfrastructureError(f"cannot open the database {path}: {exc}") from exc
    try:
        conn.write_lock = _file_lock(path)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _prepare(conn, path)
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        conn.execute("PRAGMA wal_autocheckpoint=8000")
    except sqlite3.Error as exc:
        conn.close()
        raise _translated(exc, path, "cannot open the database") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def connect_readonly(path: Path) -> sqlite3.Connection:
    """Open an existing uvqc database for reading only (`mode=ro`: nothing is created,
    initialised or migrated). DatabaseFileError if the file is missing, empty, foreign,
    newer, older than this uvqc reads, or corrupt."""
    if not path.is_file():
        what = "a directory" if path.is_dir() else "no database"
        raise DatabaseFileError(
            f"{what} at {path}: check --db / UVQC_DB (read commands never create a database)"
        )
    try:
        conn = sqlite3.connect(
            path.resolve().as_uri() + "?mode=ro",
            uri=True,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
            factory=_Connection,
        )
    except sqlite3.Error as exc:
        raise _translated(exc, path, "cannot open the database") from exc
    try:
        conn.write_lock = threading.Lock()  # never used for writing: mode=ro
        _check_usable(path, _state(conn), reading=True)
    except sqlite3.Error as exc:
        conn.close()
        raise _translated(exc, path, "cannot read the database") from exc
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Translate SQLite errors met while reading (corruption found in the middle of a file,
    a lock) into uvqc errors naming the file."""
    try:
        yield
    except sqlite3.Error as exc:
        raise _translated(exc, path, "cannot read the database") from exc


def schema_version(path: Path) -> int:
    """The schema version of an existing database file, read without writing."""
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise _translated(exc, path, "cannot read the database") from exc
    return int(version)


def migrate(path: Path) -> tuple[int, int]:
    """Migrate an existing database to SCHEMA_VERSION (`uvqc db migrate`): the versions
    before and after. DatabaseFileError if it is missing, foreign, newer or corrupt."""
    if not path.is_file():
        raise DatabaseFileError(f"no database at {path}: check --db / UVQC_DB")
    before = schema_version(path)
    connect(path, create=False).close()
    return before, schema_version(path)


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
            raise _in_transaction(exc) from exc
        return
    lock = getattr(conn, "write_lock", None) or threading.Lock()  # not from `connect`: own
    with lock:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            if is_busy(exc):
                raise DatabaseBusyError(f"database busy: {exc}") from exc
            raise InfrastructureError(f"database busy or unavailable: {exc}") from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _in_transaction(exc) from exc
            raise


def _in_transaction(exc: sqlite3.Error) -> InfrastructureError:
    if is_busy(exc):
        return DatabaseBusyError(f"database busy: {exc}")
    return InfrastructureError(f"database error: {exc}")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Apply the missing migrations in one transaction; an upgrade of a file that already
    held a schema is logged (a new file is simply created)."""
    with transaction(conn):
        # Another process may have migrated between our check and the lock.
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version >= SCHEMA_VERSION:
            return
        if version > 0:
            log.warning("migrating database %s from schema %d to %d", path, version, SCHEMA_VERSION)
        for target in sorted(n for n in _MIGRATIONS if version < n <= SCHEMA_VERSION):
            for statement in _MIGRATIONS[target].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={target}")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
