"""Issue 9 case 7: each sampleType gets the rules that make sense for it, in the built-in
method and in method files (`applies_to`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from uvqc.core.engine import apply_method, judge_message
from uvqc.core.methods import DEFAULT_METHOD, MethodBook, load_method, method_from_mapping
from uvqc.core.models import ResultMessage, SampleType
from uvqc.core.rules import REGISTRY, SAMPLE_LIKE, spec_of
from uvqc.core.verdicts import Verdict
from uvqc.errors import MethodError


def result(a: float, kind: str, sample_id: str = "X-1") -> ResultMessage:
    return ResultMessage.model_validate(
        {"sampleId": sample_id, "absorbance": a, "sampleType": kind}
    )


def codes(a: float, kind: str) -> list[str]:
    return [f.code for f in apply_method(DEFAULT_METHOD, result(a, kind))]


@pytest.mark.parametrize("a", [0.0, -0.0, -0.001, 0.001, 0.0099, -0.0099, 0.01, -0.01])
def test_a_blank_near_zero_passes_the_default_method(a: float) -> None:
    # observed: a blank reading 0.000 or -0.001 was e-mailed "outside the calibration range"
    assert codes(a, "blank") == []


@pytest.mark.parametrize("a", [0.0101, -0.02, 0.3, 1.5])
def test_a_blank_beyond_the_blank_limit_is_flagged_as_a_blank(a: float) -> None:
    (finding,) = apply_method(DEFAULT_METHOD, result(a, "blank", "BLK-1"))
    assert finding.code == "blank_limit"
    assert "Blank BLK-1 reads" in finding.message
    assert "calibration curve" not in finding.message


@pytest.mark.parametrize("a", [0.8, 0.95, 0.001])
@pytest.mark.parametrize("kind", ["calibration_standard", "check_standard"])
def test_a_standard_is_not_judged_against_the_sample_calibration_range(a: float, kind: str) -> None:
    # observed: a calibration standard was judged like a sample
    assert codes(a, kind) == []


@pytest.mark.parametrize("kind", ["calibration_standard", "check_standard"])
def test_a_standard_that_no_true_value_can_explain_is_still_flagged(kind: str) -> None:
    assert codes(3.5, kind) == ["over_range"]
    assert codes(-0.2, kind) == ["negative_absorbance"]


@given(a=st.floats(-5, 12), kind=st.sampled_from(sorted(t.value for t in SAMPLE_LIKE)))
def test_samples_duplicates_and_spikes_keep_the_original_two_rules(a: float, kind: str) -> None:
    expected = [f.code for f in apply_method(DEFAULT_METHOD, result(a, "sample"))]
    assert codes(a, kind) == expected
    if a >= 1.0:
        assert expected == ["dilution_required"]
    elif not 0 < a < 0.67:
        assert expected == ["outside_calibration_range"]
    else:
        assert expected == []


def test_every_rule_declares_the_sample_types_it_judges() -> None:
    for name in REGISTRY:
        assert spec_of(name).applies_to <= frozenset(SampleType)
        assert spec_of(name).applies_to
    assert spec_of("outside_calibration_range").applies_to == SAMPLE_LIKE
    assert spec_of("blank_limit").applies_to == {SampleType.BLANK}


TOML = """
name = "typed"
[rules.outside_calibration_range]
low = 0.01
high = 0.5
[rules.negative_absorbance]
applies_to = ["sample", "blank"]
[rules.blank_limit]
limit = 0.005
"""


def test_a_method_file_sets_the_sample_types_of_a_rule(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(TOML, encoding="utf-8")
    method = load_method(path)
    applies = {c.name: c.applies_to for c in method.rules}
    assert applies["negative_absorbance"] == {"sample", "blank"}
    assert applies["outside_calibration_range"] == {"sample", "duplicate", "spike"}
    book = MethodBook([method])
    blank = judge_message(result(-0.002, "blank"), book)
    assert blank.verdict is Verdict.PASS
    blank = judge_message(result(-0.008, "blank"), book)
    assert [f.code for f in blank.findings] == ["negative_absorbance", "blank_limit"]
    standard = judge_message(result(-0.008, "check_standard"), book)
    assert standard.verdict is Verdict.PASS


@pytest.mark.parametrize("value", [[], ["sample", "blanks"], "sample", [1], None])
def test_applies_to_must_be_a_non_empty_list_of_sample_types(value: object) -> None:
    data = {"name": "m", "rules": {"negative_absorbance": {"applies_to": value}}}
    with pytest.raises(MethodError, match="must be a non-empty list of sample types"):
        method_from_mapping(data, source="m.toml")
