"""What a run report shows: plain, frozen data built from a run's decisions and records."""

from __future__ import annotations

from dataclasses import dataclass, field

from uvqc.charts.westgard import Limits, Point, Violation


@dataclass(frozen=True, slots=True)
class Standard:
    """One calibration standard: its nominal concentration, absorbance and back-calculation."""

    sample_id: str
    nominal: float
    absorbance: float
    back_calculated: float | None
    error_pct: float | None
    passed: bool = True


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted calibration block: absorbance = f(concentration)."""

    model: str  # linear | linear_through_zero | quadratic
    coefficients: tuple[float, ...]  # c0, c1[, c2]: A = c0 + c1 x + c2 x^2
    r: float | None
    standards: tuple[Standard, ...]
    passed: bool = True
    units: str = "mg/L"

    def absorbance_at(self, concentration: float) -> float:
        return sum(c * concentration**i for i, c in enumerate(self.coefficients))

    @property
    def range(self) -> tuple[float, float] | None:
        nominals = [s.nominal for s in self.standards]
        return (min(nominals), max(nominals)) if nominals else None


@dataclass(frozen=True, slots=True)
class ResultRow:
    sequence: int | None
    sample_id: str
    sample_type: str
    absorbance: float | None
    concentration: float | None
    qualifier: str | None
    verdict: str
    findings: tuple[str, ...] = ()
    reported: str = ""  # as reported: "< RL", "E value (RL x)", the value (runs.report)


@dataclass(frozen=True, slots=True)
class QcRow:
    """One QC check of the run: a check standard's recovery, a blank, a duplicate's RPD..."""

    kind: str  # "check standard" | "blank" | "duplicate" | "spike"
    sequence: int | None
    sample_id: str
    value: float | None
    unit: str
    limits: str
    passed: bool


@dataclass(frozen=True, slots=True)
class RunFinding:
    code: str
    severity: str
    message: str
    affected: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChartSeries:
    """A control chart: one QC series across runs, its limits, this run's points, violations."""

    name: str
    unit: str
    points: tuple[Point, ...]
    limits: Limits | None
    highlight_batch: str | None = None
    violations: tuple[Violation, ...] = ()
    no_spread: bool = False  # enough points, but equal: no limits until the method gives them


@dataclass(frozen=True, slots=True)
class ScanPlot:
    sample_id: str
    wavelength_nm: tuple[float, ...]
    absorbance: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class RunReport:
    batch_id: str
    status: str
    verdict: str
    method: str | None = None
    analyte: str | None = None
    units: str = "mg/L"
    instrument: str | None = None
    first_measured: str | None = None
    calibrations: tuple[Calibration, ...] = ()
    results: tuple[ResultRow, ...] = ()
    qc: tuple[QcRow, ...] = ()
    findings: tuple[RunFinding, ...] = ()
    reanalysis: tuple[str, ...] = ()
    charts: tuple[ChartSeries, ...] = ()
    spectra: tuple[ScanPlot, ...] = field(default_factory=tuple)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.verdict] = out.get(r.verdict, 0) + 1
        return out
