"""From a ParsedFile to intake messages: one per sample, in file order.

Absorbance of a scan is read at the analytical wavelength: the exact point (the mean if the
file repeats it), else linear interpolation between the two neighbours; a scan that does not
reach the wavelength, or whose neighbours straddle a point left out (%T <= 0), is refused
for that sample only. The whole scan goes along as ``spectrum``, decimated (every k-th point,
said in the message) only when the message would exceed 256 KiB (the SQS limit) or the
model's 20,000 points.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import PurePath
from typing import Any

from uvqc.core.models import MAX_ID_LENGTH, MAX_PAYLOAD_BYTES
from uvqc.core.parse import Rejected, parse_message
from uvqc.ingest.detect import read
from uvqc.ingest.formats.table import ColumnMap
from uvqc.ingest.model import ParsedFile, Reading, Refused, SampleRefusal, Scan
from uvqc.ingest.naming import IngestConfig, classify
from uvqc.ingest.text import json_numbers
from uvqc.settings import Settings

MAX_SPECTRUM_POINTS = 20_000
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class Options:
    """How scans become absorbances; flags override the lab's ingest config."""

    wavelength_nm: float | None = None
    baseline_nm: float | None = None
    method: str | None = None
    config: IngestConfig = field(default_factory=IngestConfig)
    # The instruments' clock: a collection time written without an offset (Cary, UVProbe and
    # most PC software write local time) is read in it; None: this machine's local time.
    timezone: tzinfo | None = None

    @property
    def analytical_nm(self) -> float | None:
        return self.wavelength_nm if self.wavelength_nm is not None else self.config.wavelength_nm

    @property
    def reference_nm(self) -> float | None:
        return self.baseline_nm if self.baseline_nm is not None else self.config.baseline_nm


def resolve_wavelength(flag: float | None, settings: Settings) -> float | None:
    """The analytical wavelength: --wavelength > UVQC_INGEST_WAVELENGTH_NM > the method
    file's `wavelength_nm` (UVQC_METHOD); the lab config's `wavelengthNm` comes after these
    (Options.analytical_nm). None: scans are refused naming the option."""
    if flag is not None:
        return flag
    if settings.ingest_wavelength_nm is not None:
        return settings.ingest_wavelength_nm
    if settings.method is not None:
        from uvqc.core.methods import load_method

        return load_method(settings.method).wavelength_nm
    return None


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
    exact = [y for x, y in zip(xs, ys, strict=True) if x == nm] if xs.count(nm) else []
    if exact:
        how = (
            "exact point"
            if len(exact) == 1
            else f"mean of {len(exact)} points at the same wavelength"
        )
        return math.fsum(exact) / len(exact), how
    x0, x1 = _neighbours(xs, nm)
    if x0 is None or x1 is None:
        raise _NoValue(f"the scan covers {min(xs):g}-{max(xs):g} nm and does not reach {nm:g} nm")
    # the neighbours' absorbances (the first point at that wavelength if repeated)
    y0, y1 = ys[xs.index(x0)], ys[xs.index(x1)]
    gap = [d for d in scan.dropped if x0 < d.wavelength_nm < x1]
    if gap:
        raise _NoValue(
            f"%T <= 0 at {gap[0].wavelength_nm:g} nm next to {nm:g} nm: no absorbance there"
        )
    value = y0 + (y1 - y0) * (nm - x0) / (x1 - x0)
    return value, f"interpolated between {x0:g} and {x1:g} nm"


def _neighbours(xs: list[float], nm: float) -> tuple[float | None, float | None]:
    """The nearest wavelengths below and above `nm`: bisection on a monotonic scan (most
    are), a full pass otherwise (unevenly ordered, repeated points)."""
    if len(xs) > 8:
        if all(map(operator.lt, xs, xs[1:])):
            i = bisect.bisect_left(xs, nm)
            return (xs[i - 1] if i > 0 else None), (xs[i] if i < len(xs) else None)
        if all(map(operator.gt, xs, xs[1:])):
            i = bisect.bisect_left(xs, -nm, key=operator.neg)
            return (xs[i] if i < len(xs) else None), (xs[i - 1] if i > 0 else None)
    below = max([x for x in xs if x < nm], default=None)
    above = min([x for x in xs if x > nm], default=None)
    return below, above


def batch_id_for(stem: str, sha256: str) -> str:
    """The file's stem plus a short content digest: the same bytes, the same batch."""
    return f"{stem[: MAX_ID_LENGTH - 13]}-{sha256[:12]}"


def _sample_id(name: str | None, stem: str) -> str:
    return (name or stem)[:MAX_ID_LENGTH]


def _keep(n: int, step: int) -> list[int]:
    keep = list(range(0, n, step))
    if keep[-1] != n - 1:
        keep.append(n - 1)
    return keep


def _array(values: list[float], text: Sequence[str] | None, keep: list[int] | None) -> str:
    """A JSON array: the file's own number text when every one is a JSON number, else the
    floats (formatted by the JSON encoder)."""
    if text is not None and len(text) == len(values):
        chosen = text if keep is None else [text[i] for i in keep]
        if json_numbers(chosen) is not None:
            return "[" + ",".join(chosen) + "]"
    return _DUMPS(values if keep is None else [values[i] for i in keep])


def _encode_with_spectrum(msg: dict[str, Any], scan: Scan) -> bytes:
    """The message with `spectrum` spliced in; every k-th point only when the whole would
    pass the 256 KiB limit (or the model's 20,000 points), said in the message."""
    wl, ab = scan.wavelength_nm, scan.absorbance
    n = len(wl)
    step = max(1, math.ceil(n / MAX_SPECTRUM_POINTS))
    while True:
        keep = None if step == 1 else _keep(n, step)
        if keep is not None:
            msg["spectrumDecimated"] = {"fromPoints": n, "toPoints": len(keep), "every": step}
            note = (
                f"spectrum decimated from {n} to {len(keep)} points (every {step}th) to fit "
                f"the {MAX_PAYLOAD_BYTES}-byte message limit"
            )
            notes = [x for x in msg["ingest"]["notes"] if not x.startswith("spectrum decimated")]
            msg["ingest"]["notes"] = [*notes, note]
        head = _DUMPS(msg)
        spectrum = (
            f',"spectrum":{{"wavelengthNm":{_array(wl, scan.wavelength_text, keep)},'
            f'"absorbance":{_array(ab, scan.absorbance_text, keep)}}}}}'
        )
        raw = (head[:-1] + spectrum).encode("utf-8")
        points = n if keep is None else len(keep)
        if len(raw) <= MAX_PAYLOAD_BYTES or points <= 2:
            return raw
        step = max(step + 1, math.ceil(step * len(raw) / (MAX_PAYLOAD_BYTES * 0.95)))


def to_messages(parsed: ParsedFile, *, file: str, sha256: str, options: Options) -> FileOutcome:
    """One message per sample (file order); refusals per sample with their reason.
    `sequence` is the sample's position in the file (1..`batchSize`, refused samples
    counted), so a refusal leaves its position unused instead of renumbering the rest."""
    stem = PurePath(file).stem or "file"
    batch = parsed.batch_id or batch_id_for(stem, sha256)
    out = FileOutcome(file, sha256, parsed.format, batch, refused=list(parsed.refused))
    out.skipped = list(parsed.skipped)
    out.notes = list(parsed.notes)
    naive = False  # a collection time without an offset, read on the instruments' clock
    drafts: list[tuple[dict[str, Any], Scan | None, int | None]] = []
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
                        sample.position,
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
                out.refused.append(
                    SampleRefusal(
                        sample.name, str(exc), sample.line, sample.column, sample.position
                    )
                )
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
            if when.tzinfo is None:
                clock = when
                when = _on_the_clock(when, options.timezone)
                naive = True
                odd = _dst_gap_or_fold(clock, when)
                if odd:
                    notes.append(odd)
                    out.notes.append(f"{sid}: {odd}")
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
        drafts.append((msg, sample if isinstance(sample, Scan) else None, sample.position))
    # Tray positions: every sample keeps its order in the file, a refused one included (its
    # position stays unused, so run QC sees it missing and later samples keep their own).
    # A reader that numbered nothing falls back to counting the results.
    positioned = parsed.positions > 0 and all(p is not None for _, _, p in drafts)
    total = parsed.positions if positioned else len(drafts)
    for index, (msg, scan, position) in enumerate(drafts, 1):
        msg["sequence"] = position if positioned and position is not None else index
        msg["batchSize"] = total
        # The model checks every field but the spectrum, whose numbers are finite and equal
        # in length by construction (validating 2 x 20,000 floats again costs more than
        # reading the file); the full message's size is checked when it is encoded.
        small = _DUMPS(msg).encode("utf-8")
        verdict = parse_message(small)
        if isinstance(verdict, Rejected):
            out.refused.append(
                SampleRefusal(
                    msg["sampleId"],
                    verdict.finding.message,
                    msg["source"]["line"],
                    msg["source"]["column"],
                    msg["sequence"] if positioned else None,
                )
            )
            continue
        out.messages.append(_encode_with_spectrum(msg, scan) if scan is not None else small)
    if naive:
        zone = options.timezone or "this computer's local time"
        out.notes.append(
            f"collection times carry no time zone: read as {zone} "
            "(UVQC_INGEST_TIMEZONE names the instruments' zone)"
        )
    return out


def _dst_gap_or_fold(clock: datetime, when: datetime) -> str | None:
    """Whether a wall-clock time does not exist (the hour skipped when clocks go forward) or
    happens twice (clocks go back) in its zone: what was assumed, else None."""
    if when.tzinfo is None:
        return None
    back = when.astimezone(UTC).astimezone(when.tzinfo).replace(tzinfo=None)
    if back != clock:
        return (
            f"collection time {clock.isoformat()} does not exist in {when.tzinfo} (clocks went "
            f"forward): read as {when.isoformat()}"
        )
    other = when.replace(fold=1 - when.fold)
    if other.utcoffset() != when.utcoffset():
        return (
            f"collection time {clock.isoformat()} happened twice in {when.tzinfo} (clocks went "
            f"back): read as the first, {when.isoformat()}"
        )
    return None


def _on_the_clock(when: datetime, zone: tzinfo | None) -> datetime:
    """A naive instrument time as an aware one: in `zone`, else in this machine's local time
    (with its daylight-saving rules: the instrument PC's clock, as the file was written)."""
    return when.replace(tzinfo=zone) if zone is not None else when.astimezone()


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
