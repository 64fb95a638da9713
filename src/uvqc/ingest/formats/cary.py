"""Agilent Cary WinUV CSV (Scan application; Cary 50/60/100/300/3500).

Row 1: sample names, each followed by an empty cell. Row 2: ``Wavelength (nm)`` and the y
label (``Abs``, ``%T``) alternating: x/y column pairs, two by two. Pairs may differ in
length and grid (ragged, padded with empty cells). Data ends at the first blank or all-comma
row; a metadata block per sample follows (``Collection Time: 1/15/2014 4:59:54 PM``, a
parameter list aligned by spaces). Every row ends with a comma; CRLF. Baseline
pseudo-samples (``Baseline 100%T``, ``0%T``) are skipped and listed. The over-range marker
10 is kept as written (the over-range rules flag it).
"""

from __future__ import annotations

import re

from uvqc.ingest.formats.common import (
    US_DATETIME,
    SampleError,
    check_x_label,
    check_y_label,
    clean_name,
    parse_datetime,
    scan_or_error,
)
from uvqc.ingest.model import ParsedFile, Refused, SampleRefusal, Scan
from uvqc.ingest.text import Text, csv_rows, looks_decimal_comma

NAME = "cary"
_BASELINE = re.compile(r"^\s*(baseline\s*100\s*%\s*t|0\s*%\s*t|baseline)\s*$", re.I)
_X_LABEL = re.compile(r"^\s*(wavelength|time)\b", re.I)
_INSTRUMENT = re.compile(r"^Instrument\s{2,}(?P<v>\S.*?)\s*$")
_COLLECTED = re.compile(r"^Collection Time:\s*(?P<v>.+?)\s*$")


def _second_row(text: Text) -> list[str] | None:
    rows = csv_rows(text, ",")
    try:
        next(rows)
        return next(rows)[1]
    except StopIteration:
        return None


def sniff(text: Text) -> bool:
    row = _second_row(text)
    if not row or len(row) < 2:
        return False
    return bool(_X_LABEL.match(row[0])) and ("," in text.lines[0])


def is_baseline(name: str) -> bool:
    return bool(_BASELINE.match(name))


def parse(text: Text, stem: str) -> ParsedFile:
    rows = list(csv_rows(text, ","))
    if len(rows) < 2:
        raise Refused("empty", "Cary CSV without data rows")
    names, labels = rows[0][1], rows[1][1]
    data: list[tuple[int, list[str]]] = []
    end = len(rows)
    for i, (no, cells) in enumerate(rows[2:], 2):
        if not any(c.strip() for c in cells):
            end = i
            break
        data.append((no, cells))
    decimal_comma = False  # Cary CSV separates with commas: decimals are points
    parsed = ParsedFile(NAME)
    pairs = len(labels) // 2
    for p in range(pairs):
        xl, yl = labels[2 * p], labels[2 * p + 1]
        if not xl.strip() and not yl.strip():
            continue
        check_x_label(xl)
        ordinate = check_y_label(yl)
        raw_name = names[2 * p] if 2 * p < len(names) else ""
        name = clean_name(raw_name)
        if name is not None and is_baseline(name):
            parsed.skipped.append(name)
            continue
        try:
            scan = scan_or_error(name, data, 2 * p, 2 * p + 1, decimal_comma, ordinate, rows[0][0])
        except SampleError as exc:
            parsed.refused.append(SampleRefusal(name, exc.reason, exc.line, exc.column))
            continue
        parsed.samples.append(scan)
    if not parsed.samples and not parsed.refused and not parsed.skipped:
        raise Refused("empty", "Cary CSV: no x/y column pairs under the sample names")
    _metadata(text, [r[0] for r in rows[end:]], parsed)
    if looks_decimal_comma([c for _, cells in data[:5] for c in cells]):
        parsed.notes.append("decimal commas in a comma-separated Cary file")
    return parsed


def _metadata(text: Text, line_numbers: list[int], parsed: ParsedFile) -> None:
    """Per-sample blocks: a line with the sample name, then `Collection Time: ...`."""
    by_name = {s.name: s for s in parsed.samples if isinstance(s, Scan) and s.name}
    current: str | None = None
    for no in line_numbers:
        line = text.lines[no - 1] if no - 1 < len(text.lines) else ""
        stripped = line.strip().rstrip(",").strip()
        if stripped in by_name:
            current = stripped
            continue
        if m := _COLLECTED.match(stripped):
            when = parse_datetime(m["v"], US_DATETIME)
            if when is not None and current in by_name:
                by_name[current].measured_at = when
            if when is not None and parsed.measured_at is None:
                parsed.measured_at = when
        elif (m := _INSTRUMENT.match(stripped)) and parsed.instrument_id is None:
            parsed.instrument_id = m["v"]
