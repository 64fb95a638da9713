"""The Westgard multirule at and around each rule's limit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uvqc.charts.westgard import ALL_RULES, Limits, Point, establish, evaluate

LIMITS = Limits(100.0, 2.0)


def series(*zs: float, runs: list[str] | None = None) -> list[Point]:
    names = runs or [f"B{i}" for i in range(len(zs))]
    return [Point(100.0 + 2.0 * z, names[i]) for i, z in enumerate(zs)]


def rules(points: list[Point], **kw: object) -> list[tuple[str, tuple[int, ...]]]:
    return [(v.rule, v.points) for v in evaluate(points, LIMITS, **kw)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("z", "expected"),
    [
        (2.0, []),
        (2.01, ["1-2s"]),
        (-2.5, ["1-2s"]),
        (3.0, ["1-2s"]),
        (3.01, ["1-3s"]),
        (-4, ["1-3s"]),
    ],
)
def test_one_point_beyond_2_sd_warns_and_beyond_3_sd_rejects(z: float, expected: list[str]) -> None:
    assert [r for r, _ in rules(series(z))] == expected


def test_2_2s_needs_two_consecutive_points_beyond_the_same_limit() -> None:
    assert ("2-2s", (0, 1)) in rules(series(2.1, 2.2))
    assert not any(r == "2-2s" for r, _ in rules(series(2.1, -2.2)))
    assert not any(r == "2-2s" for r, _ in rules(series(2.1, 1.9)))


def test_r_4s_is_within_one_run_only() -> None:
    same = rules(series(2.1, -2.1, runs=["B1", "B1"]))
    assert ("R-4s", (0, 1)) in same
    across = rules(series(2.1, -2.1, runs=["B1", "B2"]))
    assert not any(r == "R-4s" for r, _ in across)


def test_4_1s_and_10x_count_consecutive_points_on_one_side() -> None:
    assert ("4-1s", (0, 1, 2, 3)) in rules(series(1.1, 1.5, 1.2, 1.01))
    assert not any(r == "4-1s" for r, _ in rules(series(1.1, 1.5, 1.0, 1.2)))
    ten = series(*[0.3] * 10)
    assert ("10x", tuple(range(10))) in rules(ten)
    assert not any(r == "10x" for r, _ in rules(series(*[0.3] * 9, -0.1)))


def test_only_violations_involving_new_points_are_reported() -> None:
    points = series(3.5, 0.1, 0.2)
    assert rules(points, new=[2]) == []
    assert rules(points, new=[0]) == [("1-3s", (0,))]


def test_a_method_chooses_its_rule_set() -> None:
    assert rules(series(2.5), rules=["1-3s"]) == []
    with pytest.raises(ValueError, match="unknown Westgard rule"):
        rules(series(1), rules=["13s"])


def test_limits_are_established_from_the_first_20_points_without_outliers() -> None:
    values = [100.0 + (i % 5 - 2) for i in range(19)]
    assert establish(values) is None
    limits = establish([*values, 160.0, 500.0])
    assert limits is not None and limits.source == "established" and limits.points == 20
    assert limits.mean == pytest.approx(sum(values) / 19)  # 160 was beyond 3 SD: dropped
    assert establish([5.0] * 20) is None  # no spread, no limits


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=-8, max_value=8), min_size=1, max_size=40))
def test_every_violation_names_real_points_and_a_known_rule(zs: list[float]) -> None:
    for v in evaluate(series(*zs), LIMITS):
        assert v.rule in ALL_RULES
        assert all(0 <= i < len(zs) for i in v.points)
