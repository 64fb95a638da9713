"""RecordStore + TraceSource results on SQLite: one row per received message, by record id."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from uvqc.adapters.sqlite.db import transaction
from uvqc.core.verdicts import Finding, Verdict
from uvqc.pipeline.records import ResultRecord, iso, parse_iso

_COLUMNS = (
    "record_id, sample_id, verdict, findings, method, raw, raw_truncated, raw_bytes, "
    "received_at, checked_at, notification_key, correlation_id, source, content_digest, "
    "indices"
)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _row(r: ResultRecord) -> tuple[Any, ...]:
    return (
        r.record_id,
        r.sample_id,
        r.verdict.value,
        _dumps([f.to_dict() for f in r.findings]),
        r.method,
        r.raw,
        int(r.raw_truncated),
        r.raw_bytes,
        iso(r.received_at),
        iso(r.checked_at),
        r.notification_key,
        r.correlation_id,
        r.source,
        r.content_digest,
        None if r.indices is None else _dumps(dict(r.indices)),
    )


def _record(row: Sequence[Any]) -> ResultRecord:
    return ResultRecord(
        record_id=row[0],
        sample_id=row[1],
        verdict=Verdict(row[2]),
        findings=tuple(Finding.from_dict(f) for f in json.loads(row[3])),
        method=row[4],
        raw=row[5],
        raw_truncated=bool(row[6]),
        raw_bytes=int(row[7]),
        received_at=parse_iso(row[8]),
        checked_at=parse_iso(row[9]),
        notification_key=row[10],
        correlation_id=row[11],
        source=row[12],
        content_digest=row[13],
        indices=None if row[14] is None else json.loads(row[14]),
    )


class SqliteStore:
    """Durable results; saving the same record id again overwrites it (redelivery)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def save_results(self, records: Sequence[ResultRecord]) -> None:
        if not records:
            return
        with transaction(self.conn) as c:
            c.executemany(
                f"INSERT OR REPLACE INTO results ({_COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_row(r) for r in records],
            )

    def results_for_sample(self, sample_id: str) -> list[ResultRecord]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM results WHERE sample_id = ? ORDER BY received_at, record_id",
            (sample_id,),
        ).fetchall()
        return [_record(r) for r in rows]

    def result_by_id(self, record_id: str) -> ResultRecord | None:
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM results WHERE record_id = ?", (record_id,)
        ).fetchone()
        return None if row is None else _record(row)

    def results_for_key(self, key: str) -> list[ResultRecord]:
        """Every result a notification covered (the first, and the duplicates)."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM results WHERE notification_key = ? "
            "ORDER BY received_at, record_id",
            (key,),
        ).fetchall()
        return [_record(r) for r in rows]

    def results_between(self, since: str | None, until: str | None) -> Iterator[ResultRecord]:
        """Records with since <= received_at < until (ISO-8601 UTC text as stored; None:
        open), oldest first, streamed from one cursor (for `uvqc export`)."""
        where, args = [], []
        if since is not None:
            where.append("received_at >= ?")
            args.append(since)
        if until is not None:
            where.append("received_at < ?")
            args.append(until)
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM results WHERE {' AND '.join(where) or '1'} "
            "ORDER BY received_at, record_id",
            args,
        )
        for row in rows:
            yield _record(row)

    def counts(self) -> dict[str, int]:
        """Results per verdict, for summaries."""
        rows = self.conn.execute("SELECT verdict, COUNT(*) FROM results GROUP BY verdict")
        return {str(v): int(n) for v, n in rows}
