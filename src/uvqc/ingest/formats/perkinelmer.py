"""PerkinElmer UV WinLab CSV: UTF-8 BOM, line 1 ``Created as New Dataset,`` (or the
sample's name), line 2 ``nm,A`` or ``nm,%T``, then data descending into the NIR; aborted
scans with a handful of points occur. The file names no sample unless line 1 does."""

from __future__ import annotations

from uvqc.ingest.formats.common import (
    SampleError,
    check_x_label,
    check_y_label,
    clean_name,
    data_block,
    scan_or_error,
)
from uvqc.ingest.model import ParsedFile, SampleRefusal
from uvqc.ingest.text import Text, split_row

NAME = "perkinelmer"
_NO_NAME = {"created as new dataset", ""}


def sniff(text: Text) -> bool:
    if len(text.lines) < 3:
        return False
    first = [c for c in split_row(text.lines[0], ",") if c.strip()]
    second = [c.strip() for c in split_row(text.lines[1], ",")]
    return (
        len(first) == 1
        and len(second) >= 2
        and second[0].lower() == "nm"
        and not first[0].strip().lower().endswith("rawdata")
    )


def parse(text: Text, stem: str) -> ParsedFile:
    first = [c for c in split_row(text.lines[0], ",") if c.strip()]
    name = clean_name(first[0]) if first else None
    if name is not None and name.lower() in _NO_NAME:
        name = None
    labels = split_row(text.lines[1], ",")
    check_x_label(labels[0])
    ordinate = check_y_label(labels[1])
    parsed = ParsedFile(NAME)
    rows = data_block(text, 2, ",", False)
    try:
        parsed.add(scan_or_error(name, rows, 0, 1, False, ordinate, 2, text))
    except SampleError as exc:
        parsed.refuse(SampleRefusal(name, exc.reason, exc.line, exc.column))
    return parsed
