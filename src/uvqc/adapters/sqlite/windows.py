"""WindowIndex on SQLite: digest -> current deduplication window (table `result_windows`).

`assign` runs in one `BEGIN IMMEDIATE` transaction (joining the check stage's unit of work
when there is one), so the window, the records keyed by it and the intake deletes commit
together: a crash before the commit leaves nothing, and a redelivery derives the same key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from uvqc.adapters.sqlite.db import transaction
from uvqc.pipeline.identity import STORE, Window, decide_window
from uvqc.pipeline.records import iso, parse_iso


class SqliteWindows:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def assign(self, sightings: Sequence[tuple[str, datetime]], span: timedelta) -> list[str]:
        keys: list[str] = []
        with transaction(self.conn) as c:
            for digest, at in sightings:
                row = c.execute(
                    "SELECT window_start, key FROM result_windows WHERE digest = ?", (digest,)
                ).fetchone()
                current = None if row is None else Window(digest, parse_iso(row[0]), row[1])
                what, window = decide_window(current, digest, at, span)
                if what in STORE:
                    c.execute(
                        "INSERT OR REPLACE INTO result_windows (digest, window_start, key) "
                        "VALUES (?, ?, ?)",
                        (digest, iso(window.start), window.key),
                    )
                keys.append(window.key)
        return keys
