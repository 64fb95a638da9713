"""Stored runs -> run reports: each run decided again from its results with the `[run]`
section it was decided with, its control charts as of the run, the scans of its flagged
samples. Pure apart from the `ReportSource` it reads (SQLite: adapters/sqlite/report_source).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from uvqc.core.methods import Method
from uvqc.report.build import build_report
from uvqc.report.history import DecidedRun, StoredRun, decide, run_chart_findings, run_charts
from uvqc.report.model import RunFinding as ReportFinding
from uvqc.report.model import RunReport, ScanPlot
from uvqc.runs.model import RunResult

SPECTRA_SHOWN = 12  # scans of flagged samples drawn in one report (the first, by position)


class ReportSource(Protocol):
    """What reports read from a run store."""

    def runs(self) -> list[StoredRun]: ...

    def results(self, batch_id: str) -> list[RunResult]: ...

    def instruments(self) -> dict[str, str]: ...

    def raw(self, record_ids: Iterable[str]) -> dict[str, dict[str, Any]]: ...


def decide_all(
    source: ReportSource,
    methods: Mapping[str, Method],
    *,
    only: Callable[[StoredRun], bool] | None = None,
) -> list[DecidedRun]:
    """Every stored run (or those `only` keeps), decided again, in the order they began."""
    instruments = source.instruments()
    out: list[DecidedRun] = []
    for run in source.runs():
        if only is not None and not only(run):
            continue
        config = run.config(methods)
        out.append(decide(run, source.results(run.batch_id), config, instruments.get(run.batch_id)))
    return out


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


def report_of(source: ReportSource, target: DecidedRun, history: Sequence[DecidedRun]) -> RunReport:
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
    method = next((r.method for r in source.runs() if r.batch_id == batch_id), None)
    if method is None:
        return None
    history = decide_all(source, methods, only=lambda r: r.method == method)
    target = next((r for r in history if r.run.batch_id == batch_id), None)
    return None if target is None else report_of(source, target, history)
