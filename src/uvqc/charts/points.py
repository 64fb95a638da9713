"""A run's QC values (the points of its control charts). Pure: no I/O.

The QC numbers are those of run QC (docs/RUNS.md):
- check standard recovery % = concentration / nominal x 100, within `[run.check_standard]
  recovery_pct` (SM 2020 B; EPA 353.2 section 9);
- blank concentration <= `[run.blank] max` (default RL / 2, SM 2020 B);
- duplicate RPD % = |x1 - x2| / mean(x1, x2) x 100 <= `[run.duplicate] max_rpd_pct`
  (not applied below the RL);
- spike recovery % = (spiked - unspiked) / added x 100 within `[run.spike] recovery_pct`.
Each series of uvqc.charts.config.SERIES takes one point per such QC value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from uvqc.charts.config import SERIES, SeriesName
from uvqc.charts.westgard import Point
from uvqc.runs.config import RunConfig
from uvqc.runs.model import ResultLine, RunDecision, RunResult, num

EPS = 1e-9
SERIES_TITLES: dict[SeriesName, str] = {
    "check_standard_recovery": "check standard recovery",
    "blank_concentration": "blank concentration",
    "duplicate_rpd": "duplicate RPD",
    "spike_recovery": "spike recovery",
}


def _within(value: float, low: float, high: float) -> bool:
    """Inclusive limits with the relative tolerance run QC uses (1e-9)."""
    return value >= low - EPS * max(1.0, abs(low)) and value <= high + EPS * max(1.0, abs(high))


@dataclass(frozen=True, slots=True)
class QcValue:
    """One QC value of a run: its series, the value, its limits and whether it passed."""

    series: SeriesName
    sequence: int | None
    sample_id: str
    value: float
    unit: str
    limits: str
    passed: bool


def qc_values(
    decision: RunDecision, results: Sequence[RunResult], config: RunConfig
) -> list[QcValue]:
    """Every QC value of a decided run, in sequence order: check-standard recoveries, blank
    concentrations, duplicate RPDs, spike recoveries (positions without a concentration give
    none)."""
    by_record = {r.record_id: r for r in results}
    lines = [ln for ln in decision.results if ln.sequence is not None]
    first: dict[str, ResultLine] = {}
    for ln in lines:
        first.setdefault(ln.sample_id, ln)
    units = config.units
    out: list[QcValue] = []
    for ln in lines:
        r = by_record.get(ln.record_id)
        conc = ln.concentration
        if r is None or conc is None:
            continue
        if ln.sample_type == "check_standard" and r.nominal:
            low, high = config.check_standard.recovery
            recovery = conc / r.nominal * 100.0
            out.append(
                QcValue(
                    "check_standard_recovery",
                    ln.sequence,
                    ln.sample_id,
                    recovery,
                    "%",
                    f"{num(low)}-{num(high)} %",
                    _within(recovery, low, high),
                )
            )
        elif ln.sample_type == "blank":
            limit = config.blank_max
            out.append(
                QcValue(
                    "blank_concentration",
                    ln.sequence,
                    ln.sample_id,
                    conc,
                    units,
                    f"<= {num(limit)} {units}",
                    _within(conc, float("-inf"), limit),
                )
            )
        elif ln.sample_type == "duplicate" and r.duplicate_of in first:
            original = first[r.duplicate_of]
            x1 = original.concentration
            if x1 is None or original.qualifier or ln.qualifier or (x1 + conc) <= 0:
                continue
            rpd = abs(x1 - conc) / ((x1 + conc) / 2) * 100.0
            limit = config.duplicate.max_rpd_pct
            out.append(
                QcValue(
                    "duplicate_rpd",
                    ln.sequence,
                    ln.sample_id,
                    rpd,
                    "%",
                    f"<= {num(limit)} %",
                    _within(rpd, float("-inf"), limit),
                )
            )
        elif ln.sample_type == "spike" and r.spike_of in first and r.spike_added:
            unspiked = first[r.spike_of].concentration
            if unspiked is None:
                continue
            recovery = (conc - unspiked) / r.spike_added * 100.0
            low, high = config.spike.recovery
            out.append(
                QcValue(
                    "spike_recovery",
                    ln.sequence,
                    ln.sample_id,
                    recovery,
                    "%",
                    f"{num(low)}-{num(high)} %",
                    _within(recovery, low, high),
                )
            )
    return out


KIND = {
    "check_standard_recovery": "check standard",
    "blank_concentration": "blank",
    "duplicate_rpd": "duplicate",
    "spike_recovery": "spike",
}


def chart_points(
    decision: RunDecision, results: Sequence[RunResult], config: RunConfig | None
) -> dict[SeriesName, list[Point]]:
    """The run's control-chart points by series (in sequence order): one Point per QC value,
    named by the run's batch id, sequence and sample id. Empty without a `[run]` section."""
    points: dict[SeriesName, list[Point]] = {s: [] for s in SERIES}
    if config is None:
        return points
    for v in qc_values(decision, results, config):
        points[v.series].append(Point(v.value, decision.batch_id, v.sequence, v.sample_id))
    return points
