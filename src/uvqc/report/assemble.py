"""Stored runs -> run reports: the reported run decided again from its results with the
`[run]` section it was decided with, its control charts as of the run, the scans of its
flagged samples. Pure apart from the `ReportSource` it reads (SQLite:
adapters/sqlite/report_source; DynamoDB: adapters/dynamodb_report).

The charts' history is read, not decided again: each final run's decision document keeps
the chart points the run store judged it with (`StoredRun.chart_points`). Runs stored
without them (decided before the store kept them) are decided again, as all runs once were;
`decide_all` still decides every run (the reference the equivalence tests compare with).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from uvqc.core.methods import Method
from uvqc.report.build import build_report
from uvqc.report.history import (
    ChartedRun,
    DecidedRun,
    StoredRun,
    decide,
    run_chart_findings,
    run_charts,
)
from uvqc.report.model import RunFinding as ReportFinding
from uvqc.report.model import RunReport, ScanPlot
from uvqc.runs.model import RunResult

SPECTRA_SHOWN = 12  # scans of flagged samples drawn in one report (the first, by position)


class ReportSource(Protocol):
    """What reports read from a run store."""

    def runs(self) -> list[StoredRun]: ...

    def results(self, batch_id: str) -> list[RunResult]: ...

    def instruments(self, batch_ids: Collection[str] | None = None) -> dict[str, str]:
        """The instrument of each run (of `batch_ids` only, when given); runs without one
        are left out."""
        ...

    def raw(self, record_ids: Iterable[str]) -> dict[str, dict[str, Any]]: ...


def decide_all(
    source: ReportSource,
    methods: Mapping[str, Method],
    *,
    only: Callable[[StoredRun], bool] | None = None,
) -> list[DecidedRun]:
    """Every stored run (or those `only` keeps), decided again, in the order they began."""
    instruments = source.instruments()  # every run's: decide_all decides every run
    out: list[DecidedRun] = []
    for run in source.runs():
        if only is not None and not only(run):
            continue
        config = run.config(methods)
        out.append(decide(run, source.results(run.batch_id), config, instruments.get(run.batch_id)))
    return out


def chart_history(
    source: ReportSource, methods: Mapping[str, Method], stored: Sequence[StoredRun]
) -> list[ChartedRun]:
    """The chart points of `stored` runs, one entry per run in their order: a final run's as
    the run store kept them, else (no `chart_points` stored) decided again from its results.
    Runs not final have no points (no run is judged against them; a report puts its own run's
    points in, see run_charts), nor have runs without a `[run]` section."""

    def needs_deciding(run: StoredRun) -> bool:
        return (
            run.status == "final" and run.chart_points is None and run.config(methods) is not None
        )

    missing = {r.batch_id for r in stored if needs_deciding(r)}
    instruments = source.instruments(missing) if missing else {}
    out: list[ChartedRun] = []
    for run in stored:
        charted = ChartedRun.stored(run, methods) if run.status == "final" else None
        if charted is not None:
            out.append(charted)
        elif run.batch_id in missing:
            results = source.results(run.batch_id)
            config = run.config(methods)
            out.append(decide(run, results, config, instruments.get(run.batch_id)).charted())
        else:
            out.append(ChartedRun(run, (run.method, "", ""), {}))
    return out


def decide_target(
    source: ReportSource, methods: Mapping[str, Method], run: StoredRun
) -> DecidedRun:
    """A run decided again for its report, charted under the instrument the run store judged
    it with (when stored; else the instrument of its results)."""
    instrument = run.instrument
    if run.chart_points is None:
        instrument = source.instruments({run.batch_id}).get(run.batch_id)
    return decide(run, source.results(run.batch_id), run.config(methods), instrument)


def _spectra(source: ReportSource, target: DecidedRun) -> list[ScanPlot]:
    flagged = [
        r for r in target.decision.results if r.verdict != "pass" and r.sequence is not None
    ][: SPECTRA_SHOWN * 4]
    raw = source.raw(r.record_id for r in flagged)
    scans: list[ScanPlot] = []
    for line in flagged:
        spectrum = raw.get(line.record_id, {}).get("spectrum")
        if not isinstance(spectrum, dict):
            continue
        xs, ys = spectrum.get("wavelengthNm"), spectrum.get("absorbance")
        if (
            isinstance(xs, list)
            and isinstance(ys, list)
            and len(xs) == len(ys) > 0
            and all(isinstance(v, int | float) for v in (*xs, *ys))
        ):
            scans.append(ScanPlot(line.sample_id, tuple(map(float, xs)), tuple(map(float, ys))))
        if len(scans) == SPECTRA_SHOWN:
            break
    return scans


def report_of(
    source: ReportSource, target: DecidedRun, history: Sequence[ChartedRun | DecidedRun]
) -> RunReport:
    """The report of a decided run; `history`: the runs of its method in time order (see
    chart_history), the target's own place among them."""
    states, charts = run_charts(target, history)
    extra = [
        ReportFinding(f.code, f.severity, f.message, f.affected)
        for f in run_chart_findings(target, states)
    ]
    first = min((r.measured_at for r in target.results if r.measured_at is not None), default=None)
    return build_report(
        target.decision,
        target.results,
        target.config,
        method=target.run.method,
        instrument=target.instrument,
        first_measured=None if first is None else first.isoformat(timespec="minutes"),
        charts=charts,
        spectra=_spectra(source, target),
        extra_findings=extra,
    )


def report_for(
    source: ReportSource, methods: Mapping[str, Method], batch_id: str
) -> RunReport | None:
    """The report of one stored run (None: no such run); its history: runs of its method."""
    reports = reports_for(source, methods, [batch_id])
    return reports[0] if reports else None


def reports_for(
    source: ReportSource,
    methods: Mapping[str, Method],
    batch_ids: Collection[str],
    *,
    stored: Sequence[StoredRun] | None = None,
) -> list[RunReport]:
    """The reports of the stored runs named (in the order the runs began; unknown names are
    left out). Only these runs are decided again; their charts' history is read. `stored`:
    source.runs() when the caller has it already."""
    stored = source.runs() if stored is None else stored
    wanted = [r for r in stored if r.batch_id in batch_ids]
    used = {r.method for r in wanted}
    history = chart_history(source, methods, [r for r in stored if r.method in used])
    return [report_of(source, decide_target(source, methods, r), history) for r in wanted]
