"""A run with several run decisions for the grouping tests (uvqc.runs.grouping): one that
should stop the run (a failed CCV, `check_standard_failed`: immediate by default) and four
that wait for a group (`duplicate_rpd`, `spike_recovery`, `blank_contamination`,
`above_calibration`), with hostile sample IDs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.runs.builder import BATCH, absorbance, passing_run, replace_at

METHOD = "nitrate-grouped"
HOSTILE = "<script>alert(1)</script>\u202e$HOME"


def grouped_run(batch_size: int | None = 37) -> list[dict[str, Any]]:
    """passing_run with: DUP0 far from S00 (position 14), SPK1 recovering ~300 % (position
    25), CCV1 at 70 % (position 26: check_standard_failed), CCB2 contaminated (position
    37), a sample above the highest standard (position 30, hostile ID)."""
    run = passing_run(batch_size)
    run = replace_at(run, 14, absorbance=absorbance(2.5))
    run = replace_at(run, 25, absorbance=absorbance(5.0))
    run = replace_at(run, 26, absorbance=absorbance(1.4))
    run = replace_at(run, 37, absorbance=absorbance(0.5))
    return replace_at(run, 30, absorbance=absorbance(7.0), sampleId=HOSTILE)


def remeasured(message: dict[str, Any], hours: float = 3, **changes: Any) -> dict[str, Any]:
    """`message` measured again `hours` later at the same position (the later measurement
    wins), with `changes` (e.g. a passing absorbance)."""
    again = {**message, **changes}
    again["measuredAt"] = (
        datetime.fromisoformat(message["measuredAt"]) + timedelta(hours=hours)
    ).isoformat()
    return again


def passing(seq: int, batch_size: int | None = 37) -> dict[str, Any]:
    """Position `seq` of the clean run (as a re-measurement of a failed QC sample reads)."""
    return next(m for m in passing_run(batch_size) if m["sequence"] == seq)


def contaminated_blank_run(batch_size: int | None = None) -> list[dict[str, Any]]:
    """passing_run with CCB1 (position 27) at 0.45 mg/L: `blank_contamination` of the 16
    samples around it below 10x the blank, known once position 37 is present."""
    return replace_at(passing_run(batch_size), 27, absorbance=absorbance(0.45))


def method_data(**notify: Any) -> dict[str, Any]:
    """A method file's mapping with a `[run]` section (and `[run.notify]` = notify)."""
    run: dict[str, Any] = {
        "analyte": "nitrate-N",
        "units": "mg/L",
        "reporting_level": 0.1,
        "detection_level": 0.05,
    }
    if notify:
        run["notify"] = notify
    return {"name": METHOD, "rules": {}, "run": run}


__all__ = [
    "BATCH",
    "HOSTILE",
    "METHOD",
    "contaminated_blank_run",
    "grouped_run",
    "method_data",
    "passing",
    "remeasured",
]
