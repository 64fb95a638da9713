"""A decided run -> RunReport and control-chart points (pure; numbers computed by hand from
tests/runs/builder.py's exact calibration A = 0.01 + 0.1 x)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.runs.builder import BATCH, absorbance, config, passing_run, replace_at, results
from uvqc.report.build import build_report, chart_points, qc_values, reanalysis
from uvqc.runs.evaluate import evaluate_run


def decide(messages: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    rs = results(messages)  # type: ignore[arg-type]
    cfg = config()
    return evaluate_run(rs, cfg, batch_id=BATCH, final=True), rs, cfg


def test_a_passing_run_has_every_qc_value_with_its_limits() -> None:
    decision, rs, cfg = decide(passing_run())
    values = qc_values(decision, rs, cfg)
    by_series: dict[str, list[float]] = {}
    for v in values:
        by_series.setdefault(v.series, []).append(v.value)
    assert by_series["check_standard_recovery"] == pytest.approx([100.0] * 4)
    assert by_series["blank_concentration"] == pytest.approx([0.01] * 4)
    assert by_series["duplicate_rpd"] == pytest.approx([0.02 / 1.01 * 100, 0.02 / 2.01 * 100])
    assert by_series["spike_recovery"] == pytest.approx([100.0, 100.0])
    assert all(v.passed for v in values)
    check = next(v for v in values if v.series == "check_standard_recovery")
    assert (check.limits, check.unit, check.sample_id) == ("90-110 %", "%", "ICV")
    report = build_report(decision, rs, cfg, method="nitrate-run", instrument="cary60-01")
    assert report.verdict == "pass" and report.reanalysis == () and report.findings == ()
    assert [q.kind for q in report.qc].count("check standard") == 4
    assert len(report.results) == len(rs)
    (cal,) = report.calibrations
    assert cal.coefficients == pytest.approx((0.01, 0.1)) and cal.passed
    assert [s.nominal for s in cal.standards] == [0.0, 0.5, 1.0, 2.0, 5.0]
    assert report.analyte == "nitrate-N" and report.units == "mg/L"


def test_a_failed_ccv_is_a_failed_qc_row_a_fail_finding_and_puts_its_samples_on_the_list() -> None:
    decision, rs, cfg = decide(replace_at(passing_run(), 16, absorbance=absorbance(1.5)))
    report = build_report(decision, rs, cfg)
    failed = [q for q in report.qc if not q.passed]
    assert [(q.kind, q.sample_id, round(q.value or 0, 6)) for q in failed] == [
        ("check standard", "CCV0", 75.0)
    ]
    assert [f.code for f in report.findings] == ["check_standard_failed"]
    assert report.findings[0].severity == "fail"
    assert report.reanalysis == report.findings[0].affected != ()
    assert reanalysis(decision) == report.reanalysis


def test_chart_points_are_one_point_per_qc_value_named_by_the_run() -> None:
    decision, rs, cfg = decide(passing_run())
    points = chart_points(decision, rs, cfg)
    assert list(points) == [
        "check_standard_recovery",
        "blank_concentration",
        "duplicate_rpd",
        "spike_recovery",
    ]
    ccv = points["check_standard_recovery"]
    assert [(p.batch_id, p.sample_id) for p in ccv] == [
        (BATCH, "ICV"),
        (BATCH, "CCV0"),
        (BATCH, "CCV1"),
        (BATCH, "CCV2"),
    ]
    assert [p.sequence for p in ccv] == sorted(p.sequence for p in ccv)  # type: ignore[type-var]
    assert chart_points(decision, rs, None) == {s: [] for s in points}


@given(st.floats(min_value=0.5, max_value=3.5))
def test_check_standard_recovery_is_concentration_over_nominal(read: float) -> None:
    decision, rs, cfg = decide(replace_at(passing_run(), 6, absorbance=absorbance(read)))
    icv = next(v for v in qc_values(decision, rs, cfg) if v.sample_id == "ICV")
    assert icv.value == pytest.approx(read / 2.0 * 100, rel=1e-9)
    if 90.001 <= icv.value <= 109.999:
        assert icv.passed
    elif not 89.999 <= icv.value <= 110.001:
        assert not icv.passed
