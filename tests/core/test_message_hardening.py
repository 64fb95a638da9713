"""Issue 9 cases 1, 2 and 8 on the message itself (and issue 8's sample ID salvage): byte
order marks, duplicate keys, reject wording, identifiers, and the published JSON Schema
agreeing with the validator on every generated message."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from uvqc.core.dupkeys import duplicate_key
from uvqc.core.models import MAX_PAYLOAD_BYTES, result_schema
from uvqc.core.parse import Parsed, Rejected, parse_message

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def accepted(raw: bytes | str) -> Parsed:
    result = parse_message(raw)
    assert isinstance(result, Parsed), result
    return result


def refused(raw: bytes | str) -> Rejected:
    result = parse_message(raw)
    assert isinstance(result, Rejected), result
    return result


# --- case 1: byte order marks --------------------------------------------------------------


def test_a_utf8_bom_before_a_message_is_ignored() -> None:
    # observed: rejected as "not valid JSON (line 1 column 1)", and its sample ID lost
    assert accepted(b'\xef\xbb\xbf{"sampleId":"S-1","absorbance":0.3}\n').message.sample_id == "S-1"
    assert accepted('\ufeff{"sampleId":"S-1","absorbance":0.3}').message.sample_id == "S-1"


@FAST
@given(st.dictionaries(st.sampled_from(["batchId", "x", "measuredAt"]), st.text(max_size=5)))
def test_a_bom_never_changes_the_verdict(extra: dict[str, Any]) -> None:
    raw = json.dumps({"sampleId": "S-1", "absorbance": 0.3, **extra}).encode()
    plain, with_bom = parse_message(raw), parse_message(b"\xef\xbb\xbf" + raw)
    assert type(plain) is type(with_bom)
    if isinstance(plain, Rejected) and isinstance(with_bom, Rejected):
        assert plain.finding.message == with_bom.finding.message


# --- case 2: duplicate keys ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "sample_id"),
    [
        # observed: passed, last value won, the 3.2 over-range reading never flagged
        (b'{"sampleId":"S","absorbance":3.2,"absorbance":0.41}', "absorbance", "S"),
        # observed: recorded under the last sample ID
        (b'{"sampleId":"S-1","absorbance":0.4,"sampleId":"S-2"}', "sampleId", None),
        # observed: a repeated spectrum.absorbance hid a saturated scan
        (
            b'{"sampleId":"S","absorbance":0.4,"spectrum":{"wavelengthNm":[220],'
            b'"absorbance":[3.9],"absorbance":[0.4]}}',
            "spectrum.absorbance",
            "S",
        ),
        (b'{"sampleId":"S","absorbance":0.4,"x":[1,{"k":1,"k":1}]}', "x.1.k", "S"),
        # the same key spelt with an escape is the same key
        (b'{"sampleId":"S","absorbance":0.4,"\\u0061bsorbance":3.2}', "absorbance", "S"),
        (
            b'{"sampleId":"S","absorbanceResult":"3.2","absorbanceResult":"0.4"}',
            "absorbanceResult",
            "S",
        ),
    ],
)
def test_a_key_given_twice_in_one_object_is_a_reject_naming_the_key(
    raw: bytes, field: str, sample_id: str | None
) -> None:
    r = refused(raw)
    assert r.finding.field == field
    assert r.finding.message.startswith(f"Rejected: field `{field}` is given twice (")
    assert r.sample_id == sample_id


def test_the_same_key_in_different_objects_is_not_a_duplicate() -> None:
    raw = (
        b'{"sampleId":"S","absorbance":0.4,"wavelengthNm":220,'
        b'"spectrum":{"wavelengthNm":[220],"absorbance":[0.4]},"x":[{"k":1},{"k":1}]}'
    )
    assert accepted(raw).message.absorbance == 0.4
    assert duplicate_key(raw) is None


JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON_TREE = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "absorbance", 'k"', "é"]), inner, max_size=3)
    ),
    max_leaves=10,
)


def _with_duplicate(tree: Any, key: str, value: Any) -> str:
    """`tree` as JSON text with `key` written twice in its outermost object."""
    body = json.dumps(tree)
    extra = f"{json.dumps(key)}: {json.dumps(value)}"
    return "{" + extra + ", " + extra + ("" if body == "{}" else ", " + body[1:-1]) + "}"


@FAST
@given(st.dictionaries(st.text(max_size=4), JSON_TREE, max_size=4), st.text(max_size=4), JSON_TREE)
def test_duplicates_are_found_exactly_at_any_depth(
    tree: dict[str, Any], key: str, value: Any
) -> None:
    assume(key not in tree)
    assert duplicate_key(json.dumps(tree)) is None
    assert duplicate_key(json.dumps(tree, ensure_ascii=False).encode()) is None
    found = duplicate_key(_with_duplicate(tree, key, value))
    assert found is not None and found.path == key
    nested = (
        '{"sampleId": "S", "absorbance": 0.1, "x": [' + _with_duplicate(tree, key, value) + "]}"
    )
    found = duplicate_key(nested.encode())
    assert found is not None and found.path == f"x.0.{key}"
    assert isinstance(parse_message(nested), Rejected)


# --- case 8: wording, numbers, identifiers -------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        # observed: "not NaN or Infinity" for a number written in full
        ({"absorbance": "1e400"}, "absorbance", "must be a finite number, not one this large"),
        # observed: "both given and differ"
        (
            {"absorbanceResult": {"a": 1}},
            "absorbanceResult",
            "must be a finite number, not an object",
        ),
        ({"absorbanceResult": [1]}, "absorbanceResult", "must be a finite number, not an array"),
        ({"absorbanceResult": "abc"}, "absorbanceResult", "got the text 'abc'"),
        # observed: accepted by the validator, invalid under `uvqc schema`
        ({"wavelengthNm": "220"}, "wavelengthNm", "must be a JSON number, not text ('220')"),
        ({"dilutionFactor": "2"}, "dilutionFactor", "must be a JSON number, not text ('2')"),
        # observed: accepted
        ({"wavelengthNm": -5}, "wavelengthNm", "greater than 0"),
        (
            {"spectrum": {"wavelengthNm": [-5, 230], "absorbance": [0.1, 0.2]}},
            "spectrum.wavelengthNm.0",
            "greater than 0 (got -5)",
        ),
        (
            {"spectrum": {"wavelengthNm": [0], "absorbance": [0.1]}},
            "spectrum.wavelengthNm.0",
            "greater than 0 (got 0)",
        ),
        ({"measuredAt": 1700000000}, "measuredAt", "must be an ISO 8601 date-time"),
        ({"measuredAt": "2026-11-27"}, "measuredAt", "must be an ISO 8601 date-time"),
        ({"wavelengthNm": 10**400}, "wavelengthNm", "not one this large"),
        ({"sampleId": "W\uffff"}, "sampleId", "must not contain U+FFFE, U+FFFF"),
        ({"batchId": "B\ufffe"}, "batchId", "must not contain U+FFFE, U+FFFF"),
    ],
)
def test_every_reject_names_the_field_and_the_actual_problem(
    fields: dict[str, Any], field: str, message: str
) -> None:
    data: dict[str, Any] = {"sampleId": "S-1", "absorbance": 0.3}
    if "absorbanceResult" in fields:
        data["absorbance"] = 0.3
    data.update(fields)
    r = refused(json.dumps(data, ensure_ascii=False).encode())
    assert r.finding.field == field
    assert r.finding.message.startswith(f"Rejected: field `{field}` ")
    assert message in r.finding.message
    assert "both given and differ" not in r.finding.message


def test_leading_and_trailing_whitespace_is_trimmed_from_identifiers() -> None:
    # observed: " W-1 " was recorded as such and `uvqc trace W-1` found nothing
    msg = accepted('{"sampleId": " W-1 ", "absorbance": 0.1, "batchId": "B-1\\u00a0"}').message
    assert (msg.sample_id, msg.batch_id) == ("W-1", "B-1")
    assert refused('{"sampleId": " W-1 ", "absorbance": "x"}').sample_id == "W-1"


def test_an_oversized_message_keeps_a_readable_sample_id() -> None:
    # observed: the sample ID was dropped
    raw = b'{"sampleId": "S-9", "absorbance": 0.1, "pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
    r = refused(raw)
    assert "over the 262144 limit" in r.finding.message
    assert r.sample_id == "S-9"


@pytest.mark.parametrize(
    ("raw", "sample_id"),
    [
        (b'{"sampleId": "S-1", "absorb', "S-1"),  # issue 8 case 8
        (b'{"sampleId" : "S-\\u00c4", "absorbance": 0.1,', "S-Ä"),
        (b'{"sampleId": " S-1 ", "absorbance": 0.1,', "S-1"),
        (b'{"sampleId": "S-1\\n", "absorbance": 0.1,', None),  # not a valid identifier
        (b'{"sampleId": "S-1", "x": {"sampleId": "S-2"}, ', None),  # ambiguous
        (b'{"sampleId": "S-1", "x": {"sampleId": "S-1"}, ', "S-1"),
        (b'{"sampleId": 7, "absorb', None),
        (b'{"absorbance": 0.1, "sampleId": "S-1"', "S-1"),
        (b'\xef\xbb\xbf{"sampleId": "S-1", "absorb', "S-1"),
        (b'{"sampleId": "' + b"x" * 129 + b'", "absorb', None),
    ],
)
def test_a_sample_id_readable_in_unreadable_text_is_salvaged_when_unambiguous(
    raw: bytes, sample_id: str | None
) -> None:
    r = refused(raw)
    assert "not valid JSON" in r.finding.message
    assert r.sample_id == sample_id


# --- the schema and the validator agree ----------------------------------------------------

SCHEMA = jsonschema.Draft202012Validator(result_schema())
VALID_ID = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=8
).filter(str.strip)
ID_EDGE = st.text(st.characters(codec="utf-8"), max_size=6) | st.sampled_from(
    ["W-1", " W-1 ", "\u00a0W\u00a0", "", "  ", "a\nb", "a\n", "\t", "x" * 128, "x" * 129,
     "W\uffff", "W\ufffe", "W\u202e1", "\u0085", "é", None, 42, True, [], {}]
)  # fmt: skip
IDENTIFIER_VALUE = st.one_of(VALID_ID, VALID_ID, VALID_ID, ID_EDGE)
NUMBER = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.sampled_from([0, -0.0, 1e-320, 10**400, -(10**400)])
)
BAD = st.sampled_from([None, True, False, [], {}, {"a": 1}, [0.4], "abc", "", "NaN", "inf", "0x10"])
NUMBER_TEXT = (
    st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.integers(min_value=-(10**6), max_value=10**6).map(str)
    | st.sampled_from([" 0.45 ", "-.5e-3", "1.", "+3", "1_0", "\u0661", "1e5", "1 2"])
)
ABSORBANCE = st.one_of(NUMBER, NUMBER, NUMBER_TEXT, NUMBER_TEXT, BAD)
POSITIVE = st.one_of(NUMBER, NUMBER, BAD, st.sampled_from(["220", "2"]))
DATES = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.none()
)
MEASURED_AT = (
    st.tuples(DATES, st.sampled_from(["", "Z", "+01:00", "-05:30", ".123Z", " ", "z"])).map(
        lambda p: p[0].replace(microsecond=0).isoformat() + p[1]
    )
    | DATES.map(lambda d: d.date().isoformat())
    | st.sampled_from(["yesterday", 1700000000, "1700000000", "2026-11-27 08:41:07", None])
    | DATES.map(lambda d: d.replace(tzinfo=UTC, microsecond=0).isoformat())
    | DATES.map(lambda d: (d.replace(tzinfo=UTC) + timedelta(seconds=1)).isoformat() + "\n")
)
SPECTRUM_VALUES = st.lists(NUMBER | st.sampled_from(["0.1", None, True]), min_size=0, max_size=3)


@st.composite
def spectra(draw: st.DrawFn) -> Any:
    shape = draw(st.sampled_from(["ok", "not an object", "extra", "missing"]))
    wavelengths = draw(SPECTRUM_VALUES)
    # Equal lengths: the one spectrum rule a JSON Schema cannot state (documented).
    absorbances = draw(st.lists(NUMBER, min_size=len(wavelengths), max_size=len(wavelengths)))
    spectrum: Any = {"wavelengthNm": wavelengths, "absorbance": absorbances}
    if shape == "not an object":
        spectrum = [wavelengths]
    elif shape == "extra":
        spectrum["x"] = 1
    elif shape == "missing":
        del spectrum["absorbance"]
    return spectrum


OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "sampleType": st.sampled_from(["sample", "blank", "spike", "standard", "", None, 1]),
    "method": IDENTIFIER_VALUE,
    "batchId": IDENTIFIER_VALUE,
    "instrumentId": IDENTIFIER_VALUE,
    "measuredAt": MEASURED_AT,
    "wavelengthNm": POSITIVE,
    "dilutionFactor": POSITIVE,
    "spectrum": spectra(),
    "lims": st.none() | st.integers() | st.text(max_size=3),
}


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        data["sampleId"] = draw(IDENTIFIER_VALUE)
    value = draw(ABSORBANCE)
    # Both names with different values: the one top-level rule a schema cannot state.
    names = [["absorbance"], ["absorbanceResult"], ["absorbance", "absorbanceResult"], []]
    for name in names[draw(st.sampled_from([0, 0, 0, 1, 1, 1, 2, 3]))]:
        data[name] = value
    for name in draw(st.lists(st.sampled_from(sorted(OPTIONAL)), unique=True, max_size=4)):
        data[name] = draw(OPTIONAL[name])
    return data


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_a_message_is_valid_under_the_published_schema_iff_the_validator_accepts_it(
    document: dict[str, Any],
) -> None:
    raw = json.dumps(document).encode()
    result = parse_message(raw)
    # JSON's 1e400 and a huge integer are numbers to the schema's `maximum`, but the
    # validator sees them after parsing; both ways they are refused.
    assert SCHEMA.is_valid(json.loads(raw)) == isinstance(result, Parsed), (
        document,
        getattr(result, "finding", None),
        [e.message for e in SCHEMA.iter_errors(json.loads(raw))],
    )


class _PairList(list[tuple[str, Any]]):
    """An object as written: its (key, value) pairs, duplicates possible."""


PAIR_TREES = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(
            st.tuples(st.sampled_from(["a", "b", 'k"', "{", "é", "a\\"]), inner), max_size=4
        ).map(_PairList)
    ),
    max_leaves=12,
)


def _write(node: Any, space: str) -> str:
    if isinstance(node, _PairList):
        inner = f",{space}".join(
            f"{json.dumps(k)}{space}:{space}{_write(v, space)}" for k, v in node
        )
        return "{" + inner + "}"
    if isinstance(node, list):
        return "[" + f",{space}".join(_write(v, space) for v in node) + "]"
    return json.dumps(node, ensure_ascii=False)


def _has_duplicate(text: str) -> bool:
    found = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            found.append(True)
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return bool(found)


@FAST
@given(PAIR_TREES, st.sampled_from(["", " ", "\n  "]))
def test_duplicate_detection_agrees_with_a_full_parse_on_any_document(
    tree: Any, space: str
) -> None:
    text = _write(tree, space)
    assert (duplicate_key(text) is not None) == _has_duplicate(text)
    assert (duplicate_key(text.encode("utf-8", "surrogatepass")) is not None) == _has_duplicate(
        text
    )
