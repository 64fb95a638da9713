"""The built-in rules and the default method, at and around every limit."""

from __future__ import annotations

import pytest

from uvqc.core.engine import apply_method, judge, judge_message
from uvqc.core.methods import DEFAULT_METHOD, MethodBook, method_from_mapping
from uvqc.core.models import ResultMessage
from uvqc.core.rules import (
    REGISTRY,
    dilution_required,
    negative_absorbance,
    outside_calibration_range,
    over_range,
    spectrum_axis,
    spectrum_saturation,
)
from uvqc.core.verdicts import Severity, Verdict


def result(a: float, sample_id: str = "7030d623", **fields: object) -> ResultMessage:
    return ResultMessage.model_validate({"sampleId": sample_id, "absorbance": a, **fields})


def codes(a: float) -> list[str]:
    return [f.code for f in apply_method(DEFAULT_METHOD, result(a))]


@pytest.mark.parametrize(
    ("a", "expected"),
    [
        (-1.5, ["outside_calibration_range"]),
        (-0.001, ["outside_calibration_range"]),
        (0.0, ["outside_calibration_range"]),
        (-0.0, ["outside_calibration_range"]),
        (1e-9, []),
        (0.001, []),
        (0.45, []),
        (0.669, []),
        (0.6699999, []),
        (0.67, ["outside_calibration_range"]),
        (0.6700001, ["outside_calibration_range"]),
        (0.99, ["outside_calibration_range"]),
        (0.9999999, ["outside_calibration_range"]),
        (1.0, ["dilution_required"]),
        (1.0000001, ["dilution_required"]),
        (2.5, ["dilution_required"]),
        (10.0, ["dilution_required"]),
    ],
)
def test_the_default_method_raises_at_most_one_finding_at_and_around_its_limits(
    a: float, expected: list[str]
) -> None:
    assert codes(a) == expected


def test_dilution_message_is_the_original_text() -> None:
    (finding,) = apply_method(DEFAULT_METHOD, result(1.0, "7030d623-aa"))
    assert finding.message == "Absorbance for 7030d623-aa exceeds 1. Consider diluting the sample."
    assert finding.severity is Severity.FAIL
    assert (finding.value, finding.limit) == (1.0, 1.0)


@pytest.mark.parametrize(
    ("a", "shown"), [(0.67, "0.67"), (0.0, "0"), (-0.004, "-0.004"), (0.93, "0.93")]
)
def test_calibration_message_is_the_original_text_with_the_measured_value(
    a: float, shown: str
) -> None:
    (finding,) = apply_method(DEFAULT_METHOD, result(a, "S-9"))
    assert finding.message == (
        f"Absorbance for S-9 with a measured value of {shown} "
        "does not fall within the calibration curve."
    )
    assert finding.code == "outside_calibration_range"
    assert finding.severity is Severity.SUSPECT
    assert finding.value == a
    assert finding.limit == "(0, 0.67)"


def test_dilution_takes_precedence_over_the_calibration_range() -> None:
    # Both rules fire on their own at 1.5; the default method reports only the dilution.
    r = result(1.5)
    assert outside_calibration_range(r) is not None
    assert dilution_required(r) is not None
    (finding,) = apply_method(DEFAULT_METHOD, r)
    assert finding.code == "dilution_required"


def test_without_suppress_both_findings_would_be_reported() -> None:
    method = method_from_mapping(
        {"name": "both", "rules": {"dilution_required": {}, "outside_calibration_range": {}}}
    )
    assert [f.code for f in apply_method(method, result(1.5))] == [
        "dilution_required",
        "outside_calibration_range",
    ]


def test_a_finding_that_fires_alone_is_not_suppressed_by_a_rule_that_did_not_fire() -> None:
    assert [f.code for f in apply_method(DEFAULT_METHOD, result(0.8))] == [
        "outside_calibration_range"
    ]


def test_the_default_method_uses_the_original_limits_for_samples() -> None:
    params = {
        call.name: dict(call.params) for call in DEFAULT_METHOD.rules if "sample" in call.applies_to
    }
    assert params == {
        "dilution_required": {"limit": 1.0},
        "outside_calibration_range": {"low": 0.0, "high": 0.67},
    }


def test_a_configured_limit_is_shown_in_the_dilution_message() -> None:
    finding = dilution_required(result(0.85, "X"), limit=0.8, severity="suspect")
    assert finding is not None
    assert finding.message == "Absorbance for X exceeds 0.8. Consider diluting the sample."
    assert finding.severity is Severity.SUSPECT
    assert dilution_required(result(0.79), limit=0.8) is None


@pytest.mark.parametrize(("low", "high", "a", "fires"), [
    (0.01, 0.5, 0.01, True), (0.01, 0.5, 0.0101, False), (0.01, 0.5, 0.5, True),
    (0.01, 0.5, 0.4999, False), (-0.1, 0.5, -0.05, False),
])  # fmt: skip
def test_the_calibration_range_is_open_at_both_ends(
    low: float, high: float, a: float, fires: bool
) -> None:
    assert (outside_calibration_range(result(a), low=low, high=high) is not None) is fires


@pytest.mark.parametrize(
    ("a", "fires"), [(-0.0051, True), (-0.005, False), (-0.004, False), (0.0, False)]
)
def test_negative_absorbance_fires_only_beyond_the_baseline_noise(a: float, fires: bool) -> None:
    finding = negative_absorbance(result(a, "B-1"))
    assert (finding is not None) is fires
    if finding is not None:
        assert finding.code == "negative_absorbance"
        assert "B-1" in finding.message
        assert "-0.0051" in finding.message
        assert finding.limit == -0.005


@pytest.mark.parametrize(
    ("a", "fires"), [(2.999, False), (3.0, True), (4.2, True), (10.0, True), (9.99, True)]
)
def test_over_range_fires_at_the_ceiling(a: float, fires: bool) -> None:
    assert (over_range(result(a)) is not None) is fires


def test_over_range_recognises_the_marker_below_a_raised_ceiling() -> None:
    finding = over_range(result(10.0), ceiling=12.0)
    assert finding is not None
    assert finding.severity is Severity.FAIL
    assert over_range(result(9.0), ceiling=12.0) is None


def spectrum(nm: list[float], a: list[float]) -> dict[str, list[float]]:
    return {"wavelengthNm": nm, "absorbance": a}


def test_spectrum_rules_ignore_results_without_a_spectrum() -> None:
    assert spectrum_axis(result(0.3)) is None
    assert spectrum_saturation(result(0.3)) is None


@pytest.mark.parametrize(
    ("nm", "fires"),
    [
        ([200, 210, 220], False),
        ([300, 290, 280], False),
        ([200], False),
        ([200, 210, 210], True),
        ([200, 220, 210], True),
    ],
)
def test_the_spectrum_axis_must_be_strictly_monotonic(nm: list[float], fires: bool) -> None:
    r = result(0.3, spectrum=spectrum(nm, [0.1] * len(nm)))
    finding = spectrum_axis(r)
    assert (finding is not None) is fires
    if finding is not None:
        assert finding.field == "spectrum.wavelengthNm"
        assert "not strictly monotonic" in finding.message


def test_the_spectrum_axis_must_cover_the_required_range() -> None:
    r = result(0.3, spectrum=spectrum([210, 220, 290], [0.1, 0.1, 0.1]))
    low = spectrum_axis(r, min_nm=200)
    high = spectrum_axis(r, max_nm=300)
    assert low is not None and "starts at 210 nm, above the required 200 nm" in low.message
    assert high is not None and "ends at 290 nm, below the required 300 nm" in high.message
    assert spectrum_axis(r, min_nm=210, max_nm=290) is None


def test_spectrum_saturation_counts_the_saturated_points() -> None:
    r = result(0.3, "S-2", spectrum=spectrum([200, 210, 220, 230], [3.5, 3.0, 10.0, 0.2]))
    finding = spectrum_saturation(r)
    assert finding is not None
    assert finding.value == 3
    assert finding.message == (
        "The spectrum of S-2 is saturated at 3 point(s) from 200 to 220 nm (absorbance >= 3)."
    )
    assert spectrum_saturation(result(0.3, spectrum=spectrum([200], [2.99]))) is None


def test_every_registered_rule_is_keyword_configurable_and_documented() -> None:
    assert set(REGISTRY) >= {
        "dilution_required",
        "outside_calibration_range",
        "negative_absorbance",
        "over_range",
        "spectrum_axis",
        "spectrum_saturation",
    }
    for name, func in REGISTRY.items():
        assert func.__name__ == name
        assert func.__doc__


def test_judge_names_the_method_it_used(book: MethodBook) -> None:
    judgement, message = judge(b'{"sampleId": "A", "absorbanceResult": "1.2"}', book)
    assert judgement.verdict is Verdict.FLAG
    assert judgement.method == "default"
    assert message is not None and message.absorbance == 1.2


def test_a_message_selects_its_method_by_name() -> None:
    strict = method_from_mapping(
        {"name": "strict", "rules": {"outside_calibration_range": {"high": 0.5}}}
    )
    book = MethodBook([strict], default="default")
    assert judge_message(result(0.6), book).verdict is Verdict.PASS
    chosen = judge_message(result(0.6, method="strict"), book)
    assert chosen.verdict is Verdict.FLAG
    assert chosen.method == "strict"


def test_an_unknown_method_at_check_time_is_a_reject_that_names_it(book: MethodBook) -> None:
    judgement = judge_message(result(0.3, "S-7", method="nitrate-uv"), book)
    assert judgement.verdict is Verdict.REJECT
    assert judgement.sample_id == "S-7"
    (finding,) = judgement.findings
    assert finding.code == "invalid_message"
    assert finding.field == "method"
    assert "unknown QC method 'nitrate-uv'" in finding.message
    assert "known: default" in finding.message
