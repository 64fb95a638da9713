"""The common intermediate every format reader produces: samples (a scan or a single reading)
with where they came from, plus what the file says about the run.

%T is converted to absorbance here, once, before anything else looks at the numbers:
A = 2 - log10(%T) (Beer-Lambert with T in percent). A point with %T <= 0 has no absorbance:
it is left out of the scan and reported, never turned into NaN or Infinity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime


class Refused(Exception):
    """When a whole file cannot be read as results; `kind` names what it looks like
    (binary, kinetics, fluorescence, reflectance, units, unknown, empty, dependency)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Dropped:
    """A scan point left out: %T <= 0 has no absorbance."""

    wavelength_nm: float
    value: float
    line: int | None


@dataclass(slots=True)
class Scan:
    """One sample's spectrum, in file order, as absorbance."""

    name: str | None
    wavelength_nm: list[float]
    absorbance: list[float]
    line: int | None = None
    column: int | None = None
    ordinate: str = "A"  # what the file wrote: "A" or "%T"
    dropped: list[Dropped] = field(default_factory=list)
    measured_at: datetime | None = None
    # The numbers exactly as the file wrote them (same length as the values), when known:
    # if each is already a JSON number the spectrum goes out as written (and without the
    # cost of float formatting).
    wavelength_text: Sequence[str] | None = None
    absorbance_text: Sequence[str] | None = None
    position: int | None = None  # 1-based order among the file's samples (ParsedFile.add)


@dataclass(slots=True)
class Reading:
    """One sample's single absorbance (Quant and Fixed exports): no wavelength needed."""

    name: str | None
    absorbance: float
    wavelength_nm: float | None = None
    line: int | None = None
    column: int | None = None
    extra: dict[str, object] = field(default_factory=dict)  # concentration, units, dilution
    position: int | None = None  # 1-based order among the file's samples (ParsedFile.add)


@dataclass(frozen=True, slots=True)
class SampleRefusal:
    """A sample of a file that could not become a result; the file's others go on."""

    name: str | None
    reason: str
    line: int | None = None
    column: int | None = None
    position: int | None = None  # the sample's order in the file (its tray position)


Sample = Scan | Reading


@dataclass(slots=True)
class ParsedFile:
    """What a reader found in one file. Readers record samples with `add` and refusals with
    `refuse`, in file order, so each keeps its position (1-based order in the file: the
    tray position) whether it became a result or not."""

    format: str
    samples: list[Sample] = field(default_factory=list)
    refused: list[SampleRefusal] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # Cary baseline pseudo-samples
    batch_id: str | None = None
    instrument_id: str | None = None
    measured_at: datetime | None = None
    notes: list[str] = field(default_factory=list)
    positions: int = 0  # how many samples (read or refused) `add`/`refuse` numbered

    def add(self, sample: Sample) -> None:
        """A sample read, numbered with the next position."""
        self.positions += 1
        sample.position = self.positions
        self.samples.append(sample)

    def refuse(self, refusal: SampleRefusal) -> None:
        """A sample refused, numbered with the next position (which stays its own)."""
        self.positions += 1
        self.refused.append(replace(refusal, position=self.positions))


def transmittance_to_absorbance(percent_t: float) -> float | None:
    """A = 2 - log10(%T); None for %T <= 0 (no absorbance exists)."""
    if percent_t <= 0 or not math.isfinite(percent_t):
        return None
    return 2.0 - math.log10(percent_t)


def build_scan(
    name: str | None,
    points: list[tuple[float, float, int | None]],
    *,
    ordinate: str,
    line: int | None = None,
    column: int | None = None,
) -> Scan:
    """A Scan from (wavelength, y, line) points; y is %T when ordinate is "%T"."""
    scan = Scan(name, [], [], line=line, column=column, ordinate=ordinate)
    for x, y, at in points:
        if ordinate == "%T":
            a = transmittance_to_absorbance(y)
            if a is None:
                scan.dropped.append(Dropped(x, y, at))
                continue
            y = a
        scan.wavelength_nm.append(x)
        scan.absorbance.append(y)
    return scan


def ordinate_of(label: str) -> str | None:
    """ "A" or "%T" from a y-axis label (``Abs``, ``A``, ``Abs.``, ``%T``, ``T%``,
    ``Ordinate [A]``, ``TRANSMITTANCE``); "%R" for reflectance; None if unknown."""
    s = label.strip().strip('"').strip().lower()
    s = s.replace("[", " ").replace("]", " ").replace("(", " ").replace(")", " ").strip()
    words = s.split()
    last = words[-1] if words else ""
    if last in {"a", "abs", "abs.", "absorbance", "au", "a.u."} or s in {"abs", "a", "absorbance"}:
        return "A"
    if last in {"%t", "t%", "%t.", "t", "transmittance", "%transmittance"} or "transmit" in s:
        return "%T"
    if last in {"%r", "r%", "r", "reflectance"} or "reflect" in s:
        return "%R"
    return None
