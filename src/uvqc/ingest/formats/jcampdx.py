"""JCAMP-DX UV/VIS (4.24; LINK files with ``##BLOCKS=``; ``(XY..XY)`` and ``(X++(Y..Y))``
in AFFN, PAC, SQZ or DIFDUP form; X/YFACTOR) through the maintained ``jcamp`` package,
imported only here (it brings numpy). One sample per block, named by its ``##TITLE``.

Refused as a whole: a DATA TYPE that is not UV/VIS, YUNITS that are neither absorbance nor
transmittance (log(epsilon), molar absorptivity), an x axis in time. MAXY/MINY are never
trusted; NPOINTS must match what was decoded.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from typing import Any

from uvqc.ingest.formats.common import clean_name, parse_datetime
from uvqc.ingest.model import ParsedFile, Refused, SampleRefusal, build_scan
from uvqc.ingest.text import Text

NAME = "jcamp"
_UV = re.compile(r"UV|VIS", re.I)


def sniff(text: Text) -> bool:
    for line in text.lines[:20]:
        if line.strip():
            return line.lstrip().startswith("##")
    return False


def _blocks(text: Text) -> list[tuple[list[str], int]]:
    """The data blocks (lines, 1-based first line): the children of a LINK file, else the
    file itself."""
    starts = [i for i, ln in enumerate(text.lines) if ln.upper().startswith("##TITLE")]
    link = any(
        re.match(r"##DATA\s*TYPE\s*=\s*LINK", ln, re.I)
        for ln in text.lines[: (starts[1] if len(starts) > 1 else 40)]
    )
    if not link:
        return [(text.lines, 1)]
    blocks = []
    for s in starts[1:]:
        end = next(
            (j for j in range(s, len(text.lines)) if text.lines[j].upper().startswith("##END")),
            len(text.lines) - 1,
        )
        blocks.append((text.lines[s : end + 1], s + 1))
    return blocks


def _read(lines: list[str]) -> dict[str, Any]:
    try:
        import jcamp
    except ModuleNotFoundError:
        raise Refused(
            "dependency",
            "JCAMP-DX needs the `jcamp` package (with numpy), which this runtime does not "
            "ship: import the file with `uvqc ingest` on a workstation",
        ) from None
    noise = io.StringIO()
    try:
        with contextlib.redirect_stdout(noise):  # jcamp prints its X/Y check warnings
            result: dict[str, Any] = jcamp.read([ln + "\n" for ln in lines])
    # jcamp raises bare Exception ("Unknown character ... while parsing data") besides the
    # usual ValueError/KeyError/IndexError: at this library boundary every one of them means
    # "this file's data cannot be decoded", and becomes the file's refusal (not swallowed).
    except Exception as exc:  # noqa: BLE001
        raise Refused(
            "unknown", f"JCAMP-DX data could not be decoded ({type(exc).__name__}: {exc})"
        ) from None
    result["_warnings"] = noise.getvalue().strip()
    return result


def _x_in_nm(xunits: str) -> tuple[str, float | None]:
    u = xunits.strip().upper()
    if u in {"NM", "NANOMETERS", "NANOMETER"}:
        return "nm", 1.0
    if u in {"MICROMETERS", "UM", "MICRONS"}:
        return "nm", 1000.0
    if u in {"1/CM", "CM-1", "CM^-1"}:
        return "1/cm", None
    if u in {"SECONDS", "S", "SEC", "MINUTES", "MIN"}:
        raise Refused("kinetics", f"kinetics/time-based JCAMP-DX: XUNITS={xunits}")
    raise Refused("units", f"JCAMP-DX XUNITS={xunits!r} is not a wavelength unit")


def _y_ordinate(yunits: str) -> str:
    u = yunits.strip().upper()
    if u in {"A", "ABSORBANCE", "ABS", "AU"}:
        return "A"
    if u in {"TRANSMITTANCE", "T", "%T", "PERCENT TRANSMITTANCE"}:
        return "%T"
    if "REFLECT" in u:
        raise Refused("reflectance", f"reflectance JCAMP-DX: YUNITS={yunits}")
    raise Refused(
        "units",
        f"JCAMP-DX YUNITS={yunits!r} is neither absorbance nor transmittance "
        "(e.g. log(epsilon) is molar absorptivity, not a measured absorbance)",
    )


def parse(text: Text, stem: str) -> ParsedFile:
    parsed = ParsedFile(NAME)
    for lines, first_line in _blocks(text):
        block = _read(lines)
        data_type = str(block.get("data type", block.get("datatype", "")))
        if not _UV.search(data_type):
            raise Refused("unknown", f"JCAMP-DX DATA TYPE={data_type!r} is not a UV/VIS spectrum")
        xunit, scale = _x_in_nm(str(block.get("xunits", "NM")))
        ordinate = _y_ordinate(str(block.get("yunits", "")))
        name = clean_name(str(block["title"])) if block.get("title") else None
        xs = [float(v) for v in block.get("x", [])]
        ys = [float(v) for v in block.get("y", [])]
        data_line = next(
            (
                first_line + i
                for i, ln in enumerate(lines)
                if ln.upper().startswith(("##XYDATA", "##XYPOINTS"))
            ),
            first_line,
        )
        if len(xs) != len(ys) or not xs:
            parsed.refuse(
                SampleRefusal(
                    name,
                    f"block at line {first_line}: {len(ys)} y values decoded for {len(xs)} x "
                    "values (NPOINTS/FIRSTX/LASTX disagree with the data)",
                    data_line,
                )
            )
            continue
        bad = next(
            (
                i
                for i, (x, y) in enumerate(zip(xs, ys, strict=True))
                if not (math.isfinite(x) and math.isfinite(y))
            ),
            None,
        )
        if bad is not None:
            parsed.refuse(
                SampleRefusal(
                    name,
                    f"block at line {first_line}: point {bad + 1} is not a finite number",
                    data_line,
                )
            )
            continue
        if xunit == "1/cm":
            if any(x <= 0 for x in xs):
                parsed.refuse(
                    SampleRefusal(name, "wavenumber <= 0 cannot become a wavelength", data_line)
                )
                continue
            xs = [1e7 / x for x in xs]
        elif scale is not None and scale != 1.0:
            xs = [x * scale for x in xs]
        if ordinate == "%T" and max(ys) <= 1.5:
            ys = [y * 100.0 for y in ys]  # JCAMP TRANSMITTANCE is a fraction (0-1)
        scan = build_scan(
            name,
            [(x, y, None) for x, y in zip(xs, ys, strict=True)],
            ordinate=ordinate,
            line=data_line,
        )
        date = str(block.get("date", "")).strip()
        if date:
            scan.measured_at = parse_datetime(
                f"{date} {str(block.get('time', '')).split('.')[0]}".strip(),
                ("%y/%m/%d %H:%M:%S", "%y/%m/%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d"),
            )
            if parsed.measured_at is None:
                parsed.measured_at = scan.measured_at
        if block.get("_warnings"):
            parsed.notes.append(f"{name or 'block'}: jcamp: {block['_warnings'].splitlines()[0]}")
        system = block.get("spectrometer/data system")
        if system and parsed.instrument_id is None:
            parsed.instrument_id = clean_name(str(system))
        parsed.add(scan)
    return parsed
