"""The reanalysis list of a run: which samples to re-measure. One definition for the HTML
report (uvqc.report.build), the run digest and the daily digest (uvqc.daily.digest).

A sample is to be re-measured when a decision of severity `fail` names it (docs/RUNS.md
"Decisions"): a run-level finding (check_standard_failed, calibration_failed, ...: the
samples it covers) or a result-level notice (above_calibration: the sample itself). A QC
sample whose own value failed (the check standard CCV-2) is the reason, not a sample to
re-measure: it is named only when a decision names it. The run store's `control_chart`
findings (a Westgard rule on the QC sample's chart point, added to a final run's stored
decision) are left out: the report lists them as decisions, not in its reanalysis list.
Pure, stdlib only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

# Result-level decisions of severity `fail` (uvqc.runs.evaluate: notices, run_level=False)
# and the sample types they are raised for (evaluate.SAMPLES).
FAIL_NOTICES = frozenset({"above_calibration"})
NOTICE_TYPES = frozenset({"sample", "duplicate", "spike"})
CHART_CODES = frozenset({"control_chart"})  # not run QC decisions (uvqc.charts.findings)


class Affecting(Protocol):
    """A decision as far as reanalysis is concerned (uvqc.runs.model.RunFinding)."""

    @property
    def code(self) -> str: ...

    @property
    def severity(self) -> str: ...

    @property
    def affected(self) -> tuple[str, ...]: ...


def reanalysis_of(decisions: Iterable[tuple[str, str, Iterable[str]]]) -> tuple[str, ...]:
    """Sample IDs named by the (code, severity, affected sample IDs) decisions of severity
    `fail` (CHART_CODES left out), in the order the decisions name them, each once."""
    out: dict[str, None] = {}
    for code, severity, affected in decisions:
        if severity == "fail" and code not in CHART_CODES:
            out.update(dict.fromkeys(str(s) for s in affected))
    return tuple(out)


def reanalysis(decisions: Iterable[Affecting]) -> tuple[str, ...]:
    """The reanalysis list of a run's findings and notices (RunDecision.findings + notices)."""
    return reanalysis_of((d.code, d.severity, d.affected) for d in decisions)


def document_reanalysis(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The reanalysis list of a stored decision document (uvqc.runs.report.decision_document,
    which keeps run-level findings but not the result-level notices): its run-level `fail`
    findings, then each result that carries a FAIL_NOTICES code and is of a NOTICE_TYPES
    type with a position, as evaluate raises the notice. Equal to `reanalysis` of the
    decision the document was written from (tests/daily: on the example run)."""
    findings = [
        (str(f.get("code", "")), str(f.get("severity", "")), list(f.get("affected") or []))
        for f in document.get("findings") or []
    ]
    notices = [
        ("above_calibration", "fail", [str(r.get("sampleId"))])
        for r in document.get("results") or []
        if r.get("sequence") is not None
        and str(r.get("sampleType")) in NOTICE_TYPES
        and FAIL_NOTICES.intersection(str(c) for c in r.get("findings") or [])
    ]
    return reanalysis_of([*findings, *notices])
