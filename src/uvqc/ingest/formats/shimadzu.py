"""Shimadzu UVProbe ASCII export: ``"<name> - RawData"``, then ``"Wavelength nm."`` with
``"Abs."``, ``"T%"`` or ``"R%"``, then tab-, comma- or space-separated pairs; decimal
commas are common. (The headerless variant is read as bare two-column text; native .spc
files are OLE2 and refused as binary.)"""

from __future__ import annotations

import re

from uvqc.ingest.formats.common import (
    SampleError,
    check_x_label,
    check_y_label,
    clean_name,
    data_block,
    scan_or_error,
)
from uvqc.ingest.model import ParsedFile, Refused, SampleRefusal
from uvqc.ingest.text import Text, looks_decimal_comma, sniff_delimiter, split_row

NAME = "shimadzu"
_TITLE = re.compile(r'^\s*"?(?P<name>.*?)\s*-\s*RawData\s*"?\s*[,;\t]*\s*$', re.I)


def _start(text: Text) -> int | None:
    for i, line in enumerate(text.lines[:5]):
        if _TITLE.match(line):
            return i
    return None


def sniff(text: Text) -> bool:
    return _start(text) is not None


def parse(text: Text, stem: str) -> ParsedFile:
    at = _start(text)
    if at is None or at + 1 >= len(text.lines):
        raise Refused("unknown", "Shimadzu header without data")
    m = _TITLE.match(text.lines[at])
    name = clean_name(m["name"]) if m else None
    body = [ln for ln in text.lines[at + 2 : at + 40] if ln.strip()]
    delimiter = sniff_delimiter(body or [text.lines[at + 1]])
    header_line = text.lines[at + 1]
    labels = [c for c in split_row(header_line, delimiter) if c.strip()]
    if delimiter == " " or len(labels) < 2:
        labels = [c for c in re.findall(r'"([^"]*)"', header_line)] or labels
    if len(labels) < 2:
        raise Refused("unknown", f"Shimadzu header line {at + 2} does not name two columns")
    check_x_label(labels[0])
    ordinate = check_y_label(labels[1])
    cells = [c for ln in body[:10] for c in split_row(ln, delimiter)]
    comma = delimiter != "," and looks_decimal_comma(cells)
    parsed = ParsedFile(NAME)
    rows = data_block(text, at + 2, delimiter, comma)
    try:
        parsed.add(scan_or_error(name, rows, 0, 1, comma, ordinate, at + 1, text))
    except SampleError as exc:
        parsed.refuse(SampleRefusal(name, exc.reason, exc.line, exc.column))
    return parsed
