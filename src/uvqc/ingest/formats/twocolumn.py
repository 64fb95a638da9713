"""Bare two-column text: wavelength and absorbance (or %T), comma, tab, semicolon or space
separated, optionally under one header line of labels. Also Shimadzu UVProbe's headerless
variant. The sample is named by the file's stem (the file names none)."""

from __future__ import annotations

import re

from uvqc.ingest.formats.common import (
    FLUORESCENCE_WORDS,
    SampleError,
    check_x_label,
    check_y_label,
    data_block,
    scan_or_error,
)
from uvqc.ingest.model import ParsedFile, Refused, SampleRefusal
from uvqc.ingest.text import Text, looks_decimal_comma, number, sniff_delimiter, split_row

NAME = "two-column"
_REFLECTANCE = re.compile(r"reflectance|%R\b|\bR%", re.I)
_KINETICS = re.compile(r"kinetic", re.I)


def _layout(text: Text) -> tuple[int, str, bool, list[str] | None] | None:
    """(first data line, delimiter, decimal comma, header labels) or None. A few preamble
    lines (a title, an instrument line) may come before the header or the numbers."""
    starts = [i for i, ln in enumerate(text.lines[:40]) if ln.strip()][:8]
    for start in starts:
        found = _layout_at(text, start)
        if found is not None:
            return found
    return None


def _layout_at(text: Text, start: int) -> tuple[int, str, bool, list[str] | None] | None:
    body = [ln for ln in text.lines[start : start + 40] if ln.strip()]
    if not body:
        return None
    delimiter = sniff_delimiter(body[1:] or body)
    cells = [c for ln in body[1:10] for c in split_row(ln, delimiter)]
    comma = delimiter != "," and looks_decimal_comma(cells)
    head = [c for c in split_row(body[0], delimiter) if c.strip()]
    header: list[str] | None = None
    if len(head) >= 2 and number(head[0], comma) is not None:
        pass  # a wavelength first: a data row (a bad absorbance in it is refused by cell)
    elif len(head) == 2:
        header = head
        start += 1
    else:
        return None
    rows = [split_row(ln, delimiter) for ln in text.lines[start : start + 10] if ln.strip()]
    if not rows:
        return None
    # Two cells on every line; a wavelength on the first, numbers on most: a bad value (NaN,
    # text) is then refused by line and column rather than taken for a header or making
    # the file "unknown".
    numeric = 0
    for i, row in enumerate(rows):
        filled = [c for c in row if c.strip()]
        if len(filled) != 2:
            return None
        ok = all(number(c, comma) is not None for c in filled)
        if i == 0 and number(filled[0], comma) is None:
            return None
        numeric += ok
    if numeric * 2 < len(rows):
        return None
    return start, delimiter, comma, header


def sniff(text: Text) -> bool:
    return _layout(text) is not None


def parse(text: Text, stem: str) -> ParsedFile:
    layout = _layout(text)
    if layout is None:
        raise Refused("unknown", "not two columns of numbers")
    start, delimiter, comma, header = layout
    preamble = " ".join(text.lines[: start - (1 if header is not None else 0)])
    if FLUORESCENCE_WORDS.search(preamble):
        raise Refused(
            "fluorescence", f"fluorescence export: the file's preamble says {preamble[:80]!r}"
        )
    if _REFLECTANCE.search(preamble):
        raise Refused("reflectance", f"reflectance export: the preamble says {preamble[:80]!r}")
    if _KINETICS.search(preamble):
        raise Refused("kinetics", f"kinetics export: the preamble says {preamble[:80]!r}")
    ordinate = "A"
    if header is not None:
        check_x_label(header[0])
        ordinate = check_y_label(header[1])
    parsed = ParsedFile(NAME)
    rows = data_block(text, start, delimiter, comma)
    try:
        parsed.add(scan_or_error(None, rows, 0, 1, comma, ordinate, start + 1, text))
    except SampleError as exc:
        parsed.refuse(SampleRefusal(None, exc.reason, exc.line, exc.column))
    return parsed
