"""A final run on the control charts of its (method, instrument): its QC points after the
stored history, the Westgard violations involving them as run findings (`control_chart`),
and what the run stores keep of it in the decision document (`meta.instrument`,
`meta.chartPoints`). Pure: the SQLite and DynamoDB run stores read the history and write
the result, each in its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from uvqc.charts.config import SERIES
from uvqc.charts.findings import chart_findings
from uvqc.charts.points import chart_points
from uvqc.charts.series import chart_state
from uvqc.charts.westgard import Point
from uvqc.runs.config import RunConfig
from uvqc.runs.model import RunDecision, RunResult

# One stored run of the history: (batchId, its `meta.chartPoints`), i.e. series name ->
# [[value, position, sampleId], ...] (value in the series' units, e.g. % recovery).
StoredPoints = tuple[str, Mapping[str, Sequence[Sequence[Any]]]]


def control_charts(
    decision: RunDecision,
    results: Sequence[RunResult],
    config: RunConfig,
    *,
    method: str,
    instrument: str | None,
    history: Iterable[StoredPoints],
) -> tuple[RunDecision, dict[str, Any]]:
    """The decision with the chart findings of its points added, and the `meta` entries to
    keep (`instrument`, `chartPoints`). `history`: the earlier final runs of the same method
    and instrument, oldest first (the order the points are charted in)."""
    own = chart_points(decision, results, config)
    earlier: dict[str, list[Point]] = {s: [] for s in SERIES}
    for other, points in history:
        for series, values in points.items():
            if series in earlier:
                earlier[series] += [Point(v, other, q, sid) for v, q, sid in values]
    states = [
        chart_state(s, [*earlier[s], *own[s]], config.control_charts, batch_id=decision.batch_id)
        for s in SERIES
        if own[s]
    ]
    where = f"{method}, {config.analyte}, {instrument or 'instrument unknown'}"
    found = chart_findings(decision.batch_id, states, where=where, units=config.units)
    charted = {
        "instrument": instrument,
        "chartPoints": {
            s: [[p.value, p.sequence, p.sample_id] for p in own[s]] for s in SERIES if own[s]
        },
    }
    if found:
        decision = replace(decision, findings=(*decision.findings, *found))
    return decision, charted


__all__: Sequence[str] = ["StoredPoints", "control_charts"]
