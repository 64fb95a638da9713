"""The notification ledger on SQLite: claim -> send -> finish, with MemoryLedger's rules.

claim runs in one `BEGIN IMMEDIATE` transaction, so of two workers (any processes on the
file) claiming the same key, exactly one gets CLAIMED while its lease runs:
  new -> CLAIMED; SENT -> ALREADY_SENT; SENDING with an unexpired lease -> BUSY;
  SENDING with an expired lease -> CLAIMED(resend=True) (a worker died mid-send);
  RETRYING or DEAD -> CLAIMED (a redriven dead letter is a deliberate retry).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from uvqc.adapters.sqlite.db import transaction
from uvqc.pipeline.ports import Claim, ClaimState, decide_claim
from uvqc.pipeline.records import (
    Attempt,
    NotificationRecord,
    NotificationRequest,
    NotificationStatus,
    iso,
    parse_iso,
)

_COLUMNS = (
    "key, sample_id, record_id, status, message_id, attempts, last_error, delivered_to, "
    "lease_until, created_at, sent_at, channel"
)


def _opt_time(text: str | None) -> datetime | None:
    return None if text is None else parse_iso(text)


def _record(row: Sequence[Any]) -> NotificationRecord:
    return NotificationRecord(
        key=row[0],
        sample_id=row[1],
        record_id=row[2],
        status=NotificationStatus(row[3]),
        message_id=row[4],
        attempts=tuple(Attempt.from_dict(a) for a in json.loads(row[5])),
        last_error=row[6],
        delivered_to=tuple(json.loads(row[7])),
        lease_until=_opt_time(row[8]),
        created_at=parse_iso(row[9]),
        sent_at=_opt_time(row[10]),
        channel=row[11],
    )


class SqliteLedger:
    """Ledger + the notification half of TraceSource."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _get(self, c: sqlite3.Connection, key: str) -> NotificationRecord | None:
        row = c.execute(f"SELECT {_COLUMNS} FROM notifications WHERE key = ?", (key,)).fetchone()
        return None if row is None else _record(row)

    def claim(
        self,
        request: NotificationRequest,
        *,
        message_id: str,
        worker: str,
        now: datetime,
        lease: timedelta,
    ) -> Claim:
        until = now + lease
        with transaction(self.conn) as c:
            row = self._get(c, request.key)
            if row is None:
                c.execute(
                    "INSERT INTO notifications (key, sample_id, record_id, status, message_id, "
                    "lease_until, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        request.key,
                        request.sample_id,
                        request.record_id,
                        NotificationStatus.SENDING.value,
                        message_id,
                        iso(until),
                        iso(now),
                    ),
                )
                fresh = self._get(c, request.key)
                assert fresh is not None  # inserted just above, in this transaction
                return Claim(ClaimState.CLAIMED, fresh)
            state, resend = decide_claim(row, now)
            if state is not ClaimState.CLAIMED:
                return Claim(state, row)
            c.execute(
                "UPDATE notifications SET status = ?, lease_until = ? WHERE key = ?",
                (NotificationStatus.SENDING.value, iso(until), request.key),
            )
            claimed = self._get(c, request.key)
            assert claimed is not None
            return Claim(ClaimState.CLAIMED, claimed, resend=resend)

    def finish(
        self,
        key: str,
        *,
        status: NotificationStatus,
        attempt: Attempt,
        delivered_to: Sequence[str],
        error: str | None = None,
    ) -> None:
        with transaction(self.conn) as c:
            row = c.execute("SELECT attempts FROM notifications WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise KeyError(f"no ledger row for notification {key}")
            attempts = [*json.loads(row[0]), attempt.to_dict()]
            c.execute(
                "UPDATE notifications SET status = ?, lease_until = NULL, attempts = ?, "
                "delivered_to = ?, last_error = COALESCE(?, last_error), "
                "channel = COALESCE(?, channel), "
                "sent_at = CASE WHEN ? THEN ? ELSE sent_at END WHERE key = ?",
                (
                    status.value,
                    json.dumps(attempts, separators=(",", ":")),
                    json.dumps(list(dict.fromkeys(delivered_to))),
                    error,
                    attempt.channel or None,
                    status is NotificationStatus.SENT,
                    iso(attempt.at),
                    key,
                ),
            )

    def notifications_for_sample(self, sample_id: str) -> list[NotificationRecord]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM notifications WHERE sample_id = ? ORDER BY created_at",
            (sample_id,),
        ).fetchall()
        return [_record(r) for r in rows]

    def notification_by_key(self, key: str) -> NotificationRecord | None:
        return self._get(self.conn, key)

    def counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT status, COUNT(*) FROM notifications GROUP BY status")
        return {str(s): int(n) for s, n in rows}
