"""Property tests: no input makes the validator, the engine or `uvqc check` crash, and
every verdict agrees with its findings."""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uvqc.cli import main
from uvqc.core.engine import judge
from uvqc.core.methods import MethodBook
from uvqc.core.models import ResultMessage
from uvqc.core.parse import Parsed, Rejected, parse_message
from uvqc.core.verdicts import INVALID_MESSAGE, Judgement, Verdict

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BOOK = MethodBook()

# Every code point, lone surrogates and line/paragraph separators included.
ANY_CHAR = st.characters(blacklist_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=40)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | ANY_TEXT
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)
IDENTIFIER = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\ufffe\uffff"
    ),
    min_size=1,
    max_size=128,
).filter(lambda s: bool(s.strip()))


def encode(value: Any) -> bytes:
    """JSON as a sender would produce it; NaN/Infinity literals and lone surrogates kept."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def assert_consistent(judgement: Judgement) -> None:
    assert isinstance(judgement, Judgement)
    codes = [f.code for f in judgement.findings]
    if INVALID_MESSAGE in codes:
        assert judgement.verdict is Verdict.REJECT
        assert len(codes) == 1
        finding = judgement.findings[0]
        assert finding.message.startswith("Rejected: ")
    elif codes:
        assert judgement.verdict is Verdict.FLAG
        assert judgement.method is not None
    else:
        assert judgement.verdict is Verdict.PASS
    for finding in judgement.findings:
        assert finding.message
        assert finding.severity.value in ("suspect", "fail")
    json.dumps(judgement.to_dict())  # always serialisable


def judge_checked(raw: bytes | str) -> tuple[Judgement, ResultMessage | None]:
    judgement, message = judge(raw, BOOK)
    assert_consistent(judgement)
    assert (message is None) == (judgement.method is None)
    parsed = parse_message(raw)
    assert isinstance(parsed, Parsed | Rejected)
    return judgement, message


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_validator(raw: bytes) -> None:
    judge_checked(raw)


@FAST
@given(ANY_TEXT)
def test_arbitrary_text_with_surrogates_never_crashes_the_validator(raw: str) -> None:
    judge_checked(raw)


@FAST
@given(JSON_VALUES)
def test_arbitrary_json_values_are_judged_not_raised(value: Any) -> None:
    judgement, _ = judge_checked(encode(value))
    if not isinstance(value, dict):
        assert judgement.verdict is Verdict.REJECT


@FAST
@given(
    st.dictionaries(
        st.sampled_from(
            ["sampleId", "absorbance", "absorbanceResult", "sampleType", "method", "batchId",
             "instrumentId", "measuredAt", "wavelengthNm", "dilutionFactor", "spectrum", "x"]
        ),
        JSON_VALUES,
    )
)  # fmt: skip
def test_messages_with_fields_of_any_json_type_are_judged_not_raised(
    fields: dict[str, Any],
) -> None:
    _judgement, message = judge_checked(encode(fields))
    if message is not None:
        assert math.isfinite(message.absorbance)
        assert message.sample_id == fields["sampleId"].strip()


@FAST
@given(sample_id=JSON_VALUES, absorbance=JSON_VALUES)
def test_any_sample_id_and_absorbance_are_judged_not_raised(
    sample_id: Any, absorbance: Any
) -> None:
    judge_checked(encode({"sampleId": sample_id, "absorbance": absorbance}))
    judge_checked(encode({"sampleId": sample_id, "absorbanceResult": absorbance}))


@FAST
@given(
    st.integers(min_value=-(10**600), max_value=10**600)
    | st.floats()
    | st.from_regex(r"-?[0-9]{1,400}(\.[0-9]{0,50})?([eE][+-]?[0-9]{1,5})?", fullmatch=True)
)
def test_huge_and_tiny_numbers_are_judged_not_raised(number: Any) -> None:
    _judgement, message = judge_checked(encode({"sampleId": "S", "absorbance": number}))
    if message is not None:
        assert math.isfinite(message.absorbance)


@FAST
@given(st.integers(min_value=1, max_value=5000), st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_judged_not_raised(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    judge_checked(opener * depth + "1" + closer * depth)
    judge_checked('{"sampleId": "S", "absorbance": 0.1, "x": ' + "[" * depth + "]" * depth + "}")


@FAST
@given(sample_id=ANY_TEXT, batch=ANY_TEXT)
def test_identifiers_with_any_characters_are_judged_not_raised(sample_id: str, batch: str) -> None:
    _judgement, message = judge_checked(
        encode({"sampleId": sample_id, "absorbance": 0.3, "batchId": batch})
    )
    if message is not None:
        assert not any(ch in message.sample_id for ch in "\r\n\x00\u2028\u2029")


@FAST
@given(
    sample_id=IDENTIFIER,
    absorbance=st.floats(min_value=0, max_value=0.67, exclude_min=True, exclude_max=True),
    as_text=st.booleans(),
    original=st.booleans(),
)
def test_a_valid_message_inside_the_calibration_range_always_passes_the_default_method(
    sample_id: str, absorbance: float, as_text: bool, original: bool
) -> None:
    value: float | str = repr(absorbance) if as_text else absorbance
    field = "absorbanceResult" if original else "absorbance"
    judgement, message = judge_checked(encode({"sampleId": sample_id, field: value}))
    assert judgement.verdict is Verdict.PASS, judgement
    assert judgement.sample_id == sample_id.strip()
    assert message is not None and message.absorbance == absorbance


@FAST
@given(sample_id=IDENTIFIER, absorbance=st.floats(allow_nan=False, allow_infinity=False))
def test_a_valid_message_gets_at_most_one_finding_from_the_default_method(
    sample_id: str, absorbance: float
) -> None:
    judgement, _ = judge_checked(encode({"sampleId": sample_id, "absorbance": absorbance}))
    assert len(judgement.findings) == (0 if 0 < absorbance < 0.67 else 1)
    if judgement.findings:
        expected = "dilution_required" if absorbance >= 1 else "outside_calibration_range"
        assert judgement.findings[0].code == expected
        assert sample_id.strip() in judgement.findings[0].message


def _is_empty_array(doc: bytes) -> bool:
    try:
        return bool(json.loads(doc) == [])
    except ValueError:
        return False


LINES = st.lists(
    st.binary(max_size=60).filter(lambda b: b"\n" not in b and b"\r" not in b)
    | JSON_VALUES.map(encode).filter(lambda b: b"\n" not in b and b"\r" not in b),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES, st.sampled_from([b"\n", b"\r\n"]))
def test_uvqc_check_never_crashes_and_writes_one_consistent_line_per_result(
    lines: list[bytes], newline: bytes
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.jsonl"
        path.write_bytes(newline.join(lines) + newline)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["check", "--format", "json", str(path)])
    assert status in (0, 1), err.getvalue()
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    if not rows:  # only blank lines or an empty JSON array hold no result
        assert not any(line.strip() for line in lines) or _is_empty_array(newline.join(lines))
    for row in rows:
        assert set(row) >= {"sampleId", "verdict", "findings", "source"}
        codes = [f["code"] for f in row["findings"]]
        expected = "reject" if INVALID_MESSAGE in codes else "flag" if codes else "pass"
        assert row["verdict"] == expected
    assert status == (0 if all(r["verdict"] == "pass" for r in rows) else 1)
