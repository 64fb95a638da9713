"""Records as CSV or JSON Lines: one row/line per record, every field of ResultRecord
(camelCase, as in the DynamoDB items and `uvqc trace --format json`), times as ISO-8601 UTC.

JSON Lines keeps `findings` as a list of objects; CSV (RFC 4180, UTF-8, CRLF line ends as the
csv module writes them) keeps it as a JSON string in one cell. A CSV cell that a spreadsheet
would run as a formula (it starts with =, +, -, @, TAB or CR: a sample ID from an instrument
may) gets a leading `'` (OWASP "CSV injection"); the JSON Lines export is exact.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Literal, TextIO

from uvqc.errors import UsageError
from uvqc.pipeline.records import ResultRecord, iso

ExportFormat = Literal["csv", "jsonl"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "jsonl")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ResultRecord))
COLUMNS: tuple[str, ...] = tuple(_camel(name) for name in FIELDS)


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [v.to_dict() if hasattr(v, "to_dict") else _value(v) for v in value]
    return value


def record_row(record: ResultRecord) -> dict[str, Any]:
    """A record as a JSON-ready mapping, keys in COLUMNS order."""
    return {col: _value(getattr(record, name)) for name, col in zip(FIELDS, COLUMNS, strict=True)}


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote: records, bytes (UTF-8), their SHA-256, and the received_at
    range of the records written (None when there were none)."""

    records: int
    bytes: int
    sha256: str
    first_received_at: str | None
    last_received_at: str | None


class _HashingWriter:
    """Passes text through to `out`, counting and hashing its UTF-8 bytes."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.digest = hashlib.sha256()
        self.bytes = 0

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self.digest.update(data)
        self.bytes += len(data)
        return self.out.write(text)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: `'` before text that starts like a formula
    (OWASP CSV injection); numbers and other text unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_records(records: Iterable[ResultRecord], out: TextIO, fmt: ExportFormat) -> ExportSummary:
    """Stream `records` to `out` in `fmt` (a header row first for CSV)."""
    sink = _HashingWriter(out)
    count = 0
    first = last = None
    writer = None
    if fmt == "csv":
        writer = csv.DictWriter(sink, fieldnames=COLUMNS)
        writer.writeheader()
    elif fmt != "jsonl":
        raise UsageError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    for record in records:
        row = record_row(record)
        if writer is not None:
            cells = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in row.items()}
            cells["findings"] = json.dumps(row["findings"], ensure_ascii=False)
            writer.writerow({k: spreadsheet_safe(v) for k, v in cells.items()})
        else:
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
        first = first or row["receivedAt"]
        last = row["receivedAt"]
    return ExportSummary(count, sink.bytes, sink.digest.hexdigest(), first, last)


def parse_bound(text: str, *, option: str) -> str:
    """A --since/--until value (a date `2026-11-27`, meaning its 00:00 UTC, or an ISO-8601
    date-time; without an offset it is UTC) as the records' ISO text (`...T00:00:00.000Z`).
    Raises UsageError naming the option and the accepted forms."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return iso(datetime(day.year, day.month, day.day, tzinfo=UTC))
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: expected a date (2026-11-27) or an ISO-8601 date-time "
            "(2026-11-27T14:30:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return iso(moment)
