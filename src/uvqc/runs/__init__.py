"""Analytical runs: calibration, concentrations and run-level QC (docs/RUNS.md).

config.py (the `[run]` section of a method file), calibration.py (least-squares fits),
model.py (results, calibrations, findings, decisions), evaluate.py (`evaluate_run`: a set
of results -> RunDecision, pure and deterministic), notices.py (run decisions ->
notification requests), grouping.py (which decisions are e-mailed at once, held and
grouped, or folded into the run digest), report.py (the decision document and its text).
No I/O here; the SQLite and DynamoDB run stores live in uvqc.adapters.
"""
