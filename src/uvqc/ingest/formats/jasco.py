"""JASCO Spectra Manager text/CSV export: a ``KEY<TAB>value`` header (TITLE, DATA TYPE,
DATE as YY/MM/DD, TIME, SPECTROMETER/DATA SYSTEM, XUNITS, YUNITS, ...) up to ``XYDATA``,
then tab (or comma) pairs, then blank lines and often a Shift-JIS (cp932) trailer."""

from __future__ import annotations

import re

from uvqc.ingest.formats.common import (
    SampleError,
    check_x_label,
    check_y_label,
    clean_name,
    data_block,
    parse_datetime,
    scan_or_error,
)
from uvqc.ingest.model import ParsedFile, Refused, SampleRefusal
from uvqc.ingest.text import Text, looks_decimal_comma

NAME = "jasco"
_KEY = re.compile(r"^(?P<k>[A-Z][A-Z /_.-]*?)\s*[\t,;](?P<v>.*)$")


def _header(text: Text) -> tuple[dict[str, str], int, str] | None:
    meta: dict[str, str] = {}
    for i, line in enumerate(text.lines[:80]):
        if line.strip().rstrip(",;\t").upper() == "XYDATA":
            delimiter = "\t" if any("\t" in ln for ln in text.lines[:i]) else ","
            return meta, i + 1, delimiter
        if m := _KEY.match(line.strip()):
            meta[m["k"].strip().upper()] = m["v"].strip().strip("\t,;").strip()
    return None


def sniff(text: Text) -> bool:
    found = _header(text)
    return found is not None and ("TITLE" in found[0] or "YUNITS" in found[0])


def parse(text: Text, stem: str) -> ParsedFile:
    found = _header(text)
    if found is None:
        raise Refused("unknown", "JASCO header without XYDATA")
    meta, at, delimiter = found
    data_type = meta.get("DATA TYPE", "")
    if "FLUORESCENCE" in data_type.upper() or "EMISSION" in data_type.upper():
        raise Refused("fluorescence", f"fluorescence export: DATA TYPE {data_type!r}")
    check_x_label(meta.get("XUNITS", "nm").replace("NANOMETERS", "nm"))
    yunits = meta.get("YUNITS", "ABSORBANCE")
    ordinate = check_y_label(yunits)
    parsed = ParsedFile(NAME)
    name = clean_name(meta.get("TITLE"))
    if meta.get("DATE"):
        stamp = f"{meta['DATE']} {meta.get('TIME', '')}".strip()
        parsed.measured_at = parse_datetime(
            stamp, ("%y/%m/%d %H:%M:%S", "%y/%m/%d", "%Y/%m/%d %H:%M:%S")
        )
    system = meta.get("SPECTROMETER/DATA SYSTEM")
    if system:
        parsed.instrument_id = clean_name(system)
    body = [c for ln in text.lines[at : at + 20] for c in ln.split(delimiter)]
    comma = delimiter != "," and looks_decimal_comma(body)
    rows = data_block(text, at, delimiter, comma)
    try:
        scan = scan_or_error(name, rows, 0, 1, comma, ordinate, at, text)
        scan.measured_at = parsed.measured_at
        parsed.add(scan)
    except SampleError as exc:
        parsed.refuse(SampleRefusal(name, exc.reason, exc.line, exc.column))
    return parsed
