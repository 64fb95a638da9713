"""What `uvqc report --aws` and `uvqc charts --aws` read from the DynamoDB runs table: the
RUN items (method, status, firstAt, the decision document with the `[run]` section it was
decided with and, for a final run, the chart points and instrument the run store judged it
with: `meta.chartPoints`, `meta.instrument`, the keys the SQLite store writes) and the `R#`
result items of a run. Read-only (Scan of RUN items, Query of a run's results, both
consistent and paginated). With the records table, the recorded messages of flagged samples
(BatchGetItem) for their scans.

Not on AWS: the instrument of a run whose decision document does not name it (runs decided
before the store kept it). Only the CLI and the digest function import this module (it
needs uvqc.report, which the main Lambda artifact leaves out).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

from uvqc.adapters.dynamodb import DynamoRecordStore
from uvqc.adapters.dynamodb_runs import RUN, DynamoRunStore, _s
from uvqc.report.history import StoredRun, stored_chart_points
from uvqc.runs.model import RunResult


class DynamoReportSource:
    """ReportSource over the runs table of a DynamoRunStore; `records` (the records table)
    gives the scans of flagged samples (without it a report shows none)."""

    def __init__(self, store: DynamoRunStore, records: DynamoRecordStore | None = None) -> None:
        self.store = store
        self.records = records

    def runs(self) -> list[StoredRun]:
        """Every run, in the order they began (firstAt), then batch id; a final run's chart
        points and instrument from its decision document when the store wrote them."""
        out = []
        for item in self.store._scan_runs():
            document = json.loads(item["decision"]["S"]) if "decision" in item else {}
            meta = document.get("meta", {})
            batch_id = item["batchId"]["S"]
            instrument = meta.get("instrument")
            out.append(
                StoredRun(
                    batch_id,
                    item["method"]["S"],
                    item.get("status", {}).get("S", "open"),
                    item.get("firstAt", {}).get("S", ""),
                    meta.get("runConfig"),
                    stored_chart_points(batch_id, meta.get("chartPoints")),
                    instrument if isinstance(instrument, str) else None,
                )
            )
        return sorted(out, key=lambda r: (r.first_at, r.batch_id))

    def results(self, batch_id: str) -> list[RunResult]:
        items = self.store._query(
            KeyConditionExpression="batchId = :b AND begins_with(sk, :r)",
            ExpressionAttributeValues={":b": _s(batch_id), ":r": _s("R#")},
            ConsistentRead=True,
        )
        found = [RunResult.from_dict(json.loads(i["result"]["S"])) for i in items]
        return sorted(found, key=lambda r: r.record_id)

    def instruments(self, batch_ids: Collection[str] | None = None) -> dict[str, str]:
        """None known: a run's instrument is in its decision document (`StoredRun.instrument`)
        when the store charted it; the recorded messages are in the records table."""
        return {}

    def raw(self, record_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The recorded messages of these records (for their scans); none without the
        records table."""
        return {} if self.records is None else self.records.raw_messages(record_ids)

    def __repr__(self) -> str:
        return f"DynamoReportSource({RUN!r} items of {self.store._table})"
