"""Verdicts and findings: what QC concluded about one result.

Findings carry a fixed code and a severity; the verdict aggregates them with an explicit
precedence (reject > flag > pass), the way ioos_qc aggregates FAIL > SUSPECT > GOOD.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

INVALID_MESSAGE = "invalid_message"


class Severity(StrEnum):
    """How bad a finding is: `suspect` results may be reported with a qualifier, `fail` not."""

    SUSPECT = "suspect"
    FAIL = "fail"


class Verdict(StrEnum):
    """The outcome for one result."""

    PASS = "pass"
    FLAG = "flag"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing QC noticed: a code, a severity, a human message, and the numbers involved."""

    code: str
    severity: Severity
    message: str
    value: float | str | None = None
    limit: float | str | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "value": self.value,
            "limit": self.limit,
        }
        if self.field is not None:
            data["field"] = self.field
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            code=str(data["code"]),
            severity=Severity(data["severity"]),
            message=str(data["message"]),
            value=data.get("value"),
            limit=data.get("limit"),
            field=data.get("field"),
        )


@dataclass(frozen=True, slots=True)
class Judgement:
    """The verdict for one raw message, with everything needed to record and explain it."""

    sample_id: str | None
    verdict: Verdict
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    method: str | None = None
    # Water-quality indices of the result's scan (uvqc.spectra.indices), None without one.
    indices: Mapping[str, float | None] | None = None

    @property
    def needs_notification(self) -> bool:
        return self.verdict is not Verdict.PASS

    def to_dict(self) -> dict[str, Any]:
        """The judgement as JSON-ready camelCase; `indices` only for a result with a scan."""
        data: dict[str, Any] = {
            "sampleId": self.sample_id,
            "verdict": self.verdict.value,
            "method": self.method,
            "findings": [f.to_dict() for f in self.findings],
        }
        if self.indices is not None:
            data["indices"] = dict(self.indices)
        return data


def verdict_for(findings: tuple[Finding, ...]) -> Verdict:
    """Aggregate findings into a verdict: any invalid_message rejects, any other flags."""
    if not findings:
        return Verdict.PASS
    if any(f.code == INVALID_MESSAGE for f in findings):
        return Verdict.REJECT
    return Verdict.FLAG if findings else Verdict.PASS
