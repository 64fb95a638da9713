"""A scan as sorted (wavelength, absorbance) points, and linear interpolation between them."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

from uvqc.core.models import ResultMessage


@dataclass(frozen=True, slots=True)
class Scan:
    """Points sorted by wavelength (nm, ascending) with their decadic absorbance (A).

    Built only from an axis without repeated wavelengths: with duplicates there is no single
    A(lambda) to read, and `spectrum_axis` reports the axis instead."""

    nm: tuple[float, ...]
    a: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.nm)

    def covers(self, low: float, high: float) -> bool:
        return bool(self.nm) and self.nm[0] <= low and self.nm[-1] >= high

    def at(self, wavelength: float) -> float | None:
        """A(wavelength): the exact point, or linear interpolation between the two
        neighbouring points; None outside the scan."""
        nm = self.nm
        if not nm or wavelength < nm[0] or wavelength > nm[-1]:
            return None
        i = bisect.bisect_left(nm, wavelength)
        if nm[i] == wavelength:
            return self.a[i]
        x0, x1, y0, y1 = nm[i - 1], nm[i], self.a[i - 1], self.a[i]
        return y0 + (y1 - y0) * (wavelength - x0) / (x1 - x0)

    def between(self, low: float, high: float) -> tuple[list[float], list[float]]:
        """The points with low <= nm <= high, with both ends added by interpolation when the
        scan covers them but has no point exactly there."""
        lo = bisect.bisect_left(self.nm, low)
        hi = bisect.bisect_right(self.nm, high)
        xs, ys = list(self.nm[lo:hi]), list(self.a[lo:hi])
        if self.covers(low, high):
            start, end = self.at(low), self.at(high)
            if start is not None and (not xs or xs[0] != low):
                xs.insert(0, low)
                ys.insert(0, start)
            if end is not None and xs[-1] != high:
                xs.append(high)
                ys.append(end)
        return xs, ys


# The last result's scan: the engine and up to a dozen rules ask for the same result's scan
# in turn; keeping one (by identity) saves rebuilding it each time. A race between threads
# only costs a rebuild.
_last: tuple[object, Scan | None] = (None, None)


def scan_of(result: ResultMessage) -> Scan | None:
    """The result's scan; a single reading at `wavelengthNm` counts as a one-point scan (a
    fixed-wavelength UV254 reading gives UV254). None when there is no usable axis."""
    global _last
    cached, scan = _last
    if cached is result:
        return scan
    scan = _build(result)
    _last = (result, scan)
    return scan


def _build(result: ResultMessage) -> Scan | None:
    spectrum = result.spectrum
    if spectrum is None:
        if result.wavelength_nm is None:
            return None
        return Scan((result.wavelength_nm,), (result.absorbance,))
    nm, a = tuple(spectrum.wavelength_nm), tuple(spectrum.absorbance)
    steps = [y - x for x, y in itertools.pairwise(nm)]
    if all(d > 0 for d in steps):
        return Scan(nm, a)
    if all(d < 0 for d in steps):
        return Scan(nm[::-1], a[::-1])
    pairs = sorted(zip(nm, a, strict=True))
    nm = tuple(p[0] for p in pairs)
    if any(y == x for x, y in itertools.pairwise(nm)):
        return None
    return Scan(nm, tuple(p[1] for p in pairs))
