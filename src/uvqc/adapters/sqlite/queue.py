"""Queues with SQS semantics on SQLite: visibility timeout, receive count, delayed redelivery,
a max receive count that moves a message to its dead-letter queue, batch receive, redrive.

Every message is one row of `messages`; its `queue` column says where it is. Receiving marks
rows invisible until `visible_at` inside one `BEGIN IMMEDIATE` transaction, so two workers
(threads or processes) never hold the same message inside its visibility window. A receipt
handle names one receive (`<id>#<receive_count>`): a worker whose visibility expired and whose
message was received again cannot delete or delay it any more.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from uvqc.adapters.sqlite.db import transaction
from uvqc.pipeline.records import NotificationRequest, as_text
from uvqc.pipeline.submission import Submission, SubmitReport

INTAKE = "intake"
NOTIFY = "notify"
DLQ_SUFFIX = "-dlq"
SOURCE_QUEUES = (INTAKE, NOTIFY)
SEND_CHUNK = 5000


def new_message_id() -> str:
    """32 hex digits: nanosecond time, then 64 random bits. Time-ordered ids keep inserts
    at the right edge of the id indexes (messages, and results keyed by message id): with
    random UUIDs every batch rewrote hundreds of scattered index pages (~1.6 MB of WAL per
    250 results); now a batch appends a few pages."""
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


def dlq_of(queue: str) -> str:
    return queue + DLQ_SUFFIX


@dataclass(frozen=True, slots=True)
class Message:
    """One received message; `receipt` is needed to delete it or change its visibility."""

    id: str
    body: str
    receipt: str
    receive_count: int
    sent_at: float
    source: str | None = None  # where a submitted result came from ("day.jsonl:12")
    submission_id: str | None = None  # its stable identity (see pipeline.submission)
    submitted_by: str | None = None  # the run that queued it (`uvqc run` counts its own)


@dataclass(frozen=True, slots=True)
class QueueStats:
    visible: int = 0
    in_flight: int = 0
    delayed: int = 0  # waiting for a retry (change_visibility) or a delayed send

    @property
    def pending(self) -> int:
        return self.visible + self.in_flight + self.delayed


@dataclass(frozen=True, slots=True)
class DeadRow:
    id: str
    queue: str
    body: str
    reason: str
    dead_at: float | None
    receive_count: int


def _split(receipt: str) -> tuple[str, int]:
    message_id, _, count = receipt.rpartition("#")
    return message_id, int(count)


class SqliteQueue:
    """One named queue (and its DLQ) on a shared connection. Thread-safe only through the
    connection's own serialisation: give each thread its own SqliteQueue and connection."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        name: str,
        *,
        max_receive_count: int = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.conn = conn
        self.name = name
        self.dlq = dlq_of(name)
        self.max_receive_count = max_receive_count
        self.clock = clock

    # -- producers ----------------------------------------------------------------------
    def send(self, bodies: Sequence[str | bytes], *, delay_seconds: float = 0.0) -> list[str]:
        """Enqueue every body (in transactions of SEND_CHUNK); return the new message ids."""
        ids: list[str] = []
        for start in range(0, len(bodies), SEND_CHUNK):
            chunk = bodies[start : start + SEND_CHUNK]
            now = self.clock()
            rows = [
                (
                    new_message_id(),
                    self.name,
                    as_text(b),
                    now,
                    now + delay_seconds,
                )
                for b in chunk
            ]
            with transaction(self.conn) as c:
                c.executemany(
                    "INSERT INTO messages (id, queue, body, sent_at, visible_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
            ids.extend(r[0] for r in rows)
        return ids

    # -- consumers ----------------------------------------------------------------------
    def receive(self, max_messages: int, visibility_timeout: float) -> list[Message]:
        """Up to max_messages visible messages, hidden for visibility_timeout seconds.
        A message received more than max_receive_count times goes to the DLQ instead."""
        now = self.clock()
        with transaction(self.conn) as c:
            rows = c.execute(
                "SELECT id, body, receive_count, sent_at, source, submission_id, submitted_by "
                "FROM messages "
                "WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, seq LIMIT ?",
                (self.name, now, max_messages),
            ).fetchall()
            over = [r for r in rows if r[2] >= self.max_receive_count]
            if over:
                reason = f"received {self.max_receive_count} times without success"
                c.executemany(
                    "UPDATE messages SET queue = ?, source_queue = ?, dead_reason = ?, "
                    "dead_at = ?, in_flight = 0, visible_at = ? WHERE id = ?",
                    [(self.dlq, self.name, reason, now, now, r[0]) for r in over],
                )
            taken = [r for r in rows if r[2] < self.max_receive_count]
            c.executemany(
                "UPDATE messages SET receive_count = receive_count + 1, in_flight = 1, "
                "visible_at = ?, first_received_at = COALESCE(first_received_at, ?) "
                "WHERE id = ?",
                [(now + visibility_timeout, now, r[0]) for r in taken],
            )
        return [
            Message(r[0], r[1], f"{r[0]}#{r[2] + 1}", r[2] + 1, r[3], r[4], r[5], r[6])
            for r in taken
        ]

    def delete(self, receipts: Sequence[str]) -> int:
        """Delete received messages (one transaction); stale receipts are ignored."""
        if not receipts:
            return 0
        with transaction(self.conn) as c:
            cur = c.executemany(
                "DELETE FROM messages WHERE id = ? AND receive_count = ? AND queue = ?",
                [(*_split(r), self.name) for r in receipts],
            )
        return cur.rowcount

    def change_visibility(self, changes: Sequence[tuple[str, float]]) -> int:
        """Make received messages visible again after the given delays (a retry backoff)."""
        if not changes:
            return 0
        now = self.clock()
        with transaction(self.conn) as c:
            cur = c.executemany(
                "UPDATE messages SET visible_at = ?, in_flight = 0 "
                "WHERE id = ? AND receive_count = ? AND queue = ?",
                [(now + max(0.0, d), *_split(r), self.name) for r, d in changes],
            )
        return cur.rowcount

    def release(self, changes: Sequence[tuple[str, float]]) -> int:
        """Put received messages back, visible after the given delays, and give them their
        receive back: they were not tried (the notify channel's circuit breaker is open),
        so neither the attempts nor the max receive count are used up."""
        if not changes:
            return 0
        now = self.clock()
        with transaction(self.conn) as c:
            cur = c.executemany(
                "UPDATE messages SET visible_at = ?, in_flight = 0, "
                "receive_count = MAX(receive_count - 1, 0) "
                "WHERE id = ? AND receive_count = ? AND queue = ?",
                [(now + max(0.0, d), *_split(r), self.name) for r, d in changes],
            )
        return cur.rowcount

    def wake(self) -> int:
        """Make every message waiting for a delayed retry visible now (the channel is back:
        no reason to wait for the backoff); messages held by a worker are left alone."""
        now = self.clock()
        with transaction(self.conn) as c:
            cur = c.execute(
                "UPDATE messages SET visible_at = ? "
                "WHERE queue = ? AND in_flight = 0 AND visible_at > ?",
                (now, self.name, now),
            )
        return cur.rowcount

    def dead_letter(self, items: Sequence[tuple[str, str]]) -> int:
        """Move received messages to the DLQ now, each with its reason."""
        if not items:
            return 0
        now = self.clock()
        with transaction(self.conn) as c:
            cur = c.executemany(
                "UPDATE messages SET queue = ?, source_queue = ?, dead_reason = ?, dead_at = ?, "
                "in_flight = 0, visible_at = ? WHERE id = ? AND receive_count = ? AND queue = ?",
                [(self.dlq, self.name, why, now, now, *_split(r), self.name) for r, why in items],
            )
        return cur.rowcount

    # -- operations ---------------------------------------------------------------------
    def stats(self) -> QueueStats:
        now = self.clock()
        row = self.conn.execute(
            "SELECT "
            "  COALESCE(SUM(visible_at <= ?), 0), "
            "  COALESCE(SUM(visible_at > ? AND in_flight = 1), 0), "
            "  COALESCE(SUM(visible_at > ? AND in_flight = 0), 0) "
            "FROM messages WHERE queue = ?",
            (now, now, now, self.name),
        ).fetchone()
        return QueueStats(int(row[0]), int(row[1]), int(row[2]))

    def dead_count(self) -> int:
        (n,) = self.conn.execute(
            "SELECT COUNT(*) FROM messages WHERE queue = ?", (self.dlq,)
        ).fetchone()
        return int(n)

    def next_visible_in(self) -> float | None:
        """Seconds until the next message becomes visible (0 if one is), None if empty."""
        (at,) = self.conn.execute(
            "SELECT MIN(visible_at) FROM messages WHERE queue = ?", (self.name,)
        ).fetchone()
        return None if at is None else max(0.0, float(at) - self.clock())

    def dead_letters(self, limit: int = 100) -> list[DeadRow]:
        rows = self.conn.execute(
            "SELECT id, source_queue, body, dead_reason, dead_at, receive_count FROM messages "
            "WHERE queue = ? ORDER BY dead_at, seq LIMIT ?",
            (self.dlq, limit),
        ).fetchall()
        return [DeadRow(r[0], r[1] or self.name, r[2], r[3] or "", r[4], r[5]) for r in rows]

    def dead_letter_by_id(self, message_id: str) -> DeadRow | None:
        r = self.conn.execute(
            "SELECT id, source_queue, body, dead_reason, dead_at, receive_count FROM messages "
            "WHERE queue = ? AND id = ?",
            (self.dlq, message_id),
        ).fetchone()
        return None if r is None else DeadRow(r[0], r[1] or self.name, r[2], r[3] or "", r[4], r[5])

    def redrive(self, message_ids: Sequence[str] | None = None) -> int:
        """Move dead letters back to this queue, visible now, with a fresh receive count
        (a redrive is a deliberate retry). All of them, or only the given ids."""
        now = self.clock()
        with transaction(self.conn) as c:
            if message_ids is None:
                cur = c.execute(
                    "UPDATE messages SET queue = ?, visible_at = ?, receive_count = 0, "
                    "in_flight = 0 WHERE queue = ?",
                    (self.name, now, self.dlq),
                )
            else:
                cur = c.executemany(
                    "UPDATE messages SET queue = ?, visible_at = ?, receive_count = 0, "
                    "in_flight = 0 WHERE queue = ? AND id = ?",
                    [(self.name, now, self.dlq, m) for m in message_ids],
                )
        return cur.rowcount


class SqliteNotifyQueue:
    """NotificationQueue port: the check stage publishes requests onto the notify queue."""

    def __init__(self, queue: SqliteQueue) -> None:
        self.queue = queue

    def publish(self, requests: Sequence[NotificationRequest]) -> set[str]:
        self.queue.send([r.to_json() for r in requests])  # all or nothing: one transaction
        return set()


def _submission_key(submission_id: str) -> bytes:
    """The `submissions` key of a submission id (64 hex digits): its first 16 bytes."""
    try:
        return bytes.fromhex(submission_id)[:16]
    except ValueError:
        return submission_id.encode("utf-8", "surrogatepass")


class SqliteIntakeQueue:
    """IntakeQueue port: `uvqc submit` puts raw results onto the intake queue.

    `submit_new` also remembers every submission id in `submissions` (same transaction as
    the messages, on the FULL connection): a line submitted before is skipped, so a re-run
    of `uvqc run`/`uvqc submit` after a crash or kill -9 never queues a result twice.
    `tag` marks the messages with the run that queued them (`uvqc run` counts its own)."""

    def __init__(self, queue: SqliteQueue, tag: str | None = None) -> None:
        self.queue = queue
        self.tag = tag

    def submit(self, bodies: Sequence[bytes]) -> list[str]:
        return self.queue.send(bodies)

    def submit_new(self, items: Sequence[Submission]) -> SubmitReport:
        """Queue the items not submitted before, in one transaction; skip the others."""
        q = self.queue
        now = q.clock()
        rows = [(new_message_id(), item) for item in items]
        with transaction(q.conn) as c:
            # A 16-byte key (128 bits of the sha256: no collision in any lab's lifetime)
            # keeps the index small: random keys dirty fewer pages per commit.
            keys = [_submission_key(item.submission_id) for _, item in rows]
            new: list[tuple[str, Submission]] = []
            for key, row in zip(keys, rows, strict=True):
                cur = c.execute("INSERT OR IGNORE INTO submissions (id) VALUES (?)", (key,))
                if cur.rowcount == 1:
                    new.append(row)
            c.executemany(
                "INSERT INTO messages (id, queue, body, sent_at, visible_at, source, "
                "submission_id, submitted_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        mid,
                        q.name,
                        as_text(item.raw),
                        now,
                        now,
                        item.source,
                        item.submission_id,
                        self.tag,
                    )
                    for mid, item in new
                ],
            )
            submitted = len(new)
        return SubmitReport(submitted=submitted, skipped=len(items) - submitted)
