"""Runs across time -> control charts. Pure: the stored runs and their results come in, the
charts (uvqc.charts) and run reports (uvqc.report.build) go out.

A run's points come from where the run store judged them: a final run's decision document
keeps its chart points and instrument (`meta.chartPoints`, `meta.instrument`; see
SqliteRunStore._control_charts), so the history of a chart is read, not decided again
(`ChartedRun.stored`). Only final runs stored without them (decided before the store kept
them) are decided again from their results (uvqc.report.assemble.chart_history).

A chart is one QC series (uvqc.charts.config.SERIES) of one (method, analyte, instrument):
the points of every run of that key, runs in the order they began, each run's points in
sequence order. A run's chart is the chart as of that run (the runs up to and including it),
so a report of an old run shows what the lab saw then, and violations are those that
involve the run's own points. Limits: the method's fixed limits, else established from the
first `establish_points` points and frozen (uvqc.charts.series).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from uvqc.charts.config import SERIES, SERIES_UNITS, ControlChartConfig, SeriesName
from uvqc.charts.findings import chart_findings
from uvqc.charts.series import ChartState, chart_state
from uvqc.charts.westgard import Point, Violation
from uvqc.core.methods import Method
from uvqc.errors import UvqcError
from uvqc.report.build import SERIES_TITLES, chart_points
from uvqc.report.model import ChartSeries
from uvqc.runs.config import RunConfig, run_config_from_mapping
from uvqc.runs.evaluate import evaluate_run
from uvqc.runs.model import RunDecision, RunFinding, RunResult

ChartKey = tuple[str, str, str]  # (method, analyte, instrument); "" when unknown
CHART_WINDOW = 120  # points drawn on a report's chart: the newest (the rules see them all)


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run as the run store lists it: first_at is when its first result was received."""

    batch_id: str
    method: str
    status: str
    first_at: str
    run_config: dict[str, Any] | None = None  # the [run] section it was decided with
    # The chart points the run store judged the run with (None: not stored, decide again)
    # and the instrument it charted them under (None: unknown).
    chart_points: Mapping[SeriesName, tuple[Point, ...]] | None = None
    instrument: str | None = None

    def config(self, methods: Mapping[str, Method]) -> RunConfig | None:
        """The [run] section the run was decided with (kept in its decision document), else
        that of the loaded method file of its name; None when neither is known."""
        if self.run_config is not None:
            return run_config_from_mapping(self.method, self.run_config)
        method = methods.get(self.method)
        return None if method is None else method.run


@dataclass(frozen=True, slots=True)
class DecidedRun:
    """A stored run decided again from its results (run QC is deterministic: the same
    decision the store holds)."""

    run: StoredRun
    results: tuple[RunResult, ...]
    config: RunConfig | None
    decision: RunDecision
    instrument: str | None = None

    @property
    def key(self) -> ChartKey:
        analyte = "" if self.config is None else self.config.analyte
        return (self.run.method, analyte, self.instrument or "")

    def points(self) -> dict[SeriesName, list[Point]]:
        return chart_points(self.decision, self.results, self.config)

    def charted(self) -> ChartedRun:
        """Its place on the charts, from its decision (what the run store would keep)."""
        points = {s: tuple(p) for s, p in self.points().items() if p}
        return ChartedRun(self.run, self.key, points)


@dataclass(frozen=True, slots=True)
class ChartedRun:
    """A run's place on the control charts: its chart key and its points by series (only
    the series it has points in)."""

    run: StoredRun
    key: ChartKey
    points: Mapping[SeriesName, tuple[Point, ...]]

    @staticmethod
    def stored(run: StoredRun, methods: Mapping[str, Method]) -> ChartedRun | None:
        """The run as the run store charted it; None when its points are not stored (a run
        decided before the store kept them, or one not final)."""
        if run.chart_points is None:
            return None
        config = run.config(methods)
        analyte = "" if config is None else config.analyte
        return ChartedRun(run, (run.method, analyte, run.instrument or ""), run.chart_points)


def stored_chart_points(batch_id: str, value: Any) -> dict[SeriesName, tuple[Point, ...]] | None:
    """A decision document's `meta.chartPoints` (`{series: [[value, sequence, sample id],
    ...]}`, as the run store writes it) as Points of run `batch_id`; None when absent (JSON
    null or missing). UvqcError names the run when the document holds something else (a
    store written by hand or damaged: fail loudly rather than chart wrong points)."""
    if value is None:
        return None
    try:
        out = {
            _series(series): tuple(
                Point(float(v), batch_id, None if q is None else int(q), sid) for v, q, sid in rows
            )
            for series, rows in value.items()
        }
    except (AttributeError, TypeError, ValueError) as exc:
        raise UvqcError(
            f"run {batch_id!r}: its decision document's meta.chartPoints is malformed ({exc}); "
            f"`uvqc runs show {batch_id}` prints it"
        ) from exc
    return out


def _series(name: object) -> SeriesName:
    if name not in SERIES:
        raise ValueError(f"unknown series {name!r}")
    return name


def decide(
    run: StoredRun,
    results: Iterable[RunResult],
    config: RunConfig | None,
    instrument: str | None = None,
) -> DecidedRun:
    pool = tuple(results)
    decision = evaluate_run(pool, config, batch_id=run.batch_id, final=run.status == "final")
    return DecidedRun(run, pool, config, decision, instrument)


def chart_config(config: RunConfig | None) -> ControlChartConfig:
    return ControlChartConfig() if config is None else config.control_charts


def _charted(run: ChartedRun | DecidedRun) -> ChartedRun:
    return run if isinstance(run, ChartedRun) else run.charted()


def series_points(
    runs: Sequence[ChartedRun | DecidedRun], *, upto: str | None = None
) -> dict[ChartKey, dict[SeriesName, list[Point]]]:
    """Points of every chart, runs in the given (time) order; with `upto`, only runs up to
    and including that batch id."""
    charts: dict[ChartKey, dict[SeriesName, list[Point]]] = {}
    for entry in runs:
        run = _charted(entry)
        by_series = charts.setdefault(run.key, {s: [] for s in SERIES})
        for series, points in run.points.items():
            by_series[series].extend(points)
        if run.run.batch_id == upto:
            break
    return charts


def run_charts(
    target: DecidedRun, history: Sequence[ChartedRun | DecidedRun]
) -> tuple[list[ChartState], list[ChartSeries]]:
    """The charts of `target`'s key as of `target` (history: every run, in time order,
    target included; of the others, only final runs count, as when the run store judged the
    target), with the violations involving the target's points; only the series in which
    the target has points. The target's own points are those of its decision. Returns the
    states and their drawable form."""
    own = target.charted()
    same: list[ChartedRun] = []
    for entry in history:
        if entry.run.batch_id == target.run.batch_id:
            same.append(own)
        elif entry.run.status == "final":
            run = _charted(entry)
            if run.key == target.key:
                same.append(run)
    by_series = series_points(same, upto=target.run.batch_id).get(target.key, {})
    config = chart_config(target.config)
    units = target.decision.units
    states: list[ChartState] = []
    drawn: list[ChartSeries] = []
    for series in SERIES:
        points = by_series.get(series, [])
        if not any(p.batch_id == target.run.batch_id for p in points):
            continue
        state = chart_state(series, points, config, batch_id=target.run.batch_id)
        states.append(state)
        drawn.append(_drawn(state, SERIES_UNITS[series] or units, target.run.batch_id))
    return states, drawn


def _drawn(state: ChartState, unit: str, batch_id: str) -> ChartSeries:
    """The chart as drawn: its newest CHART_WINDOW points (a chart of six months of points is
    unreadable, and slow to draw), violations re-indexed to them."""
    start = max(0, len(state.points) - CHART_WINDOW)
    violations = tuple(
        Violation(v.rule, tuple(i - start for i in v.points if i >= start))
        for v in state.violations
        if any(i >= start for i in v.points)
    )
    title = SERIES_TITLES[state.series]
    if start:
        title += f", last {CHART_WINDOW} of {len(state.points)} points"
    return ChartSeries(
        title, unit, state.points[start:], state.limits, batch_id, violations, state.no_spread
    )


def run_chart_findings(target: DecidedRun, states: Sequence[ChartState]) -> list[RunFinding]:
    """The `control_chart` findings the run store gives a final run (uvqc.charts.findings)."""
    if target.config is None or target.run.status != "final":
        return []
    method, analyte, instrument = target.key
    where = f"{method}, {analyte}, {instrument or 'instrument unknown'}"
    return chart_findings(target.run.batch_id, states, where=where, units=target.config.units)


def all_charts(
    runs: Sequence[ChartedRun | DecidedRun], configs: Mapping[str, RunConfig | None]
) -> list[tuple[ChartKey, ChartState]]:
    """Every chart's current state (`uvqc charts`): violations of its newest run's points."""
    out: list[tuple[ChartKey, ChartState]] = []
    for key, by_series in sorted(series_points(runs).items()):
        config = chart_config(configs.get(key[0]))
        for series in SERIES:
            points = by_series[series]
            if not points:
                continue
            newest = points[-1].batch_id
            out.append((key, chart_state(series, points, config, batch_id=newest)))
    return out
