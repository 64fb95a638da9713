"""The import ledger of `uvqc watch` on the embedded database: the file's digest and its
results go in one transaction (migration 6, table ingested_files)."""

from __future__ import annotations

import sqlite3

from uvqc.adapters.sqlite.db import transaction
from uvqc.adapters.sqlite.queue import SqliteQueue
from uvqc.ingest.results import FileOutcome
from uvqc.ingest.watch import Imported, now_iso
from uvqc.pipeline.ports import IntakeQueue


def _lookup(conn: sqlite3.Connection, sha256: str) -> Imported | None:
    row = conn.execute(
        "SELECT file, status, results, reason, ingested_at FROM ingested_files WHERE sha256 = ?",
        (sha256,),
    ).fetchone()
    return Imported(*row) if row else None


class SqliteImportLedger:
    """ImportLedger on the intake queue's own connection (one commit, one fsync)."""

    def __init__(self, conn: sqlite3.Connection, intake: SqliteQueue) -> None:
        self.conn = conn
        self.intake = intake

    def lookup(self, sha256: str) -> Imported | None:
        return _lookup(self.conn, sha256)

    def import_once(self, outcome: FileOutcome, status: str, reason: str | None) -> bool:
        with transaction(self.conn) as c:
            if c.execute(
                "SELECT 1 FROM ingested_files WHERE sha256 = ?", (outcome.sha256,)
            ).fetchone():
                return False
            c.execute(
                "INSERT INTO ingested_files (sha256, file, status, results, reason, ingested_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (outcome.sha256, outcome.file, status, len(outcome.messages), reason, now_iso()),
            )
            self.intake.send(outcome.messages)  # joins this transaction
        return True


class ForwardingImportLedger:
    """Digests in SQLite, results sent elsewhere (SQS): sent first, then recorded, so a
    crash in between can resend a file's results (at least once), never lose them."""

    def __init__(self, conn: sqlite3.Connection, intake: IntakeQueue) -> None:
        self.conn = conn
        self.intake = intake

    def lookup(self, sha256: str) -> Imported | None:
        return _lookup(self.conn, sha256)

    def import_once(self, outcome: FileOutcome, status: str, reason: str | None) -> bool:
        if self.lookup(outcome.sha256) is not None:
            return False
        self.intake.submit(outcome.messages)
        with transaction(self.conn) as c:
            c.execute(
                "INSERT OR IGNORE INTO ingested_files "
                "(sha256, file, status, results, reason, ingested_at) VALUES (?, ?, ?, ?, ?, ?)",
                (outcome.sha256, outcome.file, status, len(outcome.messages), reason, now_iso()),
            )
        return True
