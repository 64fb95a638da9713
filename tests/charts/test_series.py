"""Control chart state: method limits, established-then-frozen limits, the newest run."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from uvqc.charts.config import ControlChartConfig
from uvqc.charts.series import chart_state
from uvqc.charts.westgard import Point


def points(values: list[float], per_run: int = 2) -> list[Point]:
    return [Point(v, f"B{i // per_run:03d}", i % per_run + 1) for i, v in enumerate(values)]


def test_limits_are_established_from_the_first_points_and_then_frozen() -> None:
    base = [100.0 + (i % 5 - 2) * 0.5 for i in range(20)]
    first = chart_state("check_standard_recovery", points(base), ControlChartConfig())
    later = chart_state(
        "check_standard_recovery", points([*base, 130.0, 131.0]), ControlChartConfig()
    )
    assert first.limits == later.limits  # the two wild points did not move them
    assert later.state == "out of control"


def test_a_chart_with_too_few_points_is_establishing() -> None:
    chart = chart_state("blank_concentration", points([0.01] * 5), ControlChartConfig())
    assert chart.limits is None and chart.state == "establishing" and chart.violations == ()


def test_method_limits_win_and_only_the_newest_run_is_judged() -> None:
    config = ControlChartConfig.model_validate(
        {"limits": {"check_standard_recovery": {"mean": 100, "sd": 2}}, "rules": ["1-3s"]}
    )
    series = points([93.0, 100.0, 100.5, 99.0])  # B000 had a 1-3s point
    assert chart_state("check_standard_recovery", series, config, batch_id="B001").state == (
        "in control"
    )
    old = chart_state("check_standard_recovery", series, config, batch_id="B000")
    assert [v.rule for v in old.violations] == ["1-3s"]


def test_a_warning_alone_is_a_warning() -> None:
    config = ControlChartConfig.model_validate({"limits": {"duplicate_rpd": {"mean": 5, "sd": 2}}})
    assert chart_state("duplicate_rpd", points([9.5]), config).state == "warning"


@pytest.mark.parametrize(
    "bad",
    [
        {"rules": ["13s"]},
        {"limits": {"check_standard_recovery": {"mean": 100, "sd": 0}}},
        {"limits": {"check_standard_recovery": {"mean": float("nan"), "sd": 1}}},
        {"limits": {"unknown_series": {"mean": 1, "sd": 1}}},
        {"establish_points": 2},
        {"typo": 1},
    ],
)
def test_a_bad_control_chart_section_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ControlChartConfig.model_validate(bad)


def test_a_shift_is_one_finding_per_rule_not_one_per_sliding_window() -> None:
    """16 points shifted by ~+1.6 SD break 4-1s on 13 windows and 10x on 7: one violation
    (and one run finding) per rule per streak, holding every point involved."""
    from uvqc.charts.findings import chart_findings

    base = [100.0 + (i % 5 - 2) * 0.5 for i in range(20)]  # mean 100, SD ~0.73
    shifted = [101.2 + (i % 2) * 0.05 for i in range(16)]
    pts = [*points(base), *(Point(v, "SHIFT", i + 1, f"CCV-{i}") for i, v in enumerate(shifted))]
    state = chart_state("check_standard_recovery", pts, ControlChartConfig(), batch_id="SHIFT")
    rules = [v.rule for v in state.violations]
    assert sorted(rules) == sorted(set(rules)) and {"4-1s", "10x"} <= set(rules)
    four = next(v for v in state.violations if v.rule == "4-1s")
    assert four.points == tuple(range(four.points[0], 36)) and four.points[0] <= 20  # one streak
    found = chart_findings("SHIFT", [state], where="m, a, i", units="mg/L")
    assert len(found) == len(rules) <= 6


@pytest.mark.parametrize("noise", [0.0, 2.9e-14])
def test_points_that_do_not_vary_establish_no_limits(noise: float) -> None:
    """Recoveries all at 99.77 % (float noise at most): no 3-SD limits of 1e-13 putting
    every later point out of control; the chart says "no spread" until the method file
    gives limits."""
    values = [99.77 + (noise if i % 2 else -noise) for i in range(25)]
    chart = chart_state("check_standard_recovery", points(values), ControlChartConfig())
    assert chart.limits is None and chart.violations == ()
    assert chart.state == "no spread"
