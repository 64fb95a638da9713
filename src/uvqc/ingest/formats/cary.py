"""Agilent Cary WinUV CSV (Scan application; Cary 50/60/100/300/3500).

Row 1: sample names, each followed by an empty cell. Row 2: ``Wavelength (nm)`` and the y
label (``Abs``, ``%T``) alternating: x/y column pairs, two by two. Pairs may differ in
length and grid (ragged, padded with empty cells). Data ends at the first blank or all-comma
row; a metadata block per sample follows (``Collection Time: 1/15/2014 4:59:54 PM``, a
parameter list aligned by spaces). Every row ends with a comma; CRLF. A last data row
without the delimiter every other row ends with, or a file that ends inside the data block
without a line end, was cut (a truncated export): the samples whose cells it cut are refused
naming the line, since ``0.2`` may be the start of ``0.2500``. Baseline
pseudo-samples (``Baseline 100%T``, ``0%T``) are skipped and listed. The over-range marker
10 is kept as written (the over-range rules flag it).
"""

from __future__ import annotations

import csv
import math
import re
from itertools import repeat

from uvqc.ingest.formats.common import (
    SampleError,
    check_x_label,
    check_y_label,
    clean_name,
    parse_us_datetime,
)
from uvqc.ingest.model import (
    Dropped,
    ParsedFile,
    Refused,
    SampleRefusal,
    Scan,
    transmittance_to_absorbance,
)
from uvqc.ingest.text import Text, looks_decimal_comma, number, numbers, plain_block

NAME = "cary"
_BASELINE = re.compile(r"^\s*(baseline\s*100\s*%\s*t|0\s*%\s*t|baseline)\s*$", re.I)
_X_LABEL = re.compile(r"^\s*(wavelength|time)\b", re.I)
_INSTRUMENT = re.compile(r"^Instrument\s{2,}(?P<v>\S.*?)\s*$")
_COLLECTED = re.compile(r"^Collection Time:\s*(?P<v>.+?)\s*$")


def _delimiter(text: Text) -> str:
    """Comma as written by WinUV; a semicolon or tab when the file was re-saved by a
    spreadsheet in a decimal-comma locale (decided on the label row)."""
    labels = text.lines[1] if len(text.lines) > 1 else ""
    counts = {d: labels.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _header_rows(text: Text) -> tuple[list[str], list[str]] | None:
    reader = csv.reader(iter(text.lines[:20]), delimiter=_delimiter(text))
    try:
        return next(reader), next(reader)
    except (StopIteration, csv.Error):
        return None


def sniff(text: Text) -> bool:
    rows = _header_rows(text)
    if rows is None:
        return False
    names, labels = rows
    return len(names) >= 2 and len(labels) >= 2 and bool(_X_LABEL.match(labels[0]))


def is_baseline(name: str) -> bool:
    return bool(_BASELINE.match(name))


class _Pair:
    """One sample's x/y columns. The fast path converts whole columns at once (C-level
    float); a column with anything else (interior gaps, text, %T <= 0) is read cell by cell
    so the reason names its line and column."""

    def __init__(self, name: str | None, col: int, ordinate: str, line: int) -> None:
        self.scan = Scan(name, [], [], line=line, column=col + 1, ordinate=ordinate)
        self.col = col
        self.error: SampleError | None = None

    def fill(
        self,
        xs_raw: tuple[str, ...],
        ys_raw: tuple[str, ...],
        lines: list[int],
        plain: bool,
        grid: dict[tuple[str, ...], list[float]] | None = None,
    ) -> None:
        n = len(xs_raw)
        while n and not xs_raw[n - 1].strip() and not ys_raw[n - 1].strip():
            n -= 1  # padding of a shorter (ragged) pair
        xs = grid.get(xs_raw[:n]) if grid is not None else None
        if xs is None:
            xs = numbers(xs_raw[:n], plain=plain)
            if grid is not None and xs is not None:
                grid[xs_raw[:n]] = xs  # pairs usually share one wavelength grid: read it once
        else:
            xs = list(xs)
        ys = numbers(ys_raw[:n], plain=plain)
        if xs is not None and ys is not None:
            if self.scan.ordinate != "%T":
                self.scan.wavelength_nm, self.scan.absorbance = xs, ys
                self.scan.wavelength_text = xs_raw[:n]
                self.scan.absorbance_text = ys_raw[:n]
                return
            if min(ys, default=1.0) > 0:
                self.scan.wavelength_nm = xs
                self.scan.wavelength_text = xs_raw[:n]
                self.scan.absorbance = [2.0 - math.log10(t) for t in ys]
                return
        for i in range(n):
            self.add(lines[i], xs_raw[i], ys_raw[i])
            if self.error is not None:
                return

    def add(self, no: int, xs: str, ys: str) -> None:
        c = self.col
        xs, ys = xs.strip(), ys.strip()
        if not xs and not ys:
            return  # an empty row inside the pair
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
    delim = _delimiter(text)
    header = csv.reader(iter(text.lines), delimiter=delim)
    try:
        names, labels = next(header), next(header)
    except StopIteration:
        raise Refused("empty", "Cary CSV without data rows") from None
    except csv.Error as exc:
        raise Refused("unknown", f"Cary CSV header is not readable CSV ({exc})") from None
    first_no, begin = 1, header.line_num
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
    # The data block runs to the first blank or all-comma line; read it in one pass.
    lines_all = text.lines
    # C-level scan (map over str.strip): a Python loop here cost as much as the CSV read.
    filled = list(map(bool, map(str.strip, lines_all[begin:], repeat(" ,;\t"))))
    end = begin + (filled.index(False) if False in filled else len(filled))
    block_lines = lines_all[begin:end]
    if delim != "," and looks_decimal_comma([c for ln in block_lines[:5] for c in ln.split(delim)]):
        block_lines = [ln.replace(",", ".") for ln in block_lines]
        parsed.notes.append("decimal commas (a spreadsheet re-save): read as decimal points")
    block_text = delim.join(block_lines)
    if '"' in block_text:
        try:
            data = list(csv.reader(block_lines, delimiter=delim))
        except csv.Error as exc:
            raise Refused("unknown", f"Cary CSV data is not readable CSV ({exc})") from None
    else:  # no quotes: str.split gives exactly the CSV reader's cells, several times faster
        data = [ln.split(delim) for ln in block_lines]
    lines = list(range(begin + 1, end + 1))
    cut = _cut_pairs(block_lines, data, delim, end == len(lines_all), pairs)
    if cut is None and end == len(lines_all) and block_lines:
        parsed.notes.append(
            f"line {end}: the file ends right after a data row, without a line end or the "
            "metadata block: a truncated export? every value read is complete, but rows "
            "after it (and measuredAt) may be missing"
        )
    trailer = list(range(end + 2, len(lines_all) + 1))
    width = max((p.col + 2 for p in pairs), default=0)
    if data and min(map(len, data)) < width:
        data = [r + [""] * (width - len(r)) if len(r) < width else r for r in data]
    columns: list[tuple[str, ...]] = list(zip(*data, strict=False)) if data else [()] * width
    plain = plain_block(block_text)
    grids: dict[tuple[str, ...], list[float]] = {}
    for pair in pairs:
        if cut is not None and pair in cut:
            parsed.refuse(
                SampleRefusal(
                    pair.scan.name,
                    f"line {end}: "
                    + (
                        "the file ends inside a data row"
                        if end == len(lines_all)
                        else "the last data row lacks the delimiter every other row ends with"
                    )
                    + " (this sample's value is cut short or missing): a truncated export? "
                    "re-export the file",
                    end,
                    pair.col + 2,
                )
            )
            continue
        pair.fill(columns[pair.col], columns[pair.col + 1], lines, plain, grids)
        if pair.error is not None:
            e = pair.error
            parsed.refuse(SampleRefusal(pair.scan.name, e.reason, e.line, e.column))
        elif not pair.scan.wavelength_nm and not pair.scan.dropped:
            parsed.refuse(SampleRefusal(pair.scan.name, "no data points", first_no, pair.col + 1))
        else:
            parsed.add(pair.scan)
    _metadata(text, trailer, parsed)
    return parsed


def _cut_pairs(
    block: list[str], data: list[list[str]], delim: str, at_eof: bool, pairs: list[_Pair]
) -> list[_Pair] | None:
    """The pairs a truncated last data row cut, or None when the row is whole. WinUV ends
    every row with the delimiter: a last row without it (when every other row has it), or
    one the file ends inside without a line end, was cut after its last delimiter. A pair
    is cut when its y cell is not followed by a delimiter there and it was still running
    (its cells in the row before were not the empty padding of a ragged pair)."""
    if not block:
        return None
    last = block[-1].rstrip(" ")
    if not at_eof and last.endswith(delim):
        return None  # the usual whole file: no pass over the block (the fast path)
    # only for a suspect last row: every other row's end
    trailing = all(ln.rstrip(" ").endswith(delim) for ln in block[:-1])
    missing_end = trailing and len(block) > 1 and not last.endswith(delim)
    if not (missing_end or at_eof):
        return None
    cells = data[-1]
    # cells followed by a delimiter are whole; the one after the last delimiter may be cut
    whole = len(cells) - 1
    if not trailing and len(block) > 1 and len(cells) >= len(data[-2]):
        return None  # no trailing delimiters to go by and the row is as wide as the others
    before = data[-2] if len(data) > 1 else None
    cut = []
    for pair in pairs:
        if pair.col + 1 < whole:
            continue
        here = any(c.strip() for c in cells[pair.col : pair.col + 2])
        running = before is None or any(c.strip() for c in before[pair.col : pair.col + 2])
        if here or running:
            cut.append(pair)
    return cut or None


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
            when = parse_us_datetime(m["v"])
            # A block's time belongs to that block's sample only: a sample whose block has
            # none (or an unreadable one) gets no measuredAt, never another sample's (or the
            # baseline's) time.
            if when is not None and current in by_name:
                by_name[current].measured_at = when
        elif (m := _INSTRUMENT.match(stripped)) and parsed.instrument_id is None:
            parsed.instrument_id = m["v"]
