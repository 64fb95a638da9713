"""Water-quality indices from a UV-Vis scan (decadic absorbance A, path length in cm).

Definitions (docs/SPECTRA.md gives each with its source):
- uv254 = A254 / pathLengthCm, in 1/cm (SM 5910 B).
- a254PerM = 2.303 x A254 / path length in m: the Napierian absorption coefficient, 1/m
  (Helms et al. 2008, Limnol. Oceanogr. 53:955).
- suva254 = 100 x uv254 / docMgL, in L/(mg C m) (Weishaar et al. 2003; EPA 415.3).
- e2e3 = A250 / A365 (De Haan & De Boer 1987; Helms et al. 2008).
- s275to295, s350to400: the spectral slope S in a(l) = a(l0) exp(-S (l - l0)), in 1/nm,
  from a least-squares line through ln(A) over the range (Helms et al. 2008 fit the
  log-transformed spectrum over these two ranges), each with the R^2 of that line.
- slopeRatio = s275to295 / s350to400 (Helms et al. 2008).
- nitrateScreening = A220 - 2 x A275 (SM 4500-NO3 B: the 275 nm reading corrects the 220 nm
  one for dissolved organic matter).
Values between scan points are interpolated linearly. An index is None when the scan does not
cover what it needs (or a ratio's denominator is zero, or a slope range holds a value <= 0,
whose logarithm does not exist).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from uvqc.core.models import ResultMessage
from uvqc.spectra.points import Scan, scan_of

LN10 = 2.303  # decadic -> Napierian, as the literature writes it (ln 10 = 2.302585...)
SLOPE_MIN_POINTS = 3

INDEX_KEYS = (
    "uv254",
    "a254PerM",
    "suva254",
    "e2e3",
    "s275to295",
    "s275to295R2",
    "s350to400",
    "s350to400R2",
    "slopeRatio",
    "nitrateScreening",
)

Indices = dict[str, float | None]
# The wavelengths at which a single reading (no scan) gives an index: uv254 and a254PerM.
READING_WAVELENGTHS = frozenset({254.0})


def log_linear_slope(nm: Sequence[float], a: Sequence[float]) -> tuple[float, float] | None:
    """(S, R^2) of ln(a) = c - S * nm by ordinary least squares; S in 1/nm (positive when a
    decays with wavelength). None with fewer than 3 points, a value <= 0, or no spread in nm.
    R^2 is 1.0 when ln(a) is constant (a perfect, flat fit)."""
    n = len(nm)
    if n < SLOPE_MIN_POINTS or len(a) != n or any(v <= 0 for v in a):
        return None
    ys = [math.log(v) for v in a]
    mx, my = sum(nm) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in nm)
    if sxx == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(nm, ys, strict=True))
    slope = sxy / sxx
    syy = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (my + slope * (x - mx))) ** 2 for x, y in zip(nm, ys, strict=True))
    r2 = 1.0 if syy == 0 else max(0.0, 1.0 - ss_res / syy)
    return -slope, r2


def _slope(scan: Scan, low: float, high: float) -> tuple[float | None, float | None]:
    if not scan.covers(low, high):
        return None, None
    fit = log_linear_slope(*scan.between(low, high))
    return (None, None) if fit is None else fit


def _ratio(top: float | None, bottom: float | None) -> float | None:
    if top is None or bottom is None or bottom == 0:
        return None
    return top / bottom


def scan_indices(
    scan: Scan, *, path_length_cm: float = 1.0, doc_mg_l: float | None = None
) -> Indices:
    """Every index of INDEX_KEYS for one scan (None where the scan does not cover it)."""
    a254 = scan.at(254.0)
    uv254 = None if a254 is None else a254 / path_length_cm
    a254_per_m = None if a254 is None else LN10 * a254 / (path_length_cm / 100.0)
    suva = None if uv254 is None or doc_mg_l is None else 100.0 * uv254 / doc_mg_l
    s275, r2_275 = _slope(scan, 275.0, 295.0)
    s350, r2_350 = _slope(scan, 350.0, 400.0)
    a220, a275 = scan.at(220.0), scan.at(275.0)
    found: Indices = {
        "uv254": uv254,
        "a254PerM": a254_per_m,
        "suva254": suva,
        "e2e3": _ratio(scan.at(250.0), scan.at(365.0)),
        "s275to295": s275,
        "s275to295R2": r2_275,
        "s350to400": s350,
        "s350to400R2": r2_350,
        "slopeRatio": _ratio(s275, s350),
        "nitrateScreening": None if a220 is None or a275 is None else a220 - 2.0 * a275,
    }
    # Absurd inputs (1e308 A) can overflow: an index that is not a finite number is None.
    return {k: v if v is None or math.isfinite(v) else None for k, v in found.items()}


_last: tuple[object, Indices | None] = (None, None)


def indices_of(result: ResultMessage) -> Indices | None:
    """The indices of a result: from its spectrum, or from its single reading at
    `wavelengthNm` (a fixed UV254 reading gives uv254), with its `pathLengthCm` (default 1)
    and `docMgL`. None when it has neither, or when its wavelength axis repeats a
    wavelength (`spectrum_axis` reports that)."""
    global _last
    cached, kept = _last
    if cached is result:
        return kept
    scan = scan_of(result)
    found = None if scan is None else _result_indices(result, scan)
    _last = (result, found)
    return found


def _result_indices(result: ResultMessage, scan: Scan) -> Indices | None:
    found = scan_indices(
        scan, path_length_cm=result.path_length_cm or 1.0, doc_mg_l=result.doc_mg_l
    )
    if result.spectrum is None and all(v is None for v in found.values()):
        return None  # a single reading at a wavelength no index uses
    return found
