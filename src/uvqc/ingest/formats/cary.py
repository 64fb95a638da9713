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
)
from uvqc.ingest.model import (
    Dropped,
    ParsedFile,
    Refused,
    SampleRefusal,
    Scan,
    transmittance_to_absorbance,
)
from uvqc.ingest.text import Text, csv_rows, number

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


class _Pair:
    """One sample's x/y columns, filled row by row (no per-point objects: a 60-sample,
    3,000-point file must fit a 128 MB Lambda)."""

    def __init__(self, name: str | None, col: int, ordinate: str, line: int) -> None:
        self.scan = Scan(name, [], [], line=line, column=col + 1, ordinate=ordinate)
        self.col = col
        self.error: SampleError | None = None

    def add(self, no: int, cells: list[str]) -> None:
        if self.error is not None:
            return
        c = self.col
        xs = cells[c].strip() if c < len(cells) else ""
        ys = cells[c + 1].strip() if c + 1 < len(cells) else ""
        if not xs and not ys:
            return  # padding of a shorter (ragged) pair
        x, y = number(xs), number(ys)
        if x is None:
            self.error = SampleError(
                f"line {no}: wavelength {xs!r} is not a finite number", no, c + 1
            )
        elif y is None:
            shown = repr(ys) if ys else "missing"
            self.error = SampleError(
                f"line {no}: sample value {shown} at {xs} nm is not a finite number", no, c + 2
            )
        elif self.scan.ordinate == "%T":
            a = transmittance_to_absorbance(y)
            if a is None:
                self.scan.dropped.append(Dropped(x, y, no))
            else:
                self.scan.wavelength_nm.append(x)
                self.scan.absorbance.append(a)
        else:
            self.scan.wavelength_nm.append(x)
            self.scan.absorbance.append(y)


def parse(text: Text, stem: str) -> ParsedFile:
    rows = csv_rows(text, ",")
    try:
        (first_no, names), (_, labels) = next(rows), next(rows)
    except StopIteration:
        raise Refused("empty", "Cary CSV without data rows") from None
    parsed = ParsedFile(NAME)
    pairs: list[_Pair] = []
    for p in range(len(labels) // 2):
        xl, yl = labels[2 * p], labels[2 * p + 1]
        if not xl.strip() and not yl.strip():
            continue
        check_x_label(xl)
        ordinate = check_y_label(yl)
        name = clean_name(names[2 * p] if 2 * p < len(names) else "")
        if name is not None and is_baseline(name):
            parsed.skipped.append(name)
            continue
        pairs.append(_Pair(name, 2 * p, ordinate, first_no))
    if not pairs and not parsed.skipped:
        raise Refused("empty", "Cary CSV: no x/y column pairs under the sample names")
    trailer: list[int] = []
    in_data = True
    for no, cells in rows:
        if in_data:
            if not any(c.strip() for c in cells):
                in_data = False
                continue
            for pair in pairs:
                pair.add(no, cells)
        else:
            trailer.append(no)
    for pair in pairs:
        if pair.error is not None:
            e = pair.error
            parsed.refused.append(SampleRefusal(pair.scan.name, e.reason, e.line, e.column))
        elif not pair.scan.wavelength_nm and not pair.scan.dropped:
            parsed.refused.append(
                SampleRefusal(pair.scan.name, "no data points", first_no, pair.col + 1)
            )
        else:
            parsed.samples.append(pair.scan)
    _metadata(text, trailer, parsed)
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
