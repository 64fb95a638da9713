"""A run's results, method and decision -> RunReport, and the run's control-chart points.

Pure: no I/O, no plotting. The QC values are uvqc.charts.points' (docs/RUNS.md):
- check standard recovery % = concentration / nominal x 100, within `[run.check_standard]
  recovery_pct` (SM 2020 B; EPA 353.2 section 9);
- blank concentration <= `[run.blank] max` (default RL / 2, SM 2020 B);
- duplicate RPD % = |x1 - x2| / mean(x1, x2) x 100 <= `[run.duplicate] max_rpd_pct`
  (not applied below the RL);
- spike recovery % = (spiked - unspiked) / added x 100 within `[run.spike] recovery_pct`.
The control-chart series (uvqc.charts.config.SERIES) take one point per such QC value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from uvqc.charts.config import SeriesName
from uvqc.charts.points import KIND, SERIES_TITLES, QcValue, chart_points, qc_values
from uvqc.report.model import (
    Calibration,
    ChartSeries,
    QcRow,
    ResultRow,
    RunFinding,
    RunReport,
    ScanPlot,
    Standard,
)
from uvqc.runs.config import RunConfig
from uvqc.runs.model import Calibration as RunCalibration
from uvqc.runs.model import RunDecision, RunResult
from uvqc.runs.reanalysis import reanalysis as reanalysis_of_decisions
from uvqc.runs.report import reported_concentration

__all__ = [
    "SERIES_TITLES",
    "QcValue",
    "SeriesName",
    "build_report",
    "chart_points",
    "qc_values",
    "reanalysis",
]


def _calibration(cal: RunCalibration, units: str) -> Calibration:
    if cal.fit is None:
        coefficients: tuple[float, ...] = ()
    elif cal.model == "quadratic":
        coefficients = cal.fit.coefficients
    else:
        coefficients = cal.fit.coefficients[:2]
    standards = tuple(
        Standard(
            s.sample_id,
            s.nominal,
            s.absorbance,
            s.back_calculated,
            s.error_pct,
            passed=s.passed,
        )
        for s in cal.standards
        if s.nominal is not None
    )
    return Calibration(cal.model, coefficients, cal.r, standards, passed=cal.passed, units=units)


def reanalysis(decision: RunDecision) -> tuple[str, ...]:
    """Samples affected by fail-severity decisions (run findings and result notices), in the
    order the decisions name them, each once (uvqc.runs.reanalysis: the daily digest counts
    the same)."""
    return reanalysis_of_decisions((*decision.findings, *decision.notices))


def build_report(
    decision: RunDecision,
    results: Sequence[RunResult],
    config: RunConfig | None,
    *,
    method: str | None = None,
    instrument: str | None = None,
    first_measured: str | None = None,
    charts: Iterable[ChartSeries] = (),
    spectra: Iterable[ScanPlot] = (),
    extra_findings: Iterable[RunFinding] = (),
) -> RunReport:
    """The RunReport of a decided run (`decision` = evaluate_run(results, config, ...))."""
    units = config.units if config is not None else decision.units
    calibrations = tuple(_calibration(cal, units) for cal in decision.calibrations)
    rows = tuple(
        ResultRow(
            ln.sequence,
            ln.sample_id,
            ln.sample_type,
            ln.absorbance,
            ln.concentration,
            ln.qualifier,
            ln.verdict,
            ln.findings,
            reported_concentration(
                ln.concentration,
                ln.qualifier,
                None if config is None else config.reporting_level,
                ln.dilution_factor,
            ),
        )
        for ln in decision.results
    )
    qc = (
        ()
        if config is None
        else tuple(
            QcRow(KIND[v.series], v.sequence, v.sample_id, v.value, v.unit, v.limits, v.passed)
            for v in qc_values(decision, results, config)
        )
    )
    findings = tuple(
        RunFinding(f.code, f.severity, f.message, f.affected)
        for f in (*decision.findings, *decision.notices)
    ) + tuple(extra_findings)
    return RunReport(
        batch_id=decision.batch_id,
        status=decision.status,
        verdict=decision.verdict,
        method=method,
        analyte=None if config is None else config.analyte,
        units=units,
        instrument=instrument,
        first_measured=first_measured,
        calibrations=calibrations,
        results=rows,
        qc=qc,
        findings=findings,
        reanalysis=reanalysis(decision),
        charts=tuple(charts),
        spectra=tuple(spectra),
    )
