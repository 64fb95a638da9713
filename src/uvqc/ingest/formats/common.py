"""Helpers the format readers share: x/y blocks, axis checks, dates."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from uvqc.ingest.model import Refused, Scan, build_scan, ordinate_of
from uvqc.ingest.text import Text, csv_rows, number

_TIME_AXIS = re.compile(r"\b(time|min|mins|minutes|sec|secs|seconds|s|h|hours?)\b", re.I)
FLUORESCENCE_WORDS = re.compile(
    r"fluoresc|emission|excitation|\bem\.|\bex\.|\bint\.|intensity", re.I
)


class SampleError(Exception):
    """When one sample's numbers cannot be read (a non-number inside its data)."""

    def __init__(self, reason: str, line: int | None, column: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.column = column


def check_x_label(label: str) -> None:
    """Refuse a time axis (kinetics) or anything that is not a wavelength in nm."""
    s = label.strip().strip('"')
    if not s:
        return
    if "nm" in s.lower() or "wavelength" in s.lower() or "nanomet" in s.lower():
        return
    if _TIME_AXIS.search(s):
        raise Refused("kinetics", f"kinetics/time-based export: the x axis is {s!r}, not nm")


def check_y_label(label: str) -> str:
    """ "A" or "%T" for a y label; refuses %R and fluorescence, and unknown ordinates."""
    s = label.strip().strip('"')
    if FLUORESCENCE_WORDS.search(s):
        raise Refused("fluorescence", f"fluorescence export: the y axis is {s!r}")
    ordinate = ordinate_of(s)
    if ordinate == "%R":
        raise Refused("reflectance", f"reflectance (%R) export: the y axis is {s!r}")
    if ordinate is None:
        raise Refused("units", f"the y axis {s!r} is neither absorbance nor transmittance")
    return ordinate


def xy_points(
    rows: Iterable[tuple[int, list[str]]],
    x_col: int,
    y_col: int,
    decimal_comma: bool,
    *,
    what: str = "sample",
) -> list[tuple[float, float, int | None]]:
    """Points of one x/y column pair. Rows where both cells are empty are padding (ragged
    pairs); one empty cell or a non-number is a SampleError naming line and column."""
    points: list[tuple[float, float, int | None]] = []
    for no, cells in rows:
        xs = cells[x_col].strip() if x_col < len(cells) else ""
        ys = cells[y_col].strip() if y_col < len(cells) else ""
        if not xs and not ys:
            continue
        x = number(xs, decimal_comma)
        if x is None:
            raise SampleError(f"line {no}: wavelength {xs!r} is not a finite number", no, x_col + 1)
        y = number(ys, decimal_comma)
        if y is None:
            shown = repr(ys) if ys else "missing"
            raise SampleError(
                f"line {no}: {what} value {shown} at {xs} nm is not a finite number",
                no,
                y_col + 1,
            )
        points.append((x, y, no))
    return points


def _shape(cell: str, decimal_comma: bool) -> tuple[int, bool]:
    """(digits after the decimal separator, has an exponent) of a number cell."""
    s = cell.strip().strip('"')
    mantissa, *exponent = re.split("[eE]", s, maxsplit=1)
    sep = "," if decimal_comma else "."
    digits = len(mantissa.split(sep, 1)[1]) if sep in mantissa else 0
    return digits, bool(exponent)


def cut_last_row(
    text: Text,
    rows: Sequence[tuple[int, Sequence[str]]],
    columns: Sequence[int],
    decimal_comma: bool,
) -> SampleError | None:
    """A SampleError when the file ends, without a line end, inside its last data row and the
    row shows it was cut: fewer cells than the row before, or a number in `columns` with
    fewer decimals (or no exponent) where every earlier row writes the same fixed format
    (``0.2`` under ``0.2500`` rows). Without a fixed format a cut after a whole digit cannot
    be told from a short number: such a file is read."""
    if not rows or not text.ends_without_line_end or rows[-1][0] != len(text.lines):
        return None
    no, last = rows[-1]
    earlier = [cells for _, cells in rows[-21:-1]]
    why: str | None = None
    col = len(last)
    if (
        earlier
        and len(last) < len(earlier[-1])
        and any(c.strip() for c in earlier[-1][len(last) :])
    ):
        why = f"{len(last)} cell(s) where the row before has {len(earlier[-1])}"
    elif len(earlier) >= 2:
        for c in columns:
            if c >= len(last) or any(c >= len(cells) for cells in earlier):
                continue
            shapes = {_shape(cells[c], decimal_comma) for cells in earlier}
            if len(shapes) != 1:
                continue
            (digits, exp), (got, got_exp) = shapes.pop(), _shape(last[c], decimal_comma)
            if got < digits or (exp and not got_exp):
                why = f"{last[c].strip()!r} where every row before writes {digits} decimals"
                col = c + 1
                break
    if why is None:
        return None
    return SampleError(
        f"line {no}: the file ends inside a data row ({why}): a truncated export? "
        "re-export the file",
        no,
        col,
    )


def scan_or_error(
    name: str | None,
    rows: list[tuple[int, list[str]]],
    x_col: int,
    y_col: int,
    decimal_comma: bool,
    ordinate: str,
    line: int | None,
    text: Text | None = None,
) -> Scan:
    """One sample's scan from its rows; SampleError for a non-number, no points, or (given
    the file's `text`) a last row the file ends inside (`cut_last_row`)."""
    if text is not None and (cut := cut_last_row(text, rows, (x_col, y_col), decimal_comma)):
        raise cut
    points = xy_points(rows, x_col, y_col, decimal_comma)
    if not points:
        raise SampleError("no data points", line, x_col + 1)
    return build_scan(name, points, ordinate=ordinate, line=line, column=x_col + 1)


def clean_name(name: str | None) -> str | None:
    """A sample name with whitespace runs (also newlines in quoted cells) made one space."""
    if name is None:
        return None
    cleaned = " ".join(name.replace('"', " ").split()) if '"' in name else " ".join(name.split())
    return cleaned or None


_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))? ?([AaPp][Mm])?")


def parse_us_datetime(text: str) -> datetime | None:
    """US month-first date and 12- or 24-hour time (Cary, VISIONlite): ``1/15/2014 4:59:54 PM``.
    A regex and the datetime constructor: strptime costs ~10x as much per call."""
    m = _US.fullmatch(" ".join(text.split()))
    if m is None:
        return parse_datetime(text, US_DATETIME)
    month, day, year, hour, minute = (int(g) for g in m.groups()[:5])
    second = int(m[6] or 0)
    if m[7]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if m[7].lower() == "pm" else 0)
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def parse_datetime(text: str, formats: Iterable[str]) -> datetime | None:
    s = " ".join(text.split())
    for fmt in formats:
        try:
            return datetime.strptime(s, fmt)
        except ValueError:
            continue
    return None


US_DATETIME = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M %p", "%m/%d/%Y")


def data_block(
    text: Text, start: int, delimiter: str, decimal_comma: bool
) -> list[tuple[int, list[str]]]:
    """Rows of an x/y block from 0-based line `start`: blank lines inside are skipped; the
    block ends at the first non-numeric line that follows a blank line (a trailer such as
    JASCO's cp932 comments). A non-numeric line directly inside the data (or a first row
    with a wavelength and a bad value) stays in the block, so the reader refuses it by line
    and column rather than dropping it."""
    rows: list[tuple[int, list[str]]] = []
    after_blank = False
    for no, cells in csv_rows(text, delimiter, start):
        if not any(c.strip() for c in cells):
            after_blank = True
            continue
        numeric = sum(1 for c in cells[:2] if number(c, decimal_comma) is not None) == 2
        if after_blank and not numeric:
            break
        if not rows and (not cells or number(cells[0], decimal_comma) is None):
            break  # (a first row with a wavelength but a bad value is kept, to be refused)
        rows.append((no, cells))
        after_blank = False
    return rows
