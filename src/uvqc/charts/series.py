"""A control chart's state: its points across runs, its limits and the Westgard violations of
the newest run's points.

Limits come from the method file when it gives them; otherwise they are established from the
first `establish_points` points of the series (in time order) and then frozen, as labs do:
later points never move them. Until enough points exist the chart is "establishing" and no
rule is applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from uvqc.charts.config import ControlChartConfig, SeriesName
from uvqc.charts.westgard import Limits, Point, Violation, establish, evaluate, merge_streaks


@dataclass(frozen=True, slots=True)
class ChartState:
    """One series of one (method, analyte, instrument): what `uvqc charts` lists."""

    series: SeriesName
    points: tuple[Point, ...]
    limits: Limits | None
    violations: tuple[Violation, ...]
    needed: int = 20  # points that establish limits (the method's establish_points)

    @property
    def no_spread(self) -> bool:
        """Enough points to establish limits, but they do not vary (westgard.no_spread):
        no limits until the method file gives them."""
        return self.limits is None and len(self.points) >= self.needed

    @property
    def state(self) -> str:
        """establishing (n/N) | no spread | in control | warning | out of control"""
        if self.no_spread:
            return "no spread"
        if self.limits is None:
            return "establishing"
        if any(not v.warning for v in self.violations):
            return "out of control"
        return "warning" if self.violations else "in control"


def chart_state(
    series: SeriesName,
    points: Sequence[Point],
    config: ControlChartConfig,
    *,
    batch_id: str | None = None,
) -> ChartState:
    """The chart of `points` (oldest first); violations are those involving `batch_id`'s
    points (every point when None), one per rule per streak (westgard.merge_streaks)."""
    fixed = config.limits.get(series)
    limits = (
        fixed.limits()
        if fixed is not None
        else establish([p.value for p in points], needed=config.establish_points)
    )
    violations: list[Violation] = []
    if limits is not None:
        new = (
            None
            if batch_id is None
            else [i for i, p in enumerate(points) if p.batch_id == batch_id]
        )
        violations = merge_streaks(evaluate(points, limits, rules=config.rules, new=new))
    return ChartState(series, tuple(points), limits, tuple(violations), config.establish_points)
