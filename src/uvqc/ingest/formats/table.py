"""Generic CSV/TSV and XLSX result tables (LIMS and Hach-style exports) read through a
column mapping (``--map FILE``, TOML): one reading per row.

    sampleName = "Sample ID"        # header text (case and spaces ignored) or 1-based number
    absorbance = "Abs 220"          # the ordinate column (required)
    ordinate = "A"                  # or "%T" (converted); default "A"
    wavelengthNm = 220              # a number, or `wavelength = "column"`
    dilution = "Dilution"           # optional columns
    concentration = "Result"
    units = "mg/L"                  # text
    measuredAt = "Date"
    headerRow = 1                   # optional; default: the first row naming sampleName
    sheet = "Results"               # XLSX only; default: the first sheet
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from uvqc.errors import UsageError
from uvqc.ingest.formats.common import clean_name, cut_last_row
from uvqc.ingest.model import (
    ParsedFile,
    Reading,
    Refused,
    SampleRefusal,
    transmittance_to_absorbance,
)
from uvqc.ingest.text import Text, csv_rows, looks_decimal_comma, number, sniff_delimiter

NAME = "table"
_KEYS = {
    "sampleName", "absorbance", "ordinate", "wavelengthNm", "wavelength", "dilution",
    "concentration", "units", "measuredAt", "headerRow", "sheet",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which columns hold what; see the module docstring."""

    absorbance: str | int
    sample_name: str | int | None = None
    ordinate: str = "A"
    wavelength_nm: float | None = None
    wavelength: str | int | None = None
    dilution: str | int | None = None
    concentration: str | int | None = None
    units: str | None = None
    measured_at: str | int | None = None
    header_row: int | None = None
    sheet: str | None = None

    @classmethod
    def load(cls, path: Path) -> ColumnMap:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"--map {path}: cannot read ({exc.strerror or exc})") from None
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"--map {path}: not valid TOML ({exc})") from None
        return cls.from_mapping(data, str(path))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str = "--map") -> ColumnMap:
        unknown = set(data) - _KEYS
        if unknown:
            raise UsageError(
                f"{source}: unknown key(s) {', '.join(sorted(unknown))} (allowed: "
                f"{', '.join(sorted(_KEYS))})"
            )
        if "absorbance" not in data:
            raise UsageError(f"{source}: `absorbance` (the ordinate column) is required")
        ordinate = str(data.get("ordinate", "A"))
        if ordinate not in {"A", "%T"}:
            raise UsageError(f'{source}: ordinate must be "A" or "%T", got {ordinate!r}')
        for key in (
            "sampleName",
            "absorbance",
            "wavelength",
            "dilution",
            "concentration",
            "measuredAt",
        ):
            value = data.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
                raise UsageError(f"{source}: {key} must be a column header text or number")
        wl = data.get("wavelengthNm")
        if wl is not None and (isinstance(wl, bool) or not isinstance(wl, int | float) or wl <= 0):
            raise UsageError(f"{source}: wavelengthNm must be a number > 0")
        return cls(
            absorbance=data["absorbance"],
            sample_name=data.get("sampleName"),
            ordinate=ordinate,
            wavelength_nm=float(wl) if wl is not None else None,
            wavelength=data.get("wavelength"),
            dilution=data.get("dilution"),
            concentration=data.get("concentration"),
            units=data.get("units"),
            measured_at=data.get("measuredAt"),
            header_row=data.get("headerRow"),
            sheet=data.get("sheet"),
        )


def _norm(cell: object) -> str:
    return " ".join(str(cell if cell is not None else "").split()).lower()


def _column(header: list[str], key: str | int | None, what: str) -> int | None:
    if key is None:
        return None
    if isinstance(key, int):
        if key < 1:
            raise Refused("unknown", f"--map: column number {key} for {what} must be >= 1")
        return key - 1
    want = _norm(key)
    for i, cell in enumerate(header):
        if _norm(cell) == want:
            return i
    raise Refused("unknown", f"--map: no column {key!r} for {what} in the header {header!r}")


def read_table(
    rows: list[tuple[int, list[Any]]],
    mapping: ColumnMap,
    *,
    comma: bool,
    text: Text | None = None,
) -> ParsedFile:
    """Readings from rows of cells (text or, from XLSX, numbers and datetimes). Given the
    file's `text`, a last row the file ends inside is refused (`cut_last_row`)."""
    header_at = None
    if mapping.header_row is not None:
        header_at = next((i for i, (no, _) in enumerate(rows) if no == mapping.header_row), None)
    else:
        targets = {
            _norm(k) for k in (mapping.sample_name, mapping.absorbance) if isinstance(k, str)
        }
        for i, (_, cells) in enumerate(rows[:50]):
            if targets and targets <= {_norm(c) for c in cells}:
                header_at = i
                break
        if header_at is None and not targets:
            header_at = 0
    if header_at is None:
        raise Refused("unknown", "--map: no header row with the mapped column names")
    header = [str(c) if c is not None else "" for c in rows[header_at][1]]
    cols = {
        "name": _column(header, mapping.sample_name, "sampleName"),
        "y": _column(header, mapping.absorbance, "absorbance"),
        "wl": _column(header, mapping.wavelength, "wavelength"),
        "dil": _column(header, mapping.dilution, "dilution"),
        "conc": _column(header, mapping.concentration, "concentration"),
        "when": _column(header, mapping.measured_at, "measuredAt"),
    }
    parsed = ParsedFile(NAME)

    def cell(cells: list[Any], key: str) -> Any:
        i = cols[key]
        return cells[i] if i is not None and i < len(cells) else None

    def num(value: Any) -> float | None:
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int | float):
            f = float(value)
            return f if f == f and abs(f) != float("inf") else None
        return number(str(value), comma)

    body = [
        (no, cells)
        for no, cells in rows[header_at + 1 :]
        if any(str(c).strip() for c in cells if c is not None)
    ]
    y_at = cols["y"] if cols["y"] is not None else 0
    cut = cut_last_row(text, body, (y_at,), comma) if text is not None else None
    for no, cells in body:
        name_cell = cell(cells, "name")
        name = clean_name(str(name_cell)) if name_cell is not None else None
        raw = cell(cells, "y")
        value = num(raw)
        y_col = (cols["y"] or 0) + 1
        if cut is not None and no == cut.line:
            parsed.refuse(SampleRefusal(name, cut.reason, no, cut.column))
            continue
        if value is None:
            shown = repr(raw) if raw not in (None, "") else "missing"
            parsed.refuse(
                SampleRefusal(
                    name, f"row {no}: absorbance {shown} is not a finite number", no, y_col
                )
            )
            continue
        if mapping.ordinate == "%T":
            a = transmittance_to_absorbance(value)
            if a is None:
                parsed.refuse(
                    SampleRefusal(name, f"row {no}: %T {value} <= 0 has no absorbance", no, y_col)
                )
                continue
            value = a
        wl = num(cell(cells, "wl")) if cols["wl"] is not None else mapping.wavelength_nm
        reading = Reading(name, value, wl if wl and wl > 0 else None, line=no, column=y_col)
        dil = num(cell(cells, "dil"))
        if dil is not None and dil > 0:
            reading.extra["dilutionFactor"] = dil
        conc = num(cell(cells, "conc"))
        if conc is not None:
            reading.extra["concentration"] = conc
        if mapping.units:
            reading.extra["units"] = mapping.units
        when = cell(cells, "when")
        if isinstance(when, datetime):
            reading.extra["measuredAt"] = when.isoformat()
        elif when not in (None, ""):
            reading.extra["measuredAt"] = str(when).strip()
        parsed.add(reading)
    return parsed


def parse_text(text: Text, mapping: ColumnMap) -> ParsedFile:
    delimiter = sniff_delimiter(text.lines[:50])
    rows = [(no, cells) for no, cells in csv_rows(text, delimiter)]
    comma = delimiter != "," and looks_decimal_comma([c for _, r in rows[:100] for c in r])
    return read_table(rows, mapping, comma=comma, text=text)


def parse_xlsx(data: bytes, mapping: ColumnMap) -> ParsedFile:
    """Rows of an XLSX sheet (openpyxl, imported only here, read-only mode)."""
    import io
    import zipfile

    try:
        import openpyxl
    except ModuleNotFoundError:
        raise Refused(
            "dependency", "XLSX needs the `openpyxl` package, which this runtime does not ship"
        ) from None
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise Refused(
            "binary", f"ZIP container that is not a readable XLSX workbook ({exc})"
        ) from None
    try:
        if mapping.sheet is not None:
            if mapping.sheet not in book.sheetnames:
                raise Refused(
                    "unknown", f"--map: no sheet {mapping.sheet!r} (sheets: {book.sheetnames})"
                )
            sheet = book[mapping.sheet]
        else:
            sheet = book.worksheets[0]
        rows = [
            (no, list(values)) for no, values in enumerate(sheet.iter_rows(values_only=True), 1)
        ]
    finally:
        book.close()
    parsed = read_table(rows, mapping, comma=False)
    parsed.format = "xlsx"
    return parsed
