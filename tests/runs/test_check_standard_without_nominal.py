"""A check standard without a nominal (the default `^CCV` naming rule gives none) is a
configuration problem: the run still fails, but the advice is to give it its true value, not
to recalibrate."""

from __future__ import annotations

import pytest

from tests.runs.builder import BATCH, config, passing_run, replace_at, results
from uvqc.errors import UsageError
from uvqc.ingest.naming import DEFAULT_RULES, IngestConfig, classify
from uvqc.runs.evaluate import evaluate_run
from uvqc.runs.notices import ACTIONS


def ccv_finding(messages):  # type: ignore[no-untyped-def]
    decision = evaluate_run(results(messages), config(), batch_id=BATCH, final=True)
    return [f for f in decision.findings if f.code == "check_standard_failed"]


def test_the_default_ccv_rule_gives_no_nominal() -> None:
    assert classify("CCV 1", DEFAULT_RULES) == {"sampleType": "check_standard"}


def test_a_check_standard_without_nominal_fails_with_configuration_advice() -> None:
    run = passing_run(37)
    ccv = next(m for m in run if m["sampleId"] == "CCV0")
    (finding,) = ccv_finding(replace_at(run, ccv["sequence"], nominal=None))
    assert "has no nominal (true value) to recover" in finding.message
    assert "a configuration problem, not a reason to recalibrate" in finding.message
    assert "nominal" in finding.message and "send this result again" in finding.message
    assert "recalibrate and re-measure" not in finding.message
    assert "cannot be released" in finding.message and finding.positions


def test_a_failed_recovery_still_advises_recalibration() -> None:
    run = passing_run(37)
    ccv = next(m for m in run if m["sampleId"] == "CCV0")
    (finding,) = ccv_finding(replace_at(run, ccv["sequence"], absorbance=0.3))
    assert "recalibrate and re-measure positions" in finding.message


def test_the_action_text_says_what_to_do_about_a_missing_nominal() -> None:
    action = ACTIONS["check_standard_failed"]
    assert "without a nominal" in action and "do not recalibrate" in action
    assert "naming rule a `nominal`" in action


def test_a_naming_rule_nominal_gives_every_matching_name_its_true_value() -> None:
    cfg = IngestConfig.from_mapping(
        {"naming": [{"pattern": "^CCV", "sampleType": "check_standard", "nominal": 2}]}, "lab"
    )
    assert classify("CCV 3", cfg.rules) == {"sampleType": "check_standard", "nominal": 2.0}
    group = IngestConfig.from_mapping(
        {
            "naming": [
                {
                    "pattern": "^QC (?P<nominal>[0-9.]+)",
                    "sampleType": "check_standard",
                    "nominal": 2,
                }
            ]
        },
        "lab",
    )
    assert classify("QC 5", group.rules)["nominal"] == 5.0  # the name's own value wins


@pytest.mark.parametrize("bad", [-1, True, "2 mg/L", float("nan")])
def test_a_naming_rule_nominal_must_be_a_number_at_least_zero(bad: object) -> None:
    with pytest.raises(UsageError, match="nominal must be a number >= 0"):
        IngestConfig.from_mapping(
            {"naming": [{"pattern": "^CCV", "sampleType": "check_standard", "nominal": bad}]},
            "lab",
        )
