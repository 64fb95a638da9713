"""QC rules: pure functions over one validated result, in an explicit registry.

A rule takes the result and keyword-only parameters and returns a Finding or None. A method
file names rules and passes exactly their keyword arguments (the ioos_qc way), so the
signature here *is* the configuration schema: `uvqc.core.methods` validates against it,
including the constraints in each parameter's `Annotated` metadata (finite, > 0, ...).

What the signature cannot say is declared with `@rule(...)`: the sample types a rule judges
by default (`applies_to`: a blank near zero is the expected value, not "outside the
calibration range") and pairs of parameters that must be ordered (`low` < `high`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal, TypeAlias, overload

from annotated_types import Ge, Gt
from pydantic import AllowInfNan

from uvqc.core.models import ResultMessage, SampleType
from uvqc.core.verdicts import Finding, Severity

Rule: TypeAlias = Callable[..., Finding | None]
SeverityName = Literal["suspect", "fail"]

# Parameter types: the metadata is what `uvqc.core.methods` enforces when a file is loaded.
# NaN and infinity are never a limit: `limit = nan` made every comparison false (all pass).
Absorbance = Annotated[float, AllowInfNan(False)]
PositiveAbsorbance = Annotated[float, AllowInfNan(False), Gt(0)]
NonNegativeAbsorbance = Annotated[float, AllowInfNan(False), Ge(0)]
Wavelength = Annotated[float, AllowInfNan(False), Gt(0)]

EVERY_TYPE: frozenset[SampleType] = frozenset(SampleType)
# Results that carry a sample's concentration: judged against the calibration curve.
SAMPLE_LIKE: frozenset[SampleType] = frozenset(
    {SampleType.SAMPLE, SampleType.DUPLICATE, SampleType.SPIKE}
)
BLANKS: frozenset[SampleType] = frozenset({SampleType.BLANK})
STANDARDS: frozenset[SampleType] = frozenset(
    {SampleType.CALIBRATION_STANDARD, SampleType.CHECK_STANDARD}
)


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What a rule declares beyond its signature."""

    applies_to: frozenset[SampleType] = EVERY_TYPE  # sample types judged when not configured
    ordered: tuple[tuple[str, str], ...] = ()  # (a, b): parameter a must be below b


REGISTRY: dict[str, Rule] = {}
SPECS: dict[str, RuleSpec] = {}


def spec_of(name: str) -> RuleSpec:
    """A rule's declarations; a rule put in REGISTRY directly gets the defaults."""
    return SPECS.get(name, RuleSpec())


@overload
def rule(func: Rule, /) -> Rule: ...
@overload
def rule(
    *,
    applies_to: frozenset[SampleType] = EVERY_TYPE,
    ordered: tuple[tuple[str, str], ...] = (),
) -> Callable[[Rule], Rule]: ...
def rule(
    func: Rule | None = None,
    /,
    *,
    applies_to: frozenset[SampleType] = EVERY_TYPE,
    ordered: tuple[tuple[str, str], ...] = (),
) -> Rule | Callable[[Rule], Rule]:
    """Register a rule under its function name (the name method files use), with the sample
    types it judges by default and its ordered parameter pairs."""

    def register(f: Rule) -> Rule:
        REGISTRY[f.__name__] = f
        SPECS[f.__name__] = RuleSpec(applies_to, ordered)
        return f

    return register(func) if func is not None else register


def _num(value: float) -> str:
    """Shortest text that reads back as the same number (0.45, 1, 1e-05)."""
    return f"{value:g}" if value == int(value) and abs(value) < 1e15 else repr(value)


@rule(applies_to=SAMPLE_LIKE)
def dilution_required(
    result: ResultMessage, *, limit: PositiveAbsorbance = 1.0, severity: SeverityName = "fail"
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


@rule(applies_to=SAMPLE_LIKE, ordered=(("low", "high"),))
def outside_calibration_range(
    result: ResultMessage,
    *,
    low: Absorbance = 0.0,
    high: Absorbance = 0.67,
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
    result: ResultMessage,
    *,
    noise: NonNegativeAbsorbance = 0.005,
    severity: SeverityName = "suspect",
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
    ceiling: PositiveAbsorbance = 3.0,
    marker: Absorbance = 10.0,
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


@rule(ordered=(("min_nm", "max_nm"),))
def spectrum_axis(
    result: ResultMessage,
    *,
    min_nm: Wavelength | None = None,
    max_nm: Wavelength | None = None,
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
    ceiling: PositiveAbsorbance = 3.0,
    marker: Absorbance = 10.0,
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


@rule(applies_to=BLANKS)
def blank_limit(
    result: ResultMessage, *, limit: PositiveAbsorbance = 0.01, severity: SeverityName = "fail"
) -> Finding | None:
    """A blank must read near zero: |A| > `limit` means contamination or a blank/reference
    mismatch (SM 2020 B: a calibration blank at most half the reporting level)."""
    a = result.absorbance
    if abs(a) > limit:
        return Finding(
            code="blank_limit",
            severity=Severity(severity),
            message=(
                f"Blank {result.sample_id} reads {_num(a)}, beyond the blank limit of "
                f"+/-{_num(limit)}: check for contamination and the reference cuvette."
            ),
            value=a,
            limit=limit,
        )
    return None


# Scan-level rules live in their own package and register themselves here on import.
from uvqc.spectra import quality as _spectrum_rules  # noqa: E402, F401
