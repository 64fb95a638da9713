"""Scan-level QC rules: pure functions over a result's spectrum, in the rule registry.

Each takes the result and keyword-only parameters (the method file's keys) and returns a
Finding or None; a result without a spectrum gives None. Defaults and their sources are in
docs/SPECTRA.md. The points a rule blames are named in its message (wavelengths in nm).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from uvqc.core.models import ResultMessage
from uvqc.core.rules import SeverityName, _num, rule
from uvqc.core.verdicts import Finding, Severity
from uvqc.spectra.indices import indices_of
from uvqc.spectra.points import Scan, scan_of

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution x 1.4826 = its standard deviation
SHOWN = 8  # wavelengths named in a message before "..."


def _scan(result: ResultMessage) -> Scan | None:
    """The sent spectrum as a sorted scan (None without a spectrum or with a bad axis)."""
    return None if result.spectrum is None else scan_of(result)


def _list(nm: Sequence[float]) -> str:
    shown = ", ".join(_num(w) for w in nm[:SHOWN])
    return shown + (f" ... ({len(nm)} in all)" if len(nm) > SHOWN else "")


def median(values: Iterable[float]) -> float:
    """The median (the `statistics` module costs ~40 ms of Lambda INIT to import)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


_last_residuals: tuple[object, int, list[float]] = (None, 0, [])


def _residuals(scan: Scan, window: int) -> list[float]:
    """median_residuals of a scan, kept for the next rule that asks (spikes, then noise)."""
    global _last_residuals
    cached, cached_window, values = _last_residuals
    if cached is not scan or cached_window != window:
        values = median_residuals(scan.a, window)
        _last_residuals = (scan, window, values)
    return values


def median_residuals(a: Sequence[float], window: int) -> list[float]:
    """a[i] - median of the `window` points centred on i, for every i with a whole window
    (the first and last window // 2 points have none: on a sloping scan a shrunk window
    would blame the slope). On a straight line the residuals are exactly zero."""
    half = window // 2
    return [a[i] - median(a[i - half : i + half + 1]) for i in range(half, len(a) - half)]


def robust_sigma(values: Sequence[float]) -> float:
    """1.4826 x the median absolute deviation from the median: a noise estimate that a few
    spikes do not inflate."""
    centre = median(values)
    return MAD_TO_SIGMA * median([abs(v - centre) for v in values])


@rule
def spectrum_spikes(
    result: ResultMessage,
    *,
    window: int = 5,
    threshold: float = 8.0,
    min_height: float = 0.01,
    noise_floor: float = 0.0005,
    severity: SeverityName = "suspect",
) -> Finding | None:
    """Isolated spikes (a bubble, a particle, an electronic glitch): points whose residual
    from a running median of `window` points exceeds both `threshold` robust noise sigmas
    (floored at `noise_floor` A: exports are rounded to 0.001 A) and `min_height` A. The
    first and last `window` // 2 points are not judged (no whole window around them)."""
    scan = _scan(result)
    if scan is None or len(scan) < window + 2:
        return None
    residuals = _residuals(scan, window)
    sigma = max(robust_sigma(residuals), noise_floor)
    cut = max(threshold * sigma, min_height)
    if not math.isfinite(cut):  # absurd values overflow; over_range/saturation report them
        return None
    inner = scan.nm[window // 2 : len(scan) - window // 2]
    spikes = [nm for nm, r in zip(inner, residuals, strict=True) if abs(r) > cut]
    if not spikes:
        return None
    return Finding(
        code="spectrum_spikes",
        severity=Severity(severity),
        message=(
            f"The spectrum of {result.sample_id} has {len(spikes)} isolated spike(s) at "
            f"{_list(spikes)} nm (more than {_num(round(cut, 6))} A off the running median): "
            "check the cuvette for bubbles or particles and re-scan."
        ),
        value=len(spikes),
        limit=round(cut, 6),
        field="spectrum.absorbance",
    )


@rule
def spectrum_noise(
    result: ResultMessage,
    *,
    max_noise: float = 0.005,
    window: int = 5,
    severity: SeverityName = "suspect",
) -> Finding | None:
    """Noise of the whole scan: the robust sigma (1.4826 x MAD) of the residuals from a
    running median of `window` points above `max_noise` A (a weak lamp, a dirty cuvette, a
    too fast scan)."""
    scan = _scan(result)
    if scan is None or len(scan) < window + 2:
        return None
    sigma = robust_sigma(_residuals(scan, window))
    if sigma <= max_noise or not math.isfinite(sigma):
        return None
    return Finding(
        code="spectrum_noise",
        severity=Severity(severity),
        message=(
            f"The spectrum of {result.sample_id} is noisy: {_num(round(sigma, 6))} A "
            f"(robust sigma), above {_num(max_noise)} A. Check the lamp hours and the "
            "cuvette, and re-scan more slowly."
        ),
        value=round(sigma, 6),
        limit=max_noise,
        field="spectrum.absorbance",
    )


def _line_at(xs: Sequence[float], ys: Sequence[float], at: float) -> float:
    """A least-squares line through (xs, ys), evaluated at `at`."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = 0.0 if sxx == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my + slope * (at - mx)


@rule
def spectrum_lamp_step(
    result: ResultMessage,
    *,
    changeover_nm: float = 340.0,
    max_step: float = 0.005,
    points: int = 4,
    severity: SeverityName = "suspect",
) -> Finding | None:
    """A step at the lamp changeover (deuterium <-> tungsten-halogen, user-set, commonly
    300-350 nm): lines through the `points` points on each side of `changeover_nm`,
    extrapolated to it, differ by more than `max_step` A. Not applied when the scan does not
    have that many points on both sides."""
    scan = _scan(result)
    if scan is None:
        return None
    below = [(x, y) for x, y in zip(scan.nm, scan.a, strict=True) if x < changeover_nm]
    above = [(x, y) for x, y in zip(scan.nm, scan.a, strict=True) if x > changeover_nm]
    if len(below) < points or len(above) < points:
        return None
    left, right = below[-points:], above[:points]
    step = _line_at([p[0] for p in right], [p[1] for p in right], changeover_nm) - _line_at(
        [p[0] for p in left], [p[1] for p in left], changeover_nm
    )
    if abs(step) <= max_step or not math.isfinite(step):
        return None
    return Finding(
        code="spectrum_lamp_step",
        severity=Severity(severity),
        message=(
            f"The spectrum of {result.sample_id} steps by {_num(round(step, 6))} A at the "
            f"lamp changeover ({_num(changeover_nm)} nm), more than {_num(max_step)} A: "
            "let the lamps warm up, re-run the baseline, and re-scan."
        ),
        value=round(step, 6),
        limit=max_step,
        field="spectrum.absorbance",
    )


@rule
def spectrum_baseline(
    result: ResultMessage,
    *,
    low_nm: float = 700.0,
    high_nm: float = 800.0,
    limit: float = 0.01,
    severity: SeverityName = "suspect",
) -> Finding | None:
    """Baseline offset: the mean absorbance over [low_nm, high_nm] (where clear water absorbs
    nothing) further than `limit` A from zero. Not applied when the scan has no point there."""
    scan = _scan(result)
    if scan is None:
        return None
    values = [y for x, y in zip(scan.nm, scan.a, strict=True) if low_nm <= x <= high_nm]
    if not values:
        return None
    mean = math.fsum(values) / len(values)  # fsum: 101 x 0.01 averages to exactly 0.01
    if abs(mean) <= limit or not math.isfinite(mean):
        return None
    return Finding(
        code="spectrum_baseline",
        severity=Severity(severity),
        message=(
            f"The baseline of {result.sample_id}'s spectrum is {_num(round(mean, 6))} A over "
            f"{_num(low_nm)}-{_num(high_nm)} nm, beyond +-{_num(limit)} A: re-run the baseline "
            "(blank) and check for turbidity or a scratched cuvette."
        ),
        value=round(mean, 6),
        limit=limit,
        field="spectrum.absorbance",
    )


@rule
def spectrum_flat_top(
    result: ResultMessage,
    *,
    min_points: int = 5,
    tolerance: float = 0.0,
    min_absorbance: float = 1.5,
    severity: SeverityName = "suspect",
) -> Finding | None:
    """A flat top (saturation below the ceiling): at least `min_points` consecutive points
    within `tolerance` A of each other, at or above `min_absorbance` A."""
    scan = _scan(result)
    if scan is None:
        return None
    best: tuple[int, int] = (0, 0)
    start = 0
    a = scan.a
    for i in range(1, len(a) + 1):
        if i == len(a) or abs(a[i] - a[start]) > tolerance or a[i] < min_absorbance:
            if a[start] >= min_absorbance and i - start > best[1] - best[0]:
                best = (start, i)
            start = i
    if best[1] - best[0] < min_points:
        return None
    lo, hi = scan.nm[best[0]], scan.nm[best[1] - 1]
    return Finding(
        code="spectrum_flat_top",
        severity=Severity(severity),
        message=(
            f"The spectrum of {result.sample_id} is flat at {_num(a[best[0]])} A over "
            f"{best[1] - best[0]} points ({_num(lo)}-{_num(hi)} nm): the detector is "
            "saturated there; dilute the sample or use a shorter path length."
        ),
        value=best[1] - best[0],
        limit=min_points,
        field="spectrum.absorbance",
    )


@rule
def spectrum_resolution(
    result: ResultMessage,
    *,
    min_points: int = 10,
    max_step_nm: float = 5.0,
    severity: SeverityName = "fail",
) -> Finding | None:
    """Too few points (an aborted scan) or too coarse a step for the method."""
    scan = _scan(result)
    if scan is None:
        return None
    if len(scan) < min_points:
        problem = f"has {len(scan)} point(s), fewer than the method's {min_points}"
        value: float = len(scan)
        limit: float = min_points
    else:
        steps = [b - a for a, b in zip(scan.nm, scan.nm[1:], strict=False)]
        widest = max(steps, default=0.0)
        if widest <= max_step_nm:
            return None
        at = scan.nm[steps.index(widest)]
        problem = f"has a {_num(widest)} nm step at {_num(at)} nm, coarser than {_num(max_step_nm)}"
        value, limit = widest, max_step_nm
    return Finding(
        code="spectrum_resolution",
        severity=Severity(severity),
        message=(
            f"The spectrum of {result.sample_id} {problem}: re-scan with the method's settings."
        ),
        value=value,
        limit=limit,
        field="spectrum.wavelengthNm",
    )


@rule
def spectrum_covers_wavelength(
    result: ResultMessage,
    *,
    wavelength_nm: float | None = None,
    severity: SeverityName = "fail",
) -> Finding | None:
    """The analytical wavelength (`wavelength_nm`, else the result's `wavelengthNm`) lies
    outside the scan, so the reported absorbance cannot come from it."""
    spectrum = result.spectrum
    target = wavelength_nm if wavelength_nm is not None else result.wavelength_nm
    if spectrum is None or target is None:
        return None
    low, high = min(spectrum.wavelength_nm), max(spectrum.wavelength_nm)
    if low <= target <= high:
        return None
    return Finding(
        code="spectrum_covers_wavelength",
        severity=Severity(severity),
        message=(
            f"The spectrum of {result.sample_id} covers {_num(low)}-{_num(high)} nm, not the "
            f"analytical wavelength {_num(target)} nm: re-scan over the method's range."
        ),
        value=target,
        limit=f"[{_num(low)}, {_num(high)}]",
        field="spectrum.wavelengthNm",
    )


@rule
def spectrum_reading_mismatch(
    result: ResultMessage,
    *,
    tolerance: float = 0.005,
    relative: float = 0.02,
    severity: SeverityName = "fail",
) -> Finding | None:
    """The reported absorbance disagrees with the result's own scan at its `wavelengthNm`
    (interpolated): by more than `tolerance` A and more than `relative` of the scan's value.
    A mix-up of cuvettes, files or wavelengths; not applied when the scan does not reach
    the wavelength (`spectrum_covers_wavelength` says so)."""
    scan = _scan(result)
    if scan is None or result.wavelength_nm is None:
        return None
    expected = scan.at(result.wavelength_nm)
    if expected is None:
        return None
    gap = abs(result.absorbance - expected)
    if gap <= tolerance or gap <= relative * abs(expected) or not math.isfinite(gap):
        return None
    return Finding(
        code="spectrum_reading_mismatch",
        severity=Severity(severity),
        message=(
            f"The absorbance reported for {result.sample_id} ({_num(result.absorbance)}) is not "
            f"what its own scan reads at {_num(result.wavelength_nm)} nm "
            f"({_num(round(expected, 6))}): check that the reading, the scan and the "
            "wavelength belong to the same cuvette, and re-measure."
        ),
        value=result.absorbance,
        limit=round(expected, 6),
        field="absorbance",
    )


@rule
def suva254_above(
    result: ResultMessage, *, limit: float = 4.0, severity: SeverityName = "suspect"
) -> Finding | None:
    """SUVA254 (L/mg/m) above `limit`: mostly aromatic, hydrophobic organic carbon (SUVA > 4;
    Edzwald & Tobiason 1999), or a DOC/UV254 mismatch worth checking. Needs `docMgL`."""
    indices = indices_of(result)
    suva = None if indices is None else indices["suva254"]
    if suva is None or suva <= limit:
        return None
    return Finding(
        code="suva254_above",
        severity=Severity(severity),
        message=(
            f"SUVA254 of {result.sample_id} is {_num(round(suva, 4))} L/mg/m, above "
            f"{_num(limit)}: check the DOC result and the UV254 reading (same sample, same "
            "filtration) before reporting."
        ),
        value=round(suva, 6),
        limit=limit,
    )


@rule
def nitrate_screening_above(
    result: ResultMessage, *, limit: float, severity: SeverityName = "fail"
) -> Finding | None:
    """The nitrate screening absorbance A220 - 2 x A275 (SM 4500-NO3 B) above `limit`, the
    value of the method's highest calibration standard: dilute and re-measure."""
    indices = indices_of(result)
    value = None if indices is None else indices["nitrateScreening"]
    if value is None or value <= limit:
        return None
    return Finding(
        code="nitrate_screening_above",
        severity=Severity(severity),
        message=(
            f"The nitrate screening absorbance (A220 - 2 x A275) of {result.sample_id} is "
            f"{_num(round(value, 6))}, above the calibrated range (<= {_num(limit)}): dilute "
            "and re-measure."
        ),
        value=round(value, 6),
        limit=limit,
    )
