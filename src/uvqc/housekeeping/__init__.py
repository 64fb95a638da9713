"""Keeping the records, and the database, in shape: exports of records as CSV or JSON Lines
(`uvqc export`), pruning of exported records (`uvqc prune`), and the periodic sweep of the
ledger (adapters/sqlite/housekeeping.py). The formats here are pure: records in, text out."""

from uvqc.housekeeping.export import (
    EXPORT_FORMATS,
    ExportSummary,
    parse_bound,
    record_row,
    write_records,
)

__all__ = ["EXPORT_FORMATS", "ExportSummary", "parse_bound", "record_row", "write_records"]
