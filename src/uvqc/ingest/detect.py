"""Which reader a file needs, decided from its content (the extension lies), and the one
entry point from bytes to a ParsedFile."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from uvqc.ingest.formats import (
    cary,
    jasco,
    jcampdx,
    perkinelmer,
    shimadzu,
    table,
    thermo,
    twocolumn,
)
from uvqc.ingest.model import ParsedFile, Refused
from uvqc.ingest.text import ZIP_MAGIC, Text, binary_kind, decode


@dataclass(frozen=True, slots=True)
class Reader:
    name: str
    sniff: Callable[[Text], bool]
    parse: Callable[[Text, str], ParsedFile]
    label: str


# Most specific first: each sniff looks for its format's own marks.
READERS: tuple[Reader, ...] = (
    Reader(jcampdx.NAME, jcampdx.sniff, jcampdx.parse, "JCAMP-DX"),
    Reader(shimadzu.NAME, shimadzu.sniff, shimadzu.parse, "Shimadzu UVProbe ASCII"),
    Reader(cary.NAME, cary.sniff, cary.parse, "Agilent Cary WinUV CSV"),
    Reader(jasco.NAME, jasco.sniff, jasco.parse, "JASCO Spectra Manager"),
    Reader(thermo.GENESYS, thermo.sniff_genesys, thermo.parse_genesys, "Thermo Genesys 30/150"),
    Reader(perkinelmer.NAME, perkinelmer.sniff, perkinelmer.parse, "PerkinElmer UV WinLab CSV"),
    Reader(thermo.SCAN, thermo.sniff_scan, thermo.parse_scan, "Thermo VISIONlite Scan"),
    Reader(thermo.QUANT, thermo.sniff_quant, thermo.parse_quant, "Thermo VISIONlite Fixed/Quant"),
    Reader(twocolumn.NAME, twocolumn.sniff, twocolumn.parse, "two-column wavelength/absorbance"),
)
FORMATS = ("auto", *(r.name for r in READERS), table.NAME)
_BY_NAME = {r.name: r for r in READERS}
_KINETICS_HINT = re.compile(r"\b(time\s*\((min|s|sec)\)|kinetics|rate\b)", re.I)
_FLUO_HINT = re.compile(r"fluoresc|emission|excitation", re.I)


def _unknown(text: Text) -> Refused:
    head = " | ".join(ln.strip()[:60] for ln in text.lines[:3] if ln.strip())
    sample = "\n".join(text.lines[:40])
    if _FLUO_HINT.search(sample):
        return Refused("fluorescence", f"looks like a fluorescence export ({head!r})")
    if _KINETICS_HINT.search(sample):
        return Refused("kinetics", f"looks like a kinetics/time-based export ({head!r})")
    return Refused(
        "unknown",
        f"unknown layout (starts {head!r}): no known instrument export; for a result table "
        "give a column mapping with --map FILE, or force a reader with --format",
    )


def read(
    data: bytes, name: str, stem: str, *, fmt: str = "auto", mapping: table.ColumnMap | None = None
) -> ParsedFile:
    """Parse one file's bytes. Raises Refused (the whole file) with a reason naming what the
    file looks like; samples that cannot be read are in ParsedFile.refused. What decoding
    noticed (a cut UTF-16 file) comes first in ParsedFile.notes."""
    if data.startswith(ZIP_MAGIC) and (mapping is not None or fmt == "xlsx"):
        if mapping is None:
            raise Refused("unknown", "an XLSX workbook needs a column mapping: --map FILE")
        return table.parse_xlsx(data, mapping)
    text = _text(data, name)
    parsed = _parse(text, stem, fmt, mapping)
    parsed.notes[:0] = text.notes
    return parsed


def _text(data: bytes, name: str) -> Text:
    kind = binary_kind(data)
    if kind is not None:
        hint = " (an XLSX table can be read with --map FILE)" if data.startswith(ZIP_MAGIC) else ""
        raise Refused("binary", f"binary file: looks like {kind}, not a text export{hint}")
    text = decode(data, name)
    if not any(ln.strip() for ln in text.lines):
        raise Refused("empty", "empty file")
    return text


def _parse(text: Text, stem: str, fmt: str, mapping: table.ColumnMap | None) -> ParsedFile:
    if mapping is not None or fmt == table.NAME:
        if mapping is None:
            raise Refused("unknown", "--format table needs a column mapping: --map FILE")
        return table.parse_text(text, mapping)
    if fmt != "auto":
        reader = _BY_NAME[fmt]
        if not reader.sniff(text):
            # Forcing skips the order of detection, not the reader's own checks of its layout.
            found = next((r.label for r in READERS if r.sniff(text)), None)
            hint = f"; it looks like {found}" if found else ""
            raise Refused(
                "unknown", f"--format {fmt}: the file is not in the {reader.label} layout{hint}"
            )
        return reader.parse(text, stem)
    for reader in READERS:
        if reader.sniff(text):
            return reader.parse(text, stem)
    raise _unknown(text)
