"""Every run decision at and around its limit, on runs built by hand (tests/runs/builder.py:
absorbance = 0.01 + 0.1 x exactly, RL 0.1, MDL 0.05)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.runs.builder import (
    BATCH,
    T0,
    absorbance,
    config,
    passing_run,
    replace_at,
    result,
    results,
)
from uvqc.runs.evaluate import RunDecision, evaluate_run, positions_text
from uvqc.runs.report import decision_document, document_text, public


def decide(messages: list[dict[str, Any]], *, final: bool = False, **cfg: Any) -> RunDecision:
    return evaluate_run(results(messages), config(**cfg), batch_id=BATCH, final=final)


def codes(decision: RunDecision) -> list[str]:
    return [f.code for f in decision.findings]


def line(decision: RunDecision, seq: int) -> Any:
    return next(r for r in decision.results if r.sequence == seq)


def test_a_clean_run_passes_with_exact_concentrations() -> None:
    d = decide(passing_run(37))
    assert d.status == "final" and d.verdict == "pass" and not d.findings
    assert line(d, 8).concentration == pytest.approx(1.0)
    cal = d.to_dict()["calibration"]
    assert cal["slope"] == pytest.approx(0.1) and cal["intercept"] == pytest.approx(0.01)
    assert cal["r"] == pytest.approx(1.0)
    assert [s["sampleId"] for s in cal["standards"]][:2] == ["STD-0", "STD-0.5"]
    assert cal["standards"][0]["errorPct"] is None  # the zero standard


def test_the_json_document_has_exactly_the_issue_shape() -> None:
    doc = public(decision_document(decide(passing_run(37)), "nitrate-run", config()))
    assert list(doc) == ["batchId", "status", "verdict", "calibration", "results", "findings"]
    assert set(doc["calibration"]) == {"model", "slope", "intercept", "r", "standards"}
    assert set(doc["calibration"]["standards"][0]) == {
        "sampleId",
        "nominal",
        "absorbance",
        "backCalculated",
        "errorPct",
    }
    assert set(doc["results"][0]) == {
        "sequence",
        "sampleId",
        "sampleType",
        "absorbance",
        "concentration",
        "qualifier",
        "verdict",
        "findings",
    }


def test_an_open_run_without_batch_size_is_not_final() -> None:
    d = decide(passing_run())
    assert d.status == "open" and not d.missing


# -- calibration -----------------------------------------------------------------------


def test_r_below_min_r_fails_the_calibration_and_leaves_samples_without_concentration() -> None:
    run = replace_at(passing_run(), 4, absorbance=0.30)  # STD-2 far off the line
    d = decide(run)
    assert "calibration_failed" in codes(d)
    failed = next(f for f in d.findings if f.code == "calibration_failed")
    assert "r = " in failed.message
    assert line(d, 8).concentration is None and "calibration_failed" in line(d, 8).findings
    assert "S00" in failed.affected and "ICV" not in failed.affected  # samples only
    assert d.to_dict()["calibration"]["slope"] is not None  # a failed fit is still reported


def test_r_exactly_at_min_r_passes_and_just_above_it_fails() -> None:
    run = replace_at(passing_run(), 5, absorbance=0.515)
    r = decide(run, calibration={"back_calc_pct": 50, "back_calc_lowest_pct": 50}).calibrations[0].r
    assert r is not None
    ok = decide(run, calibration={"min_r": r, "back_calc_pct": 50, "back_calc_lowest_pct": 50})
    assert ok.calibrations[0].passed
    bad = decide(
        run, calibration={"min_r": r + 1e-6, "back_calc_pct": 50, "back_calc_lowest_pct": 50}
    )
    assert not bad.calibrations[0].passed


def test_back_calculation_tolerance_is_inclusive() -> None:
    run = replace_at(passing_run(), 4, absorbance=0.215)  # STD-2 reads a little high
    loose = {"min_r": 0.9, "back_calc_lowest_pct": 100}
    std2 = decide(run, calibration={**loose, "back_calc_pct": 100}).calibrations[0].standards[3]
    assert std2.error_pct is not None
    error = abs(std2.error_pct)
    assert decide(run, calibration={**loose, "back_calc_pct": error}).calibrations[0].passed
    failed = decide(run, calibration={**loose, "back_calc_pct": error * 0.999})
    assert not failed.calibrations[0].passed
    assert "STD-2" in failed.calibrations[0].reasons[0]


def test_the_lowest_non_zero_standard_has_its_own_tolerance() -> None:
    run = replace_at(passing_run(), 2, absorbance=absorbance(0.5 * 1.15))  # +15 % at 0.5
    assert decide(run, calibration={"min_r": 0.99}).calibrations[0].passed  # 20 % allowed
    assert (
        not decide(run, calibration={"min_r": 0.99, "back_calc_lowest_pct": 10})
        .calibrations[0]
        .passed
    )


def test_a_zero_standard_must_back_calculate_below_the_reporting_level() -> None:
    # Two lines through the same points except the zero: its back-calculated value moves.
    ok = decide(passing_run())
    assert ok.calibrations[0].standards[0].passed
    run = replace_at(passing_run(), 1, absorbance=0.03)  # zero standard reads 0.2 mg/L
    d = decide(run, calibration={"min_r": 0.99, "back_calc_lowest_pct": 100, "back_calc_pct": 100})
    zero = d.calibrations[0].standards[0]
    assert zero.error_pct is None and not zero.passed
    assert "zero standard" in d.calibrations[0].reasons[0]


def test_fewer_standards_than_required_fail() -> None:
    run = [m for m in passing_run() if m["sequence"] not in (4, 5)]
    assert decide(run).calibrations[0].passed  # 3 standards, 3 required
    d = decide(run, calibration={"min_standards": 4})
    assert "fewer than the 4 required" in d.calibrations[0].reasons[0]


def test_a_later_block_recalibrates_the_positions_after_it() -> None:
    run = passing_run()
    top = max(m["sequence"] for m in run)
    steeper = [
        {
            **m,
            "sequence": top + 1 + i,
            "absorbance": 0.01 + 0.2 * m["nominal"],
            "sampleId": f"RE-{m['sampleId']}",
        }
        for i, m in enumerate(run[:5])
    ]
    sample = {**run[7], "sequence": top + 6, "sampleId": "LATE", "absorbance": 0.41}
    d = decide([*run, *steeper, sample])
    assert len(d.calibrations) == 2 and "calibrations" in d.to_dict()
    assert line(d, top + 6).concentration == pytest.approx(2.0)  # (0.41 - 0.01) / 0.2
    assert line(d, 8).concentration == pytest.approx(1.0)  # still the first block


def test_a_quadratic_fit_recovers_its_coefficients_and_reports_them() -> None:
    run = passing_run()
    for m in run[:5]:
        x = m["nominal"]
        m["absorbance"] = 0.01 + 0.1 * x - 0.004 * x * x
    run = replace_at(run, 8, absorbance=0.01 + 0.1 * 1.5 - 0.004 * 1.5 * 1.5)
    d = decide(run, calibration={"model": "quadratic"})
    c0, c1, c2 = d.to_dict()["calibration"]["coefficients"]
    assert (c0, c1, c2) == pytest.approx((0.01, 0.1, -0.004))
    assert line(d, 8).concentration == pytest.approx(1.5)


def test_linear_through_zero_and_1_over_x_weighting_fit_an_exact_line() -> None:
    run = passing_run()
    for m in run:
        m["absorbance"] = round(m["absorbance"] - 0.01, 12)
    d = decide(run, calibration={"model": "linear_through_zero", "weighting": "1/x"})
    assert d.calibrations[0].passed and d.calibrations[0].fit is not None
    assert d.calibrations[0].fit.slope == pytest.approx(0.1)
    assert d.calibrations[0].fit.intercept == 0.0


# -- concentrations, qualifiers, above calibration -------------------------------------


@pytest.mark.parametrize(
    ("x", "qualifier"),
    [(0.049, "<"), (0.05, "E"), (0.0999, "E"), (0.1, None), (-0.02, "<")],
)
def test_qualifiers_compare_the_in_cuvette_concentration_with_the_levels(
    x: float, qualifier: str | None
) -> None:
    d = decide(replace_at(passing_run(), 8, absorbance=absorbance(x), dilutionFactor=5))
    assert line(d, 8).qualifier == qualifier
    assert line(d, 8).concentration == pytest.approx(5 * x)  # computed even when "<"


def test_above_the_highest_standard_is_flagged_at_and_not_before() -> None:
    at = decide(replace_at(passing_run(), 9, absorbance=absorbance(5.0)))
    assert "above_calibration" not in line(at, 9).findings
    above = decide(replace_at(passing_run(), 9, absorbance=absorbance(5.001), dilutionFactor=2))
    assert "above_calibration" in line(above, 9).findings
    assert [n.code for n in above.notices] == ["above_calibration"]
    assert "above_calibration" not in codes(above)  # a result finding only


# -- check standards and bracketing ----------------------------------------------------


@pytest.mark.parametrize(
    ("x", "passes"), [(1.8, True), (2.2, True), (1.798, False), (2.202, False)]
)
def test_check_standard_recovery_limits_are_inclusive(x: float, passes: bool) -> None:
    d = decide(replace_at(passing_run(), 16, absorbance=absorbance(x)))
    assert ("check_standard_failed" not in codes(d)) is passes


def test_a_failed_check_flags_the_samples_it_brackets_and_says_what_to_redo() -> None:
    d = decide(replace_at(passing_run(), 16, absorbance=absorbance(1.68)))  # 84 %
    finding = next(f for f in d.findings if f.code == "check_standard_failed")
    assert finding.positions == (8, 9, 10, 11, 12, 13, 14, 15, 18, 19, 20, 21, 22, 23, 24, 25)
    assert "position 16 recovered 84 %" in finding.message
    assert "re-measure positions 8-15, 18-25" in finding.message
    assert "bracketing_check_failed" in line(d, 8).findings
    assert "bracketing_check_failed" not in line(d, 28).findings
    assert finding.known_at == 26  # certain once the next check standard is in


def test_samples_after_the_last_check_get_no_bracketing_finding_but_qc_frequency() -> None:
    run = [m for m in passing_run() if m["sequence"] != 36]  # no closing CCV
    run = replace_at(run, 26, absorbance=absorbance(1.0))  # CCV1 fails
    d = decide(run, final=True)
    assert "bracketing_check_failed" not in line(d, 28).findings
    frequency = next(f for f in d.findings if f.code == "qc_frequency")
    assert "no check standard after position(s) 28-35" in frequency.message
    assert "S20" in frequency.affected


# -- blanks ----------------------------------------------------------------------------


def test_blank_at_its_max_passes_and_above_it_contaminates_samples_below_10x() -> None:
    at = decide(replace_at(passing_run(), 17, absorbance=absorbance(0.05)))
    assert "blank_contamination" not in codes(at)
    run = replace_at(passing_run(), 17, absorbance=absorbance(0.2))  # CCB0 at 0.2 mg/L
    run = replace_at(run, 18, absorbance=absorbance(2.0))  # exactly 10x: stands
    run = replace_at(run, 19, absorbance=absorbance(1.999))  # below 10x
    d = decide(run)
    finding = next(f for f in d.findings if f.code == "blank_contamination")
    assert "S11" in finding.affected and "S10" not in finding.affected
    assert "S00" in finding.affected  # CCB0 is also the nearest blank after S00
    assert "blank_contaminated" in line(d, 19).findings


def test_blank_max_defaults_to_half_the_reporting_level() -> None:
    assert config().blank_max == pytest.approx(0.05)
    assert config(blank={"max": 0.02}).blank_max == 0.02


# -- duplicates and spikes -------------------------------------------------------------


def test_duplicate_rpd_limit_is_inclusive_and_not_applied_below_the_rl() -> None:
    # S00 = 1.0; a duplicate of 1.2222... has RPD exactly 20 %.
    at = decide(replace_at(passing_run(), 14, absorbance=absorbance(1 + 2 / 9)))
    assert "duplicate_rpd" not in line(at, 14).findings
    above = decide(replace_at(passing_run(), 14, absorbance=absorbance(1.23)))
    assert "duplicate_rpd" in line(above, 14).findings
    assert [n.code for n in above.notices] == ["duplicate_rpd"]
    low = replace_at(passing_run(), 8, absorbance=absorbance(0.09))
    low = replace_at(low, 14, absorbance=absorbance(0.3))
    assert "duplicate_rpd" not in line(decide(low), 14).findings


@pytest.mark.parametrize(("x", "passes"), [(1.8, True), (2.2, True), (1.79, False), (2.21, False)])
def test_spike_recovery_limits_are_inclusive(x: float, passes: bool) -> None:
    d = decide(replace_at(passing_run(), 15, absorbance=absorbance(x)))  # 1.0 + 1.0 added
    assert ("spike_recovery" not in line(d, 15).findings) is passes


# -- frequency and completeness --------------------------------------------------------


def test_more_samples_between_checks_than_allowed_is_a_qc_frequency_finding() -> None:
    run = passing_run()
    assert "qc_frequency" not in codes(decide(run, check_standard={"max_samples_between": 8}))
    d = decide(run, check_standard={"max_samples_between": 7})
    finding = next(f for f in d.findings if f.code == "qc_frequency")
    assert "8 samples between the check standards at positions 6 and 16" in finding.message


def test_too_few_duplicates_or_spikes_is_a_qc_frequency_finding_when_final() -> None:
    run = passing_run(37)
    assert "qc_frequency" not in codes(decide(run, duplicate={"every": 18}))
    d = decide(run, duplicate={"every": 5})  # 20 samples -> 4 duplicates required
    assert "2 duplicate(s) for 20 samples, 4 required" in d.findings[0].message


def test_a_final_run_with_missing_positions_is_incomplete() -> None:
    run = [m for m in passing_run(40) if m["sequence"] not in (3,)]
    open_ = decide(run)
    assert "run_incomplete" not in codes(open_)
    d = decide(run, final=True)
    finding = next(f for f in d.findings if f.code == "run_incomplete")
    assert finding.affected == ()
    assert "position(s) 3, 38-40 of 40" in finding.message


def test_decisions_become_ready_when_the_positions_they_need_are_present() -> None:
    run = replace_at(passing_run(), 16, absorbance=absorbance(1.68))
    partial = [m for m in run if m["sequence"] <= 25]
    assert not [f for f in decide(partial).ready() if f.code == "check_standard_failed"]
    upto = [m for m in run if m["sequence"] <= 26]
    assert [f.code for f in decide(upto).ready()] == ["check_standard_failed"]
    gap = [m for m in upto if m["sequence"] != 3]
    assert decide(gap).ready() == []


# -- which result wins a position ------------------------------------------------------


def test_the_latest_measurement_at_a_position_wins_whatever_the_arrival_order() -> None:
    first = passing_run()[15]  # CCV0, passing
    redo = {
        **first,
        "absorbance": absorbance(1.5),
        "measuredAt": (T0 + timedelta(hours=3)).isoformat(),
    }
    rest = [m for m in passing_run() if m["sequence"] != 16]
    for order in ([first, redo], [redo, first]):
        pool = results(rest) + [result(m, record_id=f"x{i}") for i, m in enumerate(order)]
        d = evaluate_run(pool, config(), batch_id=BATCH)
        assert "check_standard_failed" in codes(d)


def test_positions_text_compresses_ranges() -> None:
    assert positions_text([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7-8"
    assert positions_text([]) == ""


def test_the_text_report_shows_levels_beside_qualified_concentrations() -> None:
    run = replace_at(passing_run(), 8, absorbance=absorbance(0.01), dilutionFactor=2)
    text = document_text(decision_document(decide(run), "nitrate-run", config()))
    assert "< 0.2" in text  # RL 0.1 x dilution 2
    assert "Calibration positions 1-5 (linear, passed)" in text
