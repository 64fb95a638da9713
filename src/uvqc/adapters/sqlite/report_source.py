"""What `uvqc report` and `uvqc charts` read from the embedded database (read-only): the runs
(with the chart points and instrument the run store judged each final run with, from its
decision document), their results (the `run_results` rows run QC decided on), and the
recorded messages of those results (`results.raw`) for the instrument and the scans of
flagged samples.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable
from typing import Any

from uvqc.adapters.sqlite.runs import run_instruments
from uvqc.report.history import StoredRun, stored_chart_points
from uvqc.runs.model import RunResult

_CHUNK = 500  # record ids per IN (...) query: far below SQLite's 32,766 variables


class SqliteReportSource:
    """Runs, results and raw messages of a uvqc database (any connection; only SELECTs)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def runs(self) -> list[StoredRun]:
        """Every run, in the order they began (first result received), then batch id; a
        final run's chart points and instrument as the run store judged it (None when its
        decision document predates them)."""
        rows = self.conn.execute(
            "SELECT batch_id, method, status, first_at, "
            + ", ".join(
                f"CASE WHEN json_valid(decision) THEN json_extract(decision, '$.meta.{key}') END"
                for key in ("runConfig", "chartPoints", "instrument")
            )
            + " FROM runs ORDER BY first_at, batch_id"
        ).fetchall()
        return [
            StoredRun(
                b,
                m,
                s,
                f,
                None if c is None else json.loads(c),
                stored_chart_points(b, None if p is None else json.loads(p)),
                i if isinstance(i, str) else None,
            )
            for b, m, s, f, c, p, i in rows
        ]

    def results(self, batch_id: str) -> list[RunResult]:
        rows = self.conn.execute(
            "SELECT result FROM run_results WHERE batch_id = ? ORDER BY record_id", (batch_id,)
        ).fetchall()
        return [RunResult.from_dict(json.loads(text)) for (text,) in rows]

    def instruments(self, batch_ids: Collection[str] | None = None) -> dict[str, str]:
        """The instrument (`instrumentId`) of each run, or of `batch_ids` only (see
        run_instruments: it reads every result's recorded message, so ask for few)."""
        if batch_ids is None:
            return run_instruments(self.conn)
        out: dict[str, str] = {}
        for batch_id in sorted(batch_ids):
            out.update(run_instruments(self.conn, batch_id))
        return out

    def raw(self, record_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The recorded messages by record id: those stored whole and parseable as a JSON
        object (a truncated or malformed raw message is left out: it has no scan to show)."""
        ids = list(dict.fromkeys(record_ids))
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for record_id, raw, truncated in self.conn.execute(
                f"SELECT record_id, raw, raw_truncated FROM results WHERE record_id IN ({marks})",
                chunk,
            ):
                if truncated:
                    continue
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(data, dict):
                    out[record_id] = data
        return out
