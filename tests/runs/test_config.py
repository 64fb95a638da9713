"""The [run] section of a method file: validated at load time, with messages that name the
key and the reason; with it, [rules] may be empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from uvqc.core.engine import judge
from uvqc.core.methods import Method, MethodBook, load_method, method_from_mapping
from uvqc.errors import MethodError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "methods" / "nitrate-run.toml"
RUN = {"analyte": "nitrate-N", "reporting_level": 0.1, "detection_level": 0.05}


def method(run: object, rules: object = None) -> Method:
    data: dict[str, object] = {"name": "m", "run": run}
    if rules is not None:
        data["rules"] = rules
    return method_from_mapping(data)


def test_the_example_method_loads_with_its_run_section() -> None:
    m = load_method(EXAMPLE)
    assert m.run is not None and m.run.check_standard.recovery == (90, 110)
    assert m.run.blank_max == 0.05 and m.run.calibration.min_r == 0.995


def test_with_a_run_section_rules_may_be_empty_or_absent() -> None:
    assert method(RUN).rules == ()
    assert method(RUN, {}).rules == ()
    with pytest.raises(MethodError, match="`rules` must list at least one rule"):
        method_from_mapping({"name": "m", "rules": {}})


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ({**RUN, "calibraton": {}}, "run.calibraton is not a known key"),
        ({**RUN, "calibration": {"modle": "linear"}}, "run.calibration.modle is not a known key"),
        ({"analyte": "n", "detection_level": 0.05}, "run.reporting_level is required"),
        ({**RUN, "reporting_level": True}, "run.reporting_level Input should be a valid number"),
        ({**RUN, "detection_level": 0.2}, "detection_level 0.2 is above reporting_level 0.1"),
        ({**RUN, "calibration": {"model": "cubic"}}, "run.calibration.model Input should be"),
        ({**RUN, "calibration": {"weighting": "1/x2"}}, "run.calibration.weighting"),
        (
            {**RUN, "calibration": {"model": "quadratic", "min_standards": 2}},
            "too few for a quadratic fit, which needs at least 3",
        ),
        ({**RUN, "check_standard": {"recovery_pct": [110, 90]}}, "low <= high"),
        ({**RUN, "spike": {"recovery_pct": [80]}}, "run.spike.recovery_pct"),
        ({**RUN, "duplicate": {"every": 0}}, "run.duplicate.every"),
        ({**RUN, "blank": {"max": "0.05"}}, "run.blank.max"),
        ("yes", "[run] must be a table"),
    ],
)
def test_a_bad_run_section_fails_to_load_naming_the_key(run: object, message: str) -> None:
    with pytest.raises(MethodError) as info:
        method(run)
    assert message in str(info.value)
    assert str(info.value).startswith("method 'm': ")


def test_a_calibrated_run_does_not_apply_the_fixed_calibration_range() -> None:
    m = method_from_mapping(
        {"name": "m", "run": RUN, "rules": {"outside_calibration_range": {"high": 0.67}}}
    )
    book = MethodBook([m])
    in_run, _ = judge(b'{"sampleId": "A", "absorbance": 0.8, "batchId": "B1"}', book)
    alone, _ = judge(b'{"sampleId": "A", "absorbance": 0.8}', book)
    assert in_run.findings == ()
    assert [f.code for f in alone.findings] == ["outside_calibration_range"]
