"""Westgard violations as run findings (code `control_chart`), e-mailed like any run decision.

Pure and deterministic: the same chart states give the same findings, with the same anchor
(series, rule and this run's positions) and affected samples (this run's points involved),
so a re-evaluation announces nothing new (uvqc.runs.notices keys on them). Severity `fail`
for a rejection rule, `suspect` for the 1-2s warning (Westgard et al. 1981, Clin. Chem.
27:493).
"""

from __future__ import annotations

from collections.abc import Iterable

from uvqc.charts.config import SERIES_UNITS
from uvqc.charts.points import SERIES_TITLES
from uvqc.charts.series import ChartState
from uvqc.runs.model import RunFinding, num

CODE = "control_chart"
RULE_TEXT = {
    "1-2s": "one point beyond 2 SD, a warning",
    "1-3s": "one point beyond 3 SD",
    "2-2s": "two consecutive points beyond the same 2 SD limit",
    "R-4s": "within one run, one point beyond +2 SD and one beyond -2 SD",
    "4-1s": "four consecutive points beyond the same 1 SD limit",
    "10x": "ten consecutive points on the same side of the mean",
}
POINTS_NAMED = 10  # points spelled out in a message (the rest are counted)


def chart_findings(
    batch_id: str, states: Iterable[ChartState], *, where: str, units: str
) -> list[RunFinding]:
    """One finding per violation involving `batch_id`'s points, in series then rule order.
    `where` names the chart (method, analyte, instrument); `units` those of blank values."""
    found: list[RunFinding] = []
    for state in states:
        if state.limits is None:
            continue
        unit = SERIES_UNITS[state.series] or units
        unit_text = f" {unit}" if unit else ""
        for v in state.violations:
            points = [state.points[i] for i in v.points]
            mine = [p for p in points if p.batch_id == batch_id]
            if not mine:
                continue
            named = [
                f"{p.sample_id or '?'} at position {p.sequence}"
                + ("" if p.batch_id == batch_id else f" of run {p.batch_id}")
                + f" = {num(p.value)}{unit_text}"
                for p in points[-POINTS_NAMED:]
            ]
            more = len(points) - len(named)
            lim = state.limits
            message = (
                f"Control chart {SERIES_TITLES[state.series]} ({where}): Westgard {v.rule} "
                f"({RULE_TEXT[v.rule]}) against mean {num(lim.mean)}{unit_text}, "
                f"SD {num(lim.sd)}{unit_text} ({lim.source} limits): "
                + ("" if more <= 0 else f"{more} earlier point(s) and ")
                + "; ".join(named)
                + "."
            )
            found.append(
                RunFinding(
                    CODE,
                    message,
                    tuple(dict.fromkeys(p.sample_id for p in mine if p.sample_id)),
                    tuple(sorted({p.sequence for p in mine if p.sequence is not None})),
                    anchor=f"chart:{state.series}:{v.rule}:"
                    + ",".join(str(p.sequence) for p in mine),
                    level="suspect" if v.warning else None,
                )
            )
    return found
