"""Bytes to text and text to numbers, the way instrument PCs write them.

Encodings: a BOM decides (UTF-8, UTF-16 LE/BE); otherwise UTF-16 without BOM is recognised by
its NUL bytes, then strict UTF-8, then cp1252. A Shift-JIS (cp932) trailer after the numbers
(JASCO) is decoded on its own so the numbers above it still read. Decoding is strict: a byte
that is not text in the chosen encoding (cp1252 bytes after a UTF-8 BOM, a lone UTF-16
surrogate, one of cp1252's five undefined bytes) refuses the file naming its line, never
becomes U+FFFD (two different names would become one). A UTF-16 file with an odd number of
bytes was cut: the dangling byte is dropped and a note says so (the reader then sees a last
line without a line end). Line ends: CRLF, LF or CR.
Numbers: a decimal point or a decimal comma (also inside exponents: ``0,0000E00``); a number
that is not finite (``1e400``, ``NaN``) is never a number here.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from uvqc.ingest.model import Refused

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
_POINT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_COMMA = re.compile(r"[+-]?(?:[0-9]+(?:,[0-9]*)?|,[0-9]+)(?:[eE][+-]?[0-9]+)?")
# A number written with a decimal comma and no point: "0,123", "-0,000", "0,0000E00".
_COMMA_ONLY = re.compile(r"[+-]?[0-9]+,[0-9]+(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Text:
    """A decoded file: its lines (without line ends), the encoding used and the source."""

    lines: list[str]
    encoding: str
    name: str
    notes: tuple[str, ...] = ()  # what decoding had to say (a cut UTF-16 file)

    @property
    def ends_without_line_end(self) -> bool:
        """True when the file's last line has text and no line end after it."""
        return bool(self.lines) and bool(self.lines[-1].strip())

    @property
    def joined(self) -> str:
        return "\n".join(self.lines)


def binary_kind(data: bytes) -> str | None:
    """What a binary container looks like (OLE2: native .spc/.xls; ZIP: .xlsx/.docx), or None."""
    if data.startswith(OLE2_MAGIC):
        return "an OLE2 compound file (a native instrument file such as Shimadzu .spc, or .xls)"
    if data.startswith(ZIP_MAGIC):
        return "a ZIP container (.xlsx, .docx or a zipped export)"
    return None


def _utf16_without_bom(data: bytes) -> str | None:
    head = data[:400]
    if len(head) < 4:
        return None
    even_nuls = head[0::2].count(0)
    odd_nuls = head[1::2].count(0)
    half = len(head) // 2
    if odd_nuls > 0.4 * half and even_nuls < 0.05 * half:
        return "utf-16-le"
    if even_nuls > 0.4 * half and odd_nuls < 0.05 * half:
        return "utf-16-be"
    return None


def _decode_utf8_with_cp932_trailer(data: bytes) -> tuple[str, str] | None:
    """Strict UTF-8 up to the first invalid byte; if the rest is valid cp932 and the bad
    part begins after the last digit line, it is a Shift-JIS trailer (JASCO)."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
        head, tail = data[:start], data[start:]
        # A trailer follows the data after a blank line; bad bytes earlier mean cp1252.
        if not re.search(rb"[0-9][^\n]*\r?\n(?:[ \t]*\r?\n)+$", head):
            return None
        try:
            head_text = head.decode("utf-8")
            tail_text = tail.decode("cp932")
        except UnicodeDecodeError:
            return None
        return head_text + tail_text, "utf-8+cp932"


_HOW = {
    "utf-8-sig": "re-export the file as UTF-8 (its byte-order mark says UTF-8, but the "
    "bytes are another encoding); or, if it is Windows-1252 text, save it without the mark",
    "utf-16-le": "re-export the file (a UTF-16 file holds no such bytes)",
    "utf-16-be": "re-export the file (a UTF-16 file holds no such bytes)",
    "cp1252": "re-export the file as UTF-8",
}


def _strict(data: bytes, encoding: str, newline: bytes) -> str:
    """`data` decoded strictly; Refused naming the line of the first byte that is not text
    in `encoding` (U+FFFD would silently make different sample names equal)."""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(newline) + 1
        bad = data[exc.start : min(exc.end, exc.start + 4)].hex(" ")
        label = {"utf-8-sig": "UTF-8 (the file starts with a UTF-8 byte-order mark)"}.get(
            encoding, "Windows-1252" if encoding == "cp1252" else encoding.upper()
        )
        raise Refused(
            "encoding",
            f"line {line}: bytes {bad} are not {label} text; read on, they would become "
            f"U+FFFD and could make different sample names equal: {_HOW[encoding]}",
        ) from None


def decode(data: bytes, name: str) -> Text:
    """Decode a file's bytes into lines. Raises Refused for binary containers and for bytes
    that are no text in the encoding the file declares (BOM) or, without one, in any of the
    encodings instrument PCs write."""
    kind = binary_kind(data)
    if kind is not None:
        raise Refused("binary", f"binary file: looks like {kind}, not a text export")
    text: str
    encoding: str
    notes: list[str] = []
    utf16: tuple[bytes, str] | None = None
    if data.startswith(codecs.BOM_UTF8):
        text, encoding = _strict(data[3:], "utf-8-sig", b"\n"), "utf-8-sig"
    elif data.startswith(codecs.BOM_UTF16_LE):
        utf16 = data[2:], "utf-16-le"
    elif data.startswith(codecs.BOM_UTF16_BE):
        utf16 = data[2:], "utf-16-be"
    elif (guess := _utf16_without_bom(data)) is not None:
        utf16 = data, guess
    if utf16 is not None:
        body, encoding = utf16
        if len(body) % 2:
            body = body[:-1]
            notes.append(
                "the UTF-16 file has an odd number of bytes: it was cut (a truncated copy or "
                "export); the dangling last byte is left out"
            )
        newline = b"\n\x00" if encoding == "utf-16-le" else b"\x00\n"
        text = _strict(body, encoding, newline)
    elif not data.startswith(codecs.BOM_UTF8):
        found = _decode_utf8_with_cp932_trailer(data)
        if found is None:
            text, encoding = _strict(data, "cp1252", b"\n"), "cp1252"
        else:
            text, encoding = found
    if "\x00" in text:
        raise Refused("binary", "binary file: NUL bytes in what should be text")
    return Text(split_lines(text), encoding, name, tuple(notes))


def split_lines(text: str) -> list[str]:
    """Lines split at CRLF, LF or a lone CR (old Mac exports); no line ends kept."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def number(cell: str, decimal_comma: bool = False) -> float | None:
    """A finite number from a cell, or None. Surrounding spaces and quotes are ignored; with
    decimal_comma the comma is the decimal separator (``-0,000``, ``0,0000E00``)."""
    s = cell.strip().strip('"').strip()
    if not s:
        return None
    if decimal_comma:
        if not _COMMA.fullmatch(s):
            return None
        s = s.replace(",", ".")
    elif not _POINT.fullmatch(s):
        return None
    value = float(s)
    return value if math.isfinite(value) else None


def numbers(cells: Sequence[str], *, plain: bool = False) -> list[float] | None:
    """Every cell as a finite number (decimal point) in one fast pass (C-level float over
    the column), or None when any cell is not one: the caller then reads cell by cell with
    `number` to say which. Accepts exactly what `number` accepts, minus surrounding quotes."""
    try:
        values = list(map(float, cells))
    except ValueError:
        return None
    # float() also takes "1_0" and non-ASCII digits (`plain`: the caller checked the whole
    # block at once), and "nan"/"inf": a NaN or infinity anywhere makes the sum non-finite
    # (an overflowing sum of finite values only sends the column to the per-cell path).
    if not plain:
        joined = "".join(cells)
        if "_" in joined or not joined.isascii():
            return None
    if not math.isfinite(sum(values)):
        return None
    return values


def plain_block(joined: str) -> bool:
    """True when a whole block of cells is ASCII without "_": what `numbers(plain=True)`
    relies on, checked once for the block instead of once per column."""
    return joined.isascii() and "_" not in joined


_LEADING_ZERO = re.compile(r",-?0[0-9]")
# What JSON forbids in a number that float() takes: a leading + or ., a trailing . (also
# before an exponent), a leading zero, and the spaces float() strips.
_NOT_JSON = (",+", ",.", "-.", ".,", ".e", ".E", " ")  # and tabs etc.: not isprintable()


def json_numbers(cells: Sequence[str]) -> list[str] | None:
    """The cells themselves when every one is already a JSON number, else None. Only for
    cells `numbers` accepted (each a finite ASCII decimal float() reads); substring scans
    in C, no per-cell work."""
    if not cells:
        return None
    joined = "," + ",".join(cells) + ","
    if _json_unsafe(joined):
        return None
    return list(cells)


def _json_unsafe(joined: str) -> bool:
    return (
        not joined.isprintable()
        or any(bad in joined for bad in _NOT_JSON)
        or _LEADING_ZERO.search(joined) is not None
    )


def looks_decimal_comma(cells: list[str]) -> bool:
    """True when number cells carry decimal commas and none carries a decimal point."""
    comma = point = 0
    for cell in cells:
        s = cell.strip().strip('"')
        if _COMMA_ONLY.fullmatch(s):
            comma += 1
        elif "." in s and _POINT.fullmatch(s):
            point += 1
    return comma > 0 and point == 0


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter of tabular lines: tab, semicolon, comma, or None for runs of spaces
    (returned as " "). Decided by which one splits the most lines into >= 2 fields."""
    sample = [ln for ln in lines if ln.strip()][:50]
    best, best_score = " ", 0
    for delim in ("\t", ";", ","):
        score = sum(1 for ln in sample if delim in ln)
        if score > best_score:
            best, best_score = delim, score
    if best == "," and best_score:
        # "0,123 0,456" is decimal commas separated by spaces, not a CSV.
        spaced = sum(1 for ln in sample if re.fullmatch(r"\s*\S+(\s+\S+)+\s*", ln))
        if spaced == len(sample) and all(
            _COMMA_ONLY.fullmatch(c) for ln in sample[-5:] for c in ln.split()
        ):
            return " "
    return best


def split_row(line: str, delimiter: str) -> list[str]:
    """One line's cells: a CSV reader for , ; and tab (quoted fields), runs of spaces for " "."""
    if delimiter == " ":
        return line.split()
    return next(csv.reader([line], delimiter=delimiter), [])


def csv_rows(text: Text, delimiter: str, start: int = 0) -> Iterator[tuple[int, list[str]]]:
    """(1-based line number, cells) for each record from line `start` on, read with a real CSV
    reader so a quoted header cell may hold a newline."""
    if delimiter == " ":
        for no, line in enumerate(text.lines[start:], start + 1):
            yield no, line.split()
        return
    reader = csv.reader(io.StringIO("\n".join(text.lines[start:])), delimiter=delimiter)
    consumed = 0
    try:
        for row in reader:
            yield start + consumed + 1, row  # the record's first line (1-based)
            consumed = reader.line_num
    except csv.Error as exc:
        raise Refused(
            "unknown", f"line {start + consumed + 1}: not readable as delimited text ({exc})"
        ) from None
