"""Analytical runs: calibration, concentrations and run-level QC (docs/RUNS.md).

config.py (the `[run]` section of a method file), calibration.py (least-squares fits),
evaluate.py (`evaluate_run`: a set of results -> RunDecision, pure and deterministic),
notices.py (run decisions -> notification requests). No I/O here; the SQLite and DynamoDB
run stores live in uvqc.adapters.
"""
