"""Control charts across runs (pure): the chart as of a run, only final runs as history,
the drawn window, and violations as run findings."""

from __future__ import annotations

from tests.runs.builder import absorbance, config, passing_run, replace_at, results
from uvqc.report.history import (
    CHART_WINDOW,
    StoredRun,
    all_charts,
    decide,
    run_chart_findings,
    run_charts,
)

RECOVERIES = [[98, 101, 99, 102], [101, 99, 102, 98], [99, 102, 98, 101], [102, 98, 101, 99]]


def run(index: int, recoveries: list[float], status: str = "final"):  # type: ignore[no-untyped-def]
    messages = passing_run()
    for seq, rec in zip((6, 16, 26, 36), recoveries, strict=True):
        messages = replace_at(messages, seq, absorbance=absorbance(2.0 * rec / 100))
    stored = StoredRun(f"R{index:03d}", "nitrate-run", status, f"2026-11-{index % 28 + 1:02d}")
    return decide(stored, results(messages), config(), "cary60-01")


def test_a_run_out_of_control_gets_a_fail_finding_and_its_chart_marks_it() -> None:
    history = [run(i, RECOVERIES[i % 4]) for i in range(5)]  # 20 points establish the limits
    target = run(5, [95, 101, 99, 100])
    states, drawn = run_charts(target, [*history, target])
    (ccv,) = [s for s in states if s.series == "check_standard_recovery"]
    assert ccv.limits is not None and ccv.limits.source == "established"
    assert ccv.state == "out of control"
    assert [v.rule for v in ccv.violations] == ["1-3s"]
    (finding,) = run_chart_findings(target, states)
    assert finding.severity == "fail" and finding.affected == ("ICV",)
    assert finding.anchor == "chart:check_standard_recovery:1-3s:6"
    chart = next(c for c in drawn if c.name.startswith("check standard"))
    assert chart.highlight_batch == "R005" and chart.violations == ccv.violations


def test_open_runs_are_not_history_and_later_runs_do_not_change_a_runs_chart() -> None:
    history = [run(i, RECOVERIES[i % 4]) for i in range(5)]
    target = run(5, [95, 101, 99, 100])
    later = run(6, [100, 100, 100, 100])
    opened = run(4, [80, 80, 80, 80], status="open")
    before, _ = run_charts(target, [*history, target])
    after, _ = run_charts(target, [*history, opened, target, later])
    assert before == after


def test_a_long_chart_draws_its_newest_points_with_violations_reindexed() -> None:
    history = [run(i, RECOVERIES[i % 4]) for i in range(60)]  # 240 points
    target = run(60, [95, 101, 99, 100])
    states, drawn = run_charts(target, [*history, target])
    chart = next(c for c in drawn if c.name.startswith("check standard"))
    assert len(chart.points) == CHART_WINDOW and "of 244 points" in chart.name
    assert chart.points[-4].sample_id == "ICV" and chart.points[-4].batch_id == "R060"
    (violation,) = chart.violations
    assert (
        chart.points[violation.points[0]].value == 95.0
        or abs(chart.points[violation.points[0]].value - 95.0) < 1e-6
    )
    listed = all_charts([*history, target], {"nitrate-run": config()})
    assert next((key, s.series) for key, s in listed) == (
        ("nitrate-run", "nitrate-N", "cary60-01"),
        "check_standard_recovery",
    )
    assert states[0].points == listed[0][1].points
