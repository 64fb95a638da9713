"""QC rules: pure functions over one validated result, in an explicit registry.

A rule takes the result and keyword-only parameters and returns a Finding or None. A method
file names rules and passes exactly their keyword arguments (the ioos_qc way), so the
signature here *is* the configuration schema: `uvqc.core.methods` validates against it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Literal, TypeAlias

from uvqc.core.models import ResultMessage
from uvqc.core.verdicts import Finding, Severity

Rule: TypeAlias = Callable[..., Finding | None]
SeverityName = Literal["suspect", "fail"]

REGISTRY: dict[str, Rule] = {}


def rule(func: Rule) -> Rule:
    """Register a rule under its function name (the name method files use)."""
    REGISTRY[func.__name__] = func
    return func


def _num(value: float) -> str:
    """Shortest text that reads back as the same number (0.45, 1, 1e-05)."""
    return f"{value:g}" if value == int(value) and abs(value) < 1e15 else repr(value)


@rule
def dilution_required(
    result: ResultMessage, *, limit: float = 1.0, severity: SeverityName = "fail"
) -> Finding | None:
    """Absorbance at or above `limit`: too concentrated to read; dilute and re-measure."""
    if result.absorbance >= limit:
        return Finding(
            code="dilution_required",
            severity=Severity(severity),
            message=(
                f"Absorbance for {result.sample_id} exceeds {_num(limit)}. "
                "Consider diluting the sample."
            ),
            value=result.absorbance,
            limit=limit,
        )
    return None


@rule
def outside_calibration_range(
    result: ResultMessage,
    *,
    low: float = 0.0,
    high: float = 0.67,
    severity: SeverityName = "suspect",
) -> Finding | None:
    """Absorbance not strictly inside (low, high): the calibration curve does not cover it."""
    a = result.absorbance
    if not low < a < high:
        return Finding(
            code="outside_calibration_range",
            severity=Severity(severity),
            message=(
                f"Absorbance for {result.sample_id} with a measured value of {_num(a)} "
                "does not fall within the calibration curve."
            ),
            value=a,
            limit=f"({_num(low)}, {_num(high)})",
        )
    return None


@rule
def negative_absorbance(
    result: ResultMessage, *, noise: float = 0.005, severity: SeverityName = "suspect"
) -> Finding | None:
    """Absorbance below -noise: a blank/reference mismatch, never clipped to zero."""
    if result.absorbance < -noise:
        return Finding(
            code="negative_absorbance",
            severity=Severity(severity),
            message=(
                f"Absorbance for {result.sample_id} is {_num(result.absorbance)}, below the "
                f"baseline noise of -{_num(noise)}: check the blank and reference cuvette."
            ),
            value=result.absorbance,
            limit=-noise,
        )
    return None


@rule
def over_range(
    result: ResultMessage,
    *,
    ceiling: float = 3.0,
    marker: float = 10.0,
    severity: SeverityName = "fail",
) -> Finding | None:
    """At or above the photometric ceiling (stray light) or equal to the over-range marker."""
    a = result.absorbance
    if a >= ceiling or a == marker:
        return Finding(
            code="over_range",
            severity=Severity(severity),
            message=(
                f"Absorbance for {result.sample_id} is {_num(a)}, at or above the photometric "
                f"ceiling of {_num(ceiling)} (or the instrument's over-range marker): "
                "the reading is not linear; dilute and re-measure."
            ),
            value=a,
            limit=ceiling,
        )
    return None


@rule
def spectrum_axis(
    result: ResultMessage,
    *,
    min_nm: float | None = None,
    max_nm: float | None = None,
    severity: SeverityName = "fail",
) -> Finding | None:
    """A sent spectrum's wavelength axis must be monotonic, without duplicates, and cover
    [min_nm, max_nm] when given."""
    spectrum = result.spectrum
    if spectrum is None:
        return None
    nm = spectrum.wavelength_nm
    steps = [b - a for a, b in itertools.pairwise(nm)]
    problem: str | None = None
    if steps and not (all(s > 0 for s in steps) or all(s < 0 for s in steps)):
        problem = "is not strictly monotonic (repeated or out-of-order wavelengths)"
    elif min_nm is not None and min(nm) > min_nm:
        problem = f"starts at {_num(min(nm))} nm, above the required {_num(min_nm)} nm"
    elif max_nm is not None and max(nm) < max_nm:
        problem = f"ends at {_num(max(nm))} nm, below the required {_num(max_nm)} nm"
    if problem is None:
        return None
    return Finding(
        code="spectrum_axis",
        severity=Severity(severity),
        message=f"The spectrum of {result.sample_id}: the wavelength axis {problem}.",
        field="spectrum.wavelengthNm",
    )


@rule
def spectrum_saturation(
    result: ResultMessage,
    *,
    ceiling: float = 3.0,
    marker: float = 10.0,
    severity: SeverityName = "suspect",
) -> Finding | None:
    """Points of a sent spectrum at or above the photometric ceiling, or at the marker."""
    spectrum = result.spectrum
    if spectrum is None:
        return None
    saturated = [
        w
        for w, a in zip(spectrum.wavelength_nm, spectrum.absorbance, strict=True)
        if a >= ceiling or a == marker
    ]
    if not saturated:
        return None
    return Finding(
        code="spectrum_saturation",
        severity=Severity(severity),
        message=(
            f"The spectrum of {result.sample_id} is saturated at {len(saturated)} point(s) "
            f"from {_num(min(saturated))} to {_num(max(saturated))} nm "
            f"(absorbance >= {_num(ceiling)})."
        ),
        value=len(saturated),
        limit=ceiling,
        field="spectrum.absorbance",
    )


# Scan-level rules live in their own package and register themselves here on import.
from uvqc.spectra import quality as _spectrum_rules  # noqa: E402, F401
