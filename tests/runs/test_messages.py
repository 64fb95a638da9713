"""The run fields of a result message: validated like every other field, a reject naming
the field and the reason; valid ones round-trip into the run."""

from __future__ import annotations

import json

import pytest

from uvqc.core.engine import judge
from uvqc.core.methods import MethodBook
from uvqc.core.verdicts import Verdict


def check(**fields: object) -> tuple[Verdict, str]:
    body = json.dumps({"sampleId": "A", "absorbance": 0.2, "batchId": "B", **fields})
    judgement, _ = judge(body, MethodBook())
    message = judgement.findings[0].message if judgement.findings else ""
    return judgement.verdict, message


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"sequence": 0}, "field `sequence` Input should be greater than or equal to 1"),
        ({"sequence": 3.0}, "field `sequence` Input should be a valid integer"),
        ({"sequence": "3"}, "field `sequence` Input should be a valid integer"),
        ({"sequence": True}, "field `sequence` Input should be a valid integer"),
        ({"batchSize": -4}, "field `batchSize` Input should be greater than or equal to 1"),
        ({"nominal": -0.1}, "field `nominal` Input should be greater than or equal to 0"),
        ({"nominal": "NaN"}, "field `nominal` must be a JSON number, not text"),
        ({"spikeAdded": 0}, "field `spikeAdded` Input should be greater than 0"),
        ({"duplicateOf": "A\r\nB"}, "field `duplicateOf` must not contain control characters"),
        ({"spikeOf": " "}, "field `spikeOf` must not be empty or blank"),
        ({"units": ""}, "field `units` String should have at least 1 character"),
    ],
)
def test_a_bad_run_field_is_rejected_naming_the_field(
    fields: dict[str, object], reason: str
) -> None:
    verdict, message = check(**fields)
    assert verdict is Verdict.REJECT
    assert reason in message


def test_valid_run_fields_pass() -> None:
    verdict, _ = check(
        sequence=3,
        batchSize=64,
        analyte="nitrate-N",
        units="mg/L",
        nominal=2,
        duplicateOf="W-1",
        spikeOf="W-2",
        spikeAdded=1.0,
    )
    assert verdict is Verdict.PASS
