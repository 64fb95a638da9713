"""What `uvqc submit --queue-url` sent already: a small local SQLite file, so a re-run of the
same command (after a crash, a kill, a network failure half-way) skips the lines SQS has.

SQS standard queues have no deduplication, and FIFO deduplication lasts 5 minutes, so the
submitter remembers: one row per (queue URL, submission id) with the message id SQS gave and
the source line. WAL + synchronous NORMAL: a row survives kill -9 (committed to the OS); a
power cut may forget the last rows, and those lines are then sent again - harmless, as the
check stage records a line under a record id derived from its submission id (overwritten,
not added) and the notification ledger sends its e-mail once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from uvqc.errors import InfrastructureError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submitted (
    queue_url     TEXT NOT NULL,
    submission_id TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    source        TEXT,
    submitted_at  REAL NOT NULL,
    PRIMARY KEY (queue_url, submission_id)
) WITHOUT ROWID
"""
_LOOKUP_CHUNK = 500  # ids per SELECT (SQLite's host parameter limit is 32,766; stay small)


class SubmitJournal:
    """The submissions already on each SQS queue, by submission id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise InfrastructureError(f"cannot open the submit journal {path}: {exc}") from exc

    def seen(self, queue_url: str, submission_ids: Sequence[str]) -> set[str]:
        """Those of `submission_ids` already submitted to `queue_url`."""
        found: set[str] = set()
        ids = list(dict.fromkeys(submission_ids))
        try:
            for start in range(0, len(ids), _LOOKUP_CHUNK):
                chunk = ids[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    "SELECT submission_id FROM submitted WHERE queue_url = ? "
                    f"AND submission_id IN ({marks})",
                    (queue_url, *chunk),
                )
                found.update(r[0] for r in rows)
        except sqlite3.Error as exc:
            raise InfrastructureError(f"submit journal {self.path}: {exc}") from exc
        return found

    def record(self, queue_url: str, sent: Sequence[tuple[str, str, str]]) -> None:
        """Remember (submission id, source, SQS message id) triples as submitted."""
        now = time.time()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO submitted "
                    "(queue_url, submission_id, message_id, source, submitted_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(queue_url, sid, mid, source, now) for sid, source, mid in sent],
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise InfrastructureError(f"submit journal {self.path}: {exc}") from exc

    def close(self) -> None:
        self._conn.close()
