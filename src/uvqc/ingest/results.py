"""From a ParsedFile to intake messages: one per sample, in file order.

Absorbance of a scan is read at the analytical wavelength: the exact point (the mean if the
file repeats it), else linear interpolation between the two neighbours; a scan that does not
reach the wavelength, or whose neighbours straddle a point left out (%T <= 0), is refused
for that sample only. The whole scan goes along as ``spectrum``, decimated (every k-th point,
said in the message) only when the message would exceed 256 KiB (the SQS limit) or the
model's 20,000 points.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from uvqc.core.models import MAX_ID_LENGTH, MAX_PAYLOAD_BYTES
from uvqc.core.parse import Rejected, parse_message
from uvqc.ingest.detect import read
from uvqc.ingest.formats.table import ColumnMap
from uvqc.ingest.model import ParsedFile, Reading, Refused, SampleRefusal, Scan
from uvqc.ingest.naming import IngestConfig, classify

MAX_SPECTRUM_POINTS = 20_000
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class Options:
    """How scans become absorbances; flags override the lab's ingest config."""

    wavelength_nm: float | None = None
    baseline_nm: float | None = None
    method: str | None = None
    config: IngestConfig = field(default_factory=IngestConfig)

    @property
    def analytical_nm(self) -> float | None:
        return self.wavelength_nm if self.wavelength_nm is not None else self.config.wavelength_nm

    @property
    def reference_nm(self) -> float | None:
        return self.baseline_nm if self.baseline_nm is not None else self.config.baseline_nm


@dataclass(slots=True)
class FileOutcome:
    """What one file gave: messages (JSON bytes) and what was refused or skipped."""

    file: str
    sha256: str
    format: str
    batch_id: str
    messages: list[bytes] = field(default_factory=list)
    refused: list[SampleRefusal] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    file_refusal: str | None = None
    refusal_kind: str | None = None

    @property
    def ok(self) -> bool:
        return self.file_refusal is None and not self.refused


class _NoValue(Exception):
    """When a scan has no absorbance at the asked wavelength (a per-sample refusal)."""


def value_at(scan: Scan, nm: float) -> tuple[float, str]:
    """Absorbance at `nm`: (value, how). Raises _NoValue with the reason."""
    xs, ys = scan.wavelength_nm, scan.absorbance
    if not xs:
        raise _NoValue("no points left in the scan")
    if any(d.wavelength_nm == nm for d in scan.dropped):
        raise _NoValue(f"%T <= 0 at {nm:g} nm: no absorbance there")
    exact = [y for x, y in zip(xs, ys, strict=True) if x == nm]
    if exact:
        how = (
            "exact point"
            if len(exact) == 1
            else f"mean of {len(exact)} points at the same wavelength"
        )
        return math.fsum(exact) / len(exact), how
    below = [(x, y) for x, y in zip(xs, ys, strict=True) if x < nm]
    above = [(x, y) for x, y in zip(xs, ys, strict=True) if x > nm]
    if not below or not above:
        raise _NoValue(f"the scan covers {min(xs):g}-{max(xs):g} nm and does not reach {nm:g} nm")
    x0, y0 = max(below, key=lambda p: p[0])
    x1, y1 = min(above, key=lambda p: p[0])
    gap = [d for d in scan.dropped if x0 < d.wavelength_nm < x1 or d.wavelength_nm == nm]
    if gap:
        raise _NoValue(
            f"%T <= 0 at {gap[0].wavelength_nm:g} nm next to {nm:g} nm: no absorbance there"
        )
    value = y0 + (y1 - y0) * (nm - x0) / (x1 - x0)
    return value, f"interpolated between {x0:g} and {x1:g} nm"


def batch_id_for(stem: str, sha256: str) -> str:
    """The file's stem plus a short content digest: the same bytes, the same batch."""
    return f"{stem[: MAX_ID_LENGTH - 13]}-{sha256[:12]}"


def _sample_id(name: str | None, stem: str) -> str:
    return (name or stem)[:MAX_ID_LENGTH]


def _decimate(wl: list[float], ab: list[float], step: int) -> tuple[list[float], list[float]]:
    keep = list(range(0, len(wl), step))
    if keep[-1] != len(wl) - 1:
        keep.append(len(wl) - 1)
    return [wl[i] for i in keep], [ab[i] for i in keep]


def _encode_with_spectrum(msg: dict[str, Any], scan: Scan) -> bytes:
    wl, ab = scan.wavelength_nm, scan.absorbance
    step = max(1, math.ceil(len(wl) / MAX_SPECTRUM_POINTS))
    while True:
        w, a = (wl, ab) if step == 1 else _decimate(wl, ab, step)
        msg["spectrum"] = {"wavelengthNm": w, "absorbance": a}
        if step > 1:
            msg["spectrumDecimated"] = {"fromPoints": len(wl), "toPoints": len(w), "every": step}
            note = (
                f"spectrum decimated from {len(wl)} to {len(w)} points (every {step}th) to fit "
                f"the {MAX_PAYLOAD_BYTES}-byte message limit"
            )
            msg["ingest"]["notes"] = [
                n for n in msg["ingest"]["notes"] if not n.startswith("spectrum decimated")
            ] + [note]
        raw = _DUMPS(msg).encode("utf-8")
        if len(raw) <= MAX_PAYLOAD_BYTES or len(w) <= 2:
            return raw
        step = max(step + 1, math.ceil(step * len(raw) / (MAX_PAYLOAD_BYTES * 0.95)))


def to_messages(parsed: ParsedFile, *, file: str, sha256: str, options: Options) -> FileOutcome:
    """One message per sample (file order); refusals per sample with their reason."""
    stem = PurePath(file).stem or "file"
    batch = parsed.batch_id or batch_id_for(stem, sha256)
    out = FileOutcome(file, sha256, parsed.format, batch, refused=list(parsed.refused))
    out.skipped = list(parsed.skipped)
    out.notes = list(parsed.notes)
    drafts: list[tuple[dict[str, Any], Scan | None]] = []
    for sample in parsed.samples:
        sid = _sample_id(sample.name, stem)
        msg: dict[str, Any] = {"sampleId": sid}
        notes: list[str] = []
        if isinstance(sample, Reading):
            msg["absorbance"] = sample.absorbance
            if sample.wavelength_nm is not None:
                msg["wavelengthNm"] = sample.wavelength_nm
            msg.update(sample.extra)
        else:
            nm = options.analytical_nm
            if nm is None:
                out.refused.append(
                    SampleRefusal(
                        sample.name,
                        "a scan needs the analytical wavelength: pass --wavelength NM "
                        "(or set wavelengthNm in the ingest config)",
                        sample.line,
                        sample.column,
                    )
                )
                continue
            try:
                value, how = value_at(sample, nm)
                ref = options.reference_nm
                if ref is not None:
                    base, _ = value_at(sample, ref)
                    value -= base
                    notes.append(f"baseline-corrected at {ref:g} nm (A = {base:.6g} subtracted)")
            except _NoValue as exc:
                out.refused.append(SampleRefusal(sample.name, str(exc), sample.line, sample.column))
                continue
            msg["absorbance"] = value
            msg["wavelengthNm"] = nm
            notes.append(f"absorbance at {nm:g} nm: {how}")
            if sample.ordinate == "%T":
                notes.append("converted from %T: A = 2 - log10(%T)")
            if sample.dropped:
                where = ", ".join(
                    f"{d.wavelength_nm:g} nm" + (f" (line {d.line})" if d.line else "")
                    for d in sample.dropped[:5]
                )
                more = f" and {len(sample.dropped) - 5} more" if len(sample.dropped) > 5 else ""
                notes.append(
                    f"{len(sample.dropped)} point(s) with %T <= 0 left out of the spectrum: "
                    f"{where}{more}"
                )
                out.notes.append(f"{sid}: {notes[-1]}")
            if parsed.format == "cary" and 10.0 in sample.absorbance:
                notes.append(
                    f"over-range marker 10 at {sample.absorbance.count(10.0)} point(s), "
                    "kept as written"
                )
        when = sample.measured_at if isinstance(sample, Scan) else None
        when = when or parsed.measured_at
        if when is not None and "measuredAt" not in msg:
            msg["measuredAt"] = when.isoformat()
        if parsed.instrument_id:
            msg["instrumentId"] = parsed.instrument_id[:MAX_ID_LENGTH]
        method = options.method or options.config.method
        if method:
            msg["method"] = method
        msg.update(classify(sid, options.config.rules))
        msg["batchId"] = batch
        msg["source"] = {
            "file": file,
            "line": sample.line,
            "column": sample.column,
            "sha256": sha256,
        }
        msg["ingest"] = {"format": parsed.format, "notes": notes}
        drafts.append((msg, sample if isinstance(sample, Scan) else None))
    total = len(drafts)
    sequence = 0
    for msg, scan in drafts:
        sequence += 1
        msg["sequence"] = sequence
        msg["batchSize"] = total
        raw = _encode_with_spectrum(msg, scan) if scan is not None else _DUMPS(msg).encode("utf-8")
        verdict = parse_message(raw)
        if isinstance(verdict, Rejected):
            out.refused.append(
                SampleRefusal(
                    msg["sampleId"],
                    verdict.finding.message,
                    msg["source"]["line"],
                    msg["source"]["column"],
                )
            )
            continue
        out.messages.append(raw)
    return out


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ingest_bytes(
    data: bytes,
    file: str,
    *,
    options: Options,
    fmt: str = "auto",
    mapping: ColumnMap | None = None,
) -> FileOutcome:
    """Read one file's bytes and build its messages; a refused file is an outcome with
    `file_refusal` set (never an exception)."""
    digest = file_digest(data)
    stem = PurePath(file).stem or "file"
    try:
        parsed = read(data, file, stem, fmt=fmt, mapping=mapping)
    except Refused as exc:
        out = FileOutcome(file, digest, fmt, batch_id_for(stem, digest))
        out.file_refusal, out.refusal_kind = exc.reason, exc.kind
        return out
    out = to_messages(parsed, file=file, sha256=digest, options=options)
    if not out.messages and not out.refused and not out.skipped:
        out.file_refusal, out.refusal_kind = "no samples found in the file", "empty"
    return out
