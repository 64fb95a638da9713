"""The practical limit for the embedded pipeline: a bare SQLite enqueue/dequeue loop with the
same durability settings as uvqc's queue (WAL, synchronous=FULL, BEGIN IMMEDIATE), the same
enqueue chunk (5,000) and receive batch (250): enqueue every line, then receive-and-delete
until empty. Nothing else: no validation, no records, no e-mail."""

from __future__ import annotations

import sqlite3
import sys
import time
import uuid


def main() -> None:
    source, db = sys.argv[1], sys.argv[2]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, "
        "queue TEXT, body TEXT, visible_at REAL, receive_count INTEGER DEFAULT 0)"
    )
    conn.execute("CREATE INDEX ready ON messages (queue, visible_at)")
    with open(source, "rb") as f:
        lines = [line.decode() for line in f]
    for start in range(0, len(lines), 5000):
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO messages (id, queue, body, visible_at) VALUES (?, 'intake', ?, ?)",
            [(uuid.uuid4().hex, body, now) for body in lines[start : start + 5000]],
        )
        conn.execute("COMMIT")
    done = 0
    while True:
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(
            "SELECT id, body FROM messages WHERE queue = 'intake' AND visible_at <= ? "
            "ORDER BY visible_at, seq LIMIT 250",
            (now,),
        ).fetchall()
        conn.executemany(
            "UPDATE messages SET visible_at = ?, receive_count = receive_count + 1 WHERE id = ?",
            [(now + 60, r[0]) for r in rows],
        )
        conn.execute("COMMIT")
        if not rows:
            break
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("DELETE FROM messages WHERE id = ?", [(r[0],) for r in rows])
        conn.execute("COMMIT")
        done += len(rows)
    if done != len(lines):
        raise SystemExit(f"dequeued {done} of {len(lines)}")


if __name__ == "__main__":
    main()
