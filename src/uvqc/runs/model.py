"""What run QC works on and concludes: a run's results (RunResult), calibrations,
result lines, findings and the decision (RunDecision). Plain frozen dataclasses; the
deciding is in uvqc.runs.evaluate."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from uvqc.runs.calibration import Fit

_EPOCH = datetime.min.replace(tzinfo=UTC)

# Codes and severities (docs/RUNS.md).
SEVERITY = {
    "calibration_failed": "fail",
    "above_calibration": "fail",
    "check_standard_failed": "fail",
    "bracketing_check_failed": "fail",
    "blank_contamination": "fail",
    "blank_contaminated": "fail",
    "duplicate_rpd": "suspect",
    "spike_recovery": "suspect",
    "qc_frequency": "suspect",
    "run_incomplete": "suspect",
    "control_chart": "fail",  # a Westgard 1-2s warning is "suspect" (RunFinding.level)
}


def num(value: float, digits: int = 4) -> str:
    """A number for a message: `digits` significant digits, no trailing zeros."""
    return f"{value:.{digits}g}"


def positions_text(positions: Iterable[int]) -> str:
    """1, 2, 3, 5, 7, 8 -> "1-3, 5, 7-8"."""
    ordered = sorted(set(positions))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class RunResult:
    """One result of a run, as run QC needs it (from the message and its record)."""

    record_id: str
    sample_id: str
    sample_type: str
    absorbance: float
    received_at: datetime
    sequence: int | None = None
    batch_size: int | None = None
    nominal: float | None = None
    dilution_factor: float = 1.0
    duplicate_of: str | None = None
    spike_of: str | None = None
    spike_added: float | None = None
    measured_at: datetime | None = None
    verdict: str = "pass"  # the record's own (result-level) verdict
    findings: tuple[str, ...] = ()  # the record's own finding codes

    def to_dict(self) -> dict[str, Any]:
        return {
            "recordId": self.record_id,
            "sampleId": self.sample_id,
            "sampleType": self.sample_type,
            "absorbance": self.absorbance,
            "receivedAt": self.received_at.astimezone(UTC).isoformat(),
            "sequence": self.sequence,
            "batchSize": self.batch_size,
            "nominal": self.nominal,
            "dilutionFactor": self.dilution_factor,
            "duplicateOf": self.duplicate_of,
            "spikeOf": self.spike_of,
            "spikeAdded": self.spike_added,
            "measuredAt": None
            if self.measured_at is None
            else self.measured_at.astimezone(UTC).isoformat(),
            "verdict": self.verdict,
            "findings": list(self.findings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        measured = data.get("measuredAt")
        return cls(
            record_id=data["recordId"],
            sample_id=data["sampleId"],
            sample_type=data["sampleType"],
            absorbance=float(data["absorbance"]),
            received_at=datetime.fromisoformat(data["receivedAt"]),
            sequence=data.get("sequence"),
            batch_size=data.get("batchSize"),
            nominal=data.get("nominal"),
            dilution_factor=float(data.get("dilutionFactor") or 1.0),
            duplicate_of=data.get("duplicateOf"),
            spike_of=data.get("spikeOf"),
            spike_added=data.get("spikeAdded"),
            measured_at=None if measured is None else datetime.fromisoformat(measured),
            verdict=data.get("verdict", "pass"),
            findings=tuple(data.get("findings", ())),
        )

    def winner_key(self) -> tuple[bool, datetime, datetime, str]:
        """Of several results at one position, the greatest key wins."""
        measured = self.measured_at
        return (measured is not None, measured or _EPOCH, self.received_at, self.record_id)


@dataclass(frozen=True, slots=True)
class Standard:
    sample_id: str
    sequence: int
    nominal: float | None
    absorbance: float
    back_calculated: float | None
    error_pct: float | None
    passed: bool


@dataclass(frozen=True, slots=True)
class Calibration:
    """One block of consecutive standards and what it calibrates."""

    first: int  # position of its first standard
    last: int  # position of its last standard
    model: str
    fit: Fit | None
    r: float | None
    standards: tuple[Standard, ...]
    reasons: tuple[str, ...]  # empty: passed
    highest: float = 0.0  # the highest nominal of the block

    @property
    def passed(self) -> bool:
        return not self.reasons and self.fit is not None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self.model,
            "slope": None if self.fit is None else self.fit.slope,
            "intercept": None if self.fit is None else self.fit.intercept,
            "r": self.r,
            "standards": [
                {
                    "sampleId": s.sample_id,
                    "nominal": s.nominal,
                    "absorbance": s.absorbance,
                    "backCalculated": s.back_calculated,
                    "errorPct": s.error_pct,
                }
                for s in self.standards
            ],
        }
        if self.model == "quadratic":
            data["coefficients"] = None if self.fit is None else list(self.fit.coefficients)
        return data


@dataclass(frozen=True, slots=True)
class ResultLine:
    """One position of the run as `runs show` lists it."""

    sequence: int | None
    sample_id: str
    sample_type: str
    absorbance: float
    record_id: str
    concentration: float | None = None
    qualifier: str | None = None
    verdict: str = "pass"
    findings: tuple[str, ...] = ()
    dilution_factor: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "sampleId": self.sample_id,
            "sampleType": self.sample_type,
            "absorbance": self.absorbance,
            "concentration": self.concentration,
            "qualifier": self.qualifier,
            "verdict": self.verdict,
            "findings": list(self.findings),
        }


@dataclass(frozen=True, slots=True)
class RunFinding:
    """A run decision: what, how bad, what to do, and which samples it concerns.

    `anchor` names the decision (its QC sample or gap) so that a re-evaluation can tell the
    same decision from a new one; `known_at` is the position up to which every position must
    be present before it is certain (None: only when the run is final)."""

    code: str
    message: str
    affected: tuple[str, ...] = ()
    positions: tuple[int, ...] = ()
    anchor: str = ""
    known_at: int | None = None
    run_level: bool = True  # False: a result finding (e-mailed, not in `findings`)
    level: str | None = None  # a severity other than the code's (control_chart warnings)

    @property
    def severity(self) -> str:
        return self.level or SEVERITY[self.code]

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "affected": list(self.affected),
        }


@dataclass(frozen=True, slots=True)
class RunDecision:
    """Everything run QC concluded about a run."""

    batch_id: str
    status: str  # "open" | "final"
    calibrations: tuple[Calibration, ...]
    results: tuple[ResultLine, ...]
    findings: tuple[RunFinding, ...]  # run-level, in `findings`
    notices: tuple[RunFinding, ...]  # result-level decisions, e-mailed per result
    prefix: int  # positions 1..prefix are all present
    batch_size: int | None = None
    missing: tuple[int, ...] = ()
    units: str = "mg/L"

    @property
    def verdict(self) -> str:
        flagged = self.findings or any(r.verdict != "pass" for r in self.results)
        return "flag" if flagged else "pass"

    def ready(self) -> list[RunFinding]:
        """Decisions whose results are all present: every one when final, else those known
        within the contiguous prefix 1..prefix."""
        every = [*self.findings, *self.notices]
        if self.status == "final":
            return every
        return [f for f in every if f.known_at is not None and f.known_at <= self.prefix]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "batchId": self.batch_id,
            "status": self.status,
            "verdict": self.verdict,
            "calibration": self.calibrations[0].to_dict() if self.calibrations else None,
        }
        if len(self.calibrations) > 1:
            data["calibrations"] = [c.to_dict() for c in self.calibrations]
        data["results"] = [r.to_dict() for r in self.results]
        data["findings"] = [f.to_dict() for f in self.findings]
        return data
