"""The practical limit for the embedded pipeline: a bare SQLite enqueue/dequeue loop with
exactly uvqc's settings, nothing else (no validation, no records, no e-mail).

The same file setup as uvqc (`uvqc.adapters.sqlite.db.connect`: WAL, auto_vacuum,
wal_autocheckpoint=8000, busy timeout, the schema), the same durability split (enqueue on a
`synchronous=FULL` connection with the default page cache, as `uvqc submit` does; the
worker's receive/delete on a `synchronous=NORMAL` connection with the worker's page cache),
time-ordered message ids (`new_message_id`), the same enqueue chunk (5,000), receive batch
(250) and statements as `SqliteQueue`: enqueue every line, then receive-and-delete until
empty."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from uvqc.adapters.sqlite.db import WORK_CACHE_KIB, connect
from uvqc.adapters.sqlite.queue import SEND_CHUNK, new_message_id

BATCH = 250


def main() -> None:
    source, db = sys.argv[1], Path(sys.argv[2])
    submit = connect(db)  # FULL, default cache: `uvqc submit`
    work = connect(db, synchronous="NORMAL", cache_kib=WORK_CACHE_KIB)  # the worker's
    with open(source, "rb") as f:
        lines = [line.decode() for line in f]
    for start in range(0, len(lines), SEND_CHUNK):
        now = time.time()
        submit.execute("BEGIN IMMEDIATE")
        submit.executemany(
            "INSERT INTO messages (id, queue, body, sent_at, visible_at) "
            "VALUES (?, 'intake', ?, ?, ?)",
            [(new_message_id(), body, now, now) for body in lines[start : start + SEND_CHUNK]],
        )
        submit.execute("COMMIT")
    done = 0
    while True:
        now = time.time()
        work.execute("BEGIN IMMEDIATE")
        rows = work.execute(
            "SELECT id, body, receive_count, sent_at FROM messages "
            "WHERE queue = 'intake' AND visible_at <= ? ORDER BY visible_at, seq LIMIT ?",
            (now, BATCH),
        ).fetchall()
        work.executemany(
            "UPDATE messages SET receive_count = receive_count + 1, in_flight = 1, "
            "visible_at = ?, first_received_at = COALESCE(first_received_at, ?) WHERE id = ?",
            [(now + 60, now, r[0]) for r in rows],
        )
        work.execute("COMMIT")
        if not rows:
            break
        work.execute("BEGIN IMMEDIATE")
        work.executemany(
            "DELETE FROM messages WHERE id = ? AND receive_count = ? AND queue = 'intake'",
            [(r[0], r[2] + 1) for r in rows],
        )
        work.execute("COMMIT")
        done += len(rows)
    if done != len(lines):
        raise SystemExit(f"dequeued {done} of {len(lines)}")


if __name__ == "__main__":
    main()
