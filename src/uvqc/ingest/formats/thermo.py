"""Thermo Scientific VISIONlite (Scan, Fixed, Quant exports) and Genesys 30 / 150.

- VISIONlite Scan: line 1 metadata (file, sample, analyst, timestamp, instrument, serial,
  version), line 2 ``nm,A`` (or ``nm,%T``; ``s,A``/``min,A`` is a Rate export: kinetics),
  then pairs.
- VISIONlite Fixed / Quant: a table with a sample-name column and ``Ordinate [A]`` (or
  ``500 nm   [A]``), optionally ``Dilution factor`` and ``Concentration [mg/L]``: one
  reading per row, no wavelength needed.
- Genesys 30 / 150: ``Key<TAB>value<TAB>`` preamble, a blank line, then
  ``wavelength(nm) <TAB> ABS <TAB> %T`` with A and %T side by side (A is taken). On-board
  exports are UTF-16LE; the decoder handles that.
"""

from __future__ import annotations

import re

from uvqc.ingest.formats.common import (
    US_DATETIME,
    SampleError,
    check_x_label,
    check_y_label,
    clean_name,
    cut_last_row,
    data_block,
    parse_datetime,
    scan_or_error,
)
from uvqc.ingest.model import (
    ParsedFile,
    Reading,
    Refused,
    SampleRefusal,
    transmittance_to_absorbance,
)
from uvqc.ingest.text import Text, csv_rows, looks_decimal_comma, number, sniff_delimiter, split_row

SCAN = "visionlite-scan"
QUANT = "visionlite-quant"
GENESYS = "genesys"
_NM_IN_LABEL = re.compile(r"(?P<nm>[0-9]+(?:[.,][0-9]+)?)\s*nm", re.I)
_UNITS = re.compile(r"\[(?P<u>[^\]]+)\]")


# ---------------------------------------------------------------- VISIONlite Scan
def sniff_scan(text: Text) -> bool:
    if len(text.lines) < 3:
        return False
    first = split_row(text.lines[0], ",")
    second = [c.strip().lower() for c in split_row(text.lines[1], ",")]
    return len(first) >= 4 and len(second) >= 2 and second[0] in {"nm", "s", "min", "sec"}


def parse_scan(text: Text, stem: str) -> ParsedFile:
    meta = split_row(text.lines[0], ",")
    labels = split_row(text.lines[1], ",")
    check_x_label(labels[0])
    ordinate = check_y_label(labels[1])
    parsed = ParsedFile(SCAN)
    name = clean_name(meta[1]) if len(meta) > 1 else None
    if len(meta) > 3:
        parsed.measured_at = parse_datetime(meta[3], US_DATETIME)
    if len(meta) > 4 and meta[4].strip():
        serial = meta[5].strip() if len(meta) > 5 else ""
        parsed.instrument_id = clean_name(f"{meta[4]} {serial}")
    rows = data_block(text, 2, ",", False)
    try:
        scan = scan_or_error(name, rows, 0, 1, False, ordinate, 1, text)
        scan.measured_at = parsed.measured_at
        parsed.add(scan)
    except SampleError as exc:
        parsed.refuse(SampleRefusal(name, exc.reason, exc.line, exc.column))
    return parsed


# ---------------------------------------------------------------- Fixed / Quant tables
def _is_name_header(cell: str) -> bool:
    s = cell.strip().lower()
    return s in {"sample", "sample name", "sample id", "name", "sample no."} or s.startswith(
        "sample name"
    )


def _is_ordinate_header(cell: str) -> bool:
    s = cell.strip()
    low = s.lower()
    return (
        low.startswith("ordinate")
        or bool(_NM_IN_LABEL.search(s) and "[" in s)
        or low
        in {
            "abs",
            "a",
            "absorbance",
            "%t",
        }
    )


def _quant_header(text: Text) -> tuple[int, str, list[str]] | None:
    delimiter = sniff_delimiter(text.lines[:30])
    for no, cells in csv_rows(text, delimiter):
        if no > 40:
            return None
        if any(_is_name_header(c) for c in cells) and any(_is_ordinate_header(c) for c in cells):
            return no, delimiter, cells
    return None


def sniff_quant(text: Text) -> bool:
    return _quant_header(text) is not None


def parse_quant(text: Text, stem: str) -> ParsedFile:
    found = _quant_header(text)
    if found is None:
        raise Refused("unknown", "no result table header (Sample Name, Ordinate [A])")
    header_no, delimiter, header = found
    name_col = next(i for i, c in enumerate(header) if _is_name_header(c))
    y_col = next(i for i, c in enumerate(header) if _is_ordinate_header(c))
    y_label = header[y_col]
    units = _UNITS.search(y_label)
    ordinate = check_y_label(units["u"] if units else y_label)
    nm_match = _NM_IN_LABEL.search(y_label)
    wavelength = number(nm_match["nm"], "," in nm_match["nm"]) if nm_match else None
    dil_col = next((i for i, c in enumerate(header) if "dilution" in c.lower()), None)
    conc_col = next((i for i, c in enumerate(header) if "concentration" in c.lower()), None)
    wl_col = next(
        (i for i, c in enumerate(header) if c.strip().lower() in {"wavelength", "nm"}), None
    )
    body = [c for _, cells in csv_rows(text, delimiter, header_no) for c in cells][:200]
    comma = delimiter != "," and looks_decimal_comma(body)
    parsed = ParsedFile(QUANT)
    filled = [
        (no, c) for no, c in csv_rows(text, delimiter, header_no) if any(x.strip() for x in c)
    ]
    cut = cut_last_row(text, filled, (y_col,), comma)
    for no, cells in filled:
        name = clean_name(cells[name_col]) if name_col < len(cells) else None
        raw = cells[y_col].strip() if y_col < len(cells) else ""
        value = number(raw, comma)
        if cut is not None and no == cut.line:
            parsed.refuse(SampleRefusal(name, cut.reason, no, cut.column))
            continue
        if value is None:
            shown = repr(raw) if raw else "missing"
            parsed.refuse(
                SampleRefusal(
                    name, f"line {no}: ordinate {shown} is not a finite number", no, y_col + 1
                )
            )
            continue
        if ordinate == "%T":
            a = transmittance_to_absorbance(value)
            if a is None:
                parsed.refuse(
                    SampleRefusal(
                        name, f"line {no}: %T {value} <= 0 has no absorbance", no, y_col + 1
                    )
                )
                continue
            value = a
        reading = Reading(name, value, wavelength, line=no, column=y_col + 1)
        if wl_col is not None and wl_col < len(cells):
            reading.wavelength_nm = number(cells[wl_col], comma) or wavelength
        if dil_col is not None and dil_col < len(cells):
            dil = number(cells[dil_col], comma)
            if dil is not None and dil > 0:
                reading.extra["dilutionFactor"] = dil
        if conc_col is not None and conc_col < len(cells):
            conc = number(cells[conc_col], comma)
            if conc is not None:
                reading.extra["concentration"] = conc
            unit = _UNITS.search(header[conc_col])
            if unit:
                reading.extra["units"] = unit["u"].strip()
        parsed.add(reading)
    return parsed


# ---------------------------------------------------------------- Genesys 30 / 150
_GENESYS_KEYS = {"scan", "mode", "lower", "upper", "length", "sample", "sample name", "name"}


def _genesys_split(text: Text) -> tuple[dict[str, str], int] | None:
    meta: dict[str, str] = {}
    for i, line in enumerate(text.lines[:40]):
        if not line.strip():
            if meta:
                return meta, i + 1
            continue
        cells = [c.strip() for c in line.split("\t")]
        filled = [c for c in cells if c]
        if len(filled) == 2 and number(filled[0]) is None:
            meta[filled[0].lower()] = filled[1]
        elif len(filled) == 1 and number(filled[0]) is None and meta:
            meta[filled[0].lower()] = ""
        else:
            return None
    return None


def sniff_genesys(text: Text) -> bool:
    found = _genesys_split(text)
    return found is not None and bool(set(found[0]) & _GENESYS_KEYS)


def parse_genesys(text: Text, stem: str) -> ParsedFile:
    found = _genesys_split(text)
    if found is None:
        raise Refused("unknown", "no Genesys key/value preamble")
    meta, at = found
    while at < len(text.lines) and not text.lines[at].strip():
        at += 1
    if at >= len(text.lines):
        raise Refused("empty", "Genesys export without a data table")
    labels = [c.strip() for c in text.lines[at].split("\t")]
    check_x_label(labels[0])
    ordinates = [(i, check_y_label(lbl)) for i, lbl in enumerate(labels[1:], 1) if lbl]
    if not ordinates:
        raise Refused("unknown", f"line {at + 1}: no absorbance or %T column")
    y_col, ordinate = next(((i, o) for i, o in ordinates if o == "A"), ordinates[0])
    raw_name = meta.get("sample name") or meta.get("sample") or meta.get("name") or meta.get("scan")
    name = clean_name(re.sub(r"\.(tsv|csv|txt)$", "", raw_name, flags=re.I)) if raw_name else None
    parsed = ParsedFile(GENESYS)
    body = [c for ln in text.lines[at + 1 : at + 20] for c in ln.split("\t")]
    comma = looks_decimal_comma(body)
    rows = data_block(text, at + 1, "\t", comma)
    try:
        parsed.add(scan_or_error(name, rows, 0, y_col, comma, ordinate, at + 1, text))
    except SampleError as exc:
        parsed.refuse(SampleRefusal(name, exc.reason, exc.line, exc.column))
    return parsed
