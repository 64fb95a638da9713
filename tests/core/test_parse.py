"""The result message: both shapes accepted, every reject reason named with its field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.core.conftest import RawFactory
from uvqc.core.models import MAX_PAYLOAD_BYTES, ResultMessage, SampleType, result_schema
from uvqc.core.parse import Parsed, Rejected, parse_message
from uvqc.core.verdicts import INVALID_MESSAGE, Severity


def parsed(raw: bytes | str) -> ResultMessage:
    result = parse_message(raw)
    assert isinstance(result, Parsed), result
    return result.message


def rejected(raw: bytes | str) -> Rejected:
    result = parse_message(raw)
    assert isinstance(result, Rejected), result
    assert result.finding.code == INVALID_MESSAGE
    assert result.finding.severity is Severity.FAIL
    assert result.finding.message.startswith("Rejected: ")
    return result


# --- the two shapes -----------------------------------------------------------------------


def test_the_original_shape_with_a_string_absorbance_is_accepted() -> None:
    msg = parsed(
        b'{"sampleId": "7030d623-5d4b-4a8a-9d1e-3c1f2b8e6a41", "absorbanceResult": "0.45"}'
    )
    assert msg.sample_id == "7030d623-5d4b-4a8a-9d1e-3c1f2b8e6a41"
    assert msg.absorbance == 0.45
    assert msg.sample_type is SampleType.SAMPLE
    assert msg.method is None


def test_the_original_shape_with_a_numeric_absorbance_is_accepted() -> None:
    assert parsed(b'{"sampleId": "A", "absorbanceResult": 0.45}').absorbance == 0.45


def test_a_string_absorbance_may_carry_surrounding_spaces_and_an_exponent() -> None:
    assert parsed(b'{"sampleId": "A", "absorbanceResult": " 4.5e-1 "}').absorbance == 0.45


def test_the_current_shape_reads_every_field() -> None:
    msg = parsed(
        json.dumps(
            {
                "sampleId": "W-42",
                "absorbance": 0.31,
                "sampleType": "check_standard",
                "method": "nitrate-uv",
                "batchId": "2026-11-27-01",
                "instrumentId": "cary60-01",
                "measuredAt": "2026-11-27T07:30:00Z",
                "wavelengthNm": 220,
                "dilutionFactor": 2.5,
                "spectrum": {"wavelengthNm": [220, 230], "absorbance": [0.31, 0.2]},
            }
        )
    )
    assert msg.sample_type is SampleType.CHECK_STANDARD
    assert (msg.method, msg.batch_id, msg.instrument_id) == (
        "nitrate-uv",
        "2026-11-27-01",
        "cary60-01",
    )
    assert msg.measured_at == datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
    assert (msg.wavelength_nm, msg.dilution_factor) == (220.0, 2.5)
    assert msg.spectrum is not None
    assert msg.spectrum.wavelength_nm == [220.0, 230.0]
    assert msg.spectrum.absorbance == [0.31, 0.2]


@pytest.mark.parametrize("kind", [t.value for t in SampleType])
def test_every_sample_type_is_accepted(raw: RawFactory, kind: str) -> None:
    assert parsed(raw(sampleType=kind)).sample_type.value == kind


def test_unknown_fields_are_kept_for_the_record(raw: RawFactory) -> None:
    msg = parsed(raw(operator="nitrate", lims={"id": 7, "tags": ["a"]}))
    assert msg.model_extra == {"operator": "nitrate", "lims": {"id": 7, "tags": ["a"]}}
    assert msg.model_dump(by_alias=True)["operator"] == "nitrate"


def test_absorbance_and_absorbance_result_may_both_be_given_when_they_agree() -> None:
    assert (
        parsed(b'{"sampleId": "A", "absorbance": 0.45, "absorbanceResult": "0.45"}').absorbance
        == 0.45
    )


def test_a_message_is_accepted_as_text_as_well_as_bytes() -> None:
    assert parsed('{"sampleId": "Ä-1", "absorbance": 0.1}').sample_id == "Ä-1"


def test_a_sample_id_of_128_characters_is_accepted(raw: RawFactory) -> None:
    assert parsed(raw(sampleId="x" * 128)).sample_id == "x" * 128


def test_a_payload_of_exactly_256_kib_is_not_rejected_for_its_size() -> None:
    head = b'{"sampleId": "A", "absorbance": 0.1, "pad": "'
    raw = head + b"x" * (MAX_PAYLOAD_BYTES - len(head) - 2) + b'"}'
    assert len(raw) == MAX_PAYLOAD_BYTES
    assert parsed(raw).absorbance == 0.1


# --- every reject reason ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not valid JSON"),
        (b"not json", "not valid JSON"),
        (b'{"sampleId": "A", "absorbance": 0.1', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b'{"sampleId": "A", "absorbance": 0.1}{', "not valid JSON"),
    ],
)
def test_text_that_is_not_json_is_rejected_without_a_field(raw: bytes, reason: str) -> None:
    r = rejected(raw)
    assert reason in r.finding.message
    assert r.finding.field is None
    assert r.sample_id == ("A" if b"sampleId" in raw else None)  # salvaged from the text


@pytest.mark.parametrize(
    "raw", [b"[]", b'[{"sampleId": "A", "absorbance": 0.1}]', b"1", b'"x"', b"null", b"true"]
)
def test_json_that_is_not_an_object_is_rejected(raw: bytes) -> None:
    assert rejected(raw).finding.message == "Rejected: not a JSON object."


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"sampleId": ...}, "sampleId", "is required but missing"),
        ({"sampleId": ""}, "sampleId", "at least 1 character"),
        ({"sampleId": "   "}, "sampleId", "must not be empty or blank"),
        ({"sampleId": "\t"}, "sampleId", "must not contain control characters"),
        ({"sampleId": None}, "sampleId", "valid string"),
        ({"sampleId": 42}, "sampleId", "valid string"),
        ({"sampleId": "x" * 129}, "sampleId", "at most 128 characters"),
        ({"sampleId": "W-1\r\n-2"}, "sampleId", "must not contain control characters"),
        ({"sampleId": "W-1\n"}, "sampleId", "must not contain control characters"),
        ({"sampleId": "W\x00"}, "sampleId", "must not contain control characters"),
        ({"sampleId": "W\u2028"}, "sampleId", "must not contain control characters"),
        ({"sampleId": "W\x85"}, "sampleId", "must not contain control characters"),
        ({"batchId": "B\r1"}, "batchId", "must not contain control characters"),
        ({"instrumentId": "cary\n60"}, "instrumentId", "must not contain control characters"),
        ({"method": "nitrate\r\nBcc: x"}, "method", "must not contain control characters"),
        ({"method": ""}, "method", "at least 1 character"),
        ({"absorbance": ...}, "absorbance", "is required but missing"),
        ({"absorbance": "NaN"}, "absorbance", "not NaN or Infinity"),
        ({"absorbance": "nan"}, "absorbance", "not NaN or Infinity"),
        ({"absorbance": "Infinity"}, "absorbance", "not NaN or Infinity"),
        ({"absorbance": "-inf"}, "absorbance", "not NaN or Infinity"),
        ({"absorbance": "1e999"}, "absorbance", "not one this large (1e999 is beyond"),
        ({"absorbance": "abc"}, "absorbance", "got the text 'abc'"),
        ({"absorbance": ""}, "absorbance", "got the text ''"),
        ({"absorbance": "1_0"}, "absorbance", "got the text '1_0'"),
        ({"absorbance": "\u0661"}, "absorbance", "got the text"),
        ({"absorbance": "0x10"}, "absorbance", "got the text '0x10'"),
        ({"absorbance": True}, "absorbance", "must be a finite number"),
        ({"absorbance": False}, "absorbance", "must be a finite number"),
        ({"absorbance": None}, "absorbance", "must be a finite number"),
        ({"absorbance": [0.4]}, "absorbance", "must be a finite number, not an array"),
        ({"absorbance": {"value": 0.4}}, "absorbance", "must be a finite number, not an object"),
        ({"absorbance": 10**400}, "absorbance", "not one this large"),
        ({"sampleType": "standard"}, "sampleType", "'sample', 'blank'"),
        ({"measuredAt": "yesterday"}, "measuredAt", "must be an ISO 8601 date-time like"),
        ({"wavelengthNm": 0}, "wavelengthNm", "greater than 0"),
        ({"wavelengthNm": -254}, "wavelengthNm", "greater than 0"),
        ({"wavelengthNm": "NaN"}, "wavelengthNm", "must be a JSON number, not text ('NaN')"),
        ({"dilutionFactor": 0}, "dilutionFactor", "greater than 0"),
        ({"dilutionFactor": True}, "dilutionFactor", "must be a finite number"),
        ({"spectrum": [1, 2]}, "spectrum", "must be a JSON object"),
        ({"spectrum": {"wavelengthNm": [220]}}, "spectrum.absorbance", "is required but missing"),
        (
            {"spectrum": {"wavelengthNm": [], "absorbance": []}},
            "spectrum.wavelengthNm",
            "at least 1",
        ),
        (
            {"spectrum": {"wavelengthNm": [220, 230], "absorbance": [0.1, "NaN"]}},
            "spectrum.absorbance.1",
            "must be a JSON number, not text ('NaN')",
        ),
        (
            {"spectrum": {"wavelengthNm": [220], "absorbance": [0.1], "x": 1}},
            "spectrum.x",
            "Extra inputs",
        ),
    ],
)
def test_an_invalid_field_is_rejected_naming_the_field_and_the_reason(
    raw: RawFactory, fields: dict[str, Any], field: str, reason: str
) -> None:
    r = rejected(raw(**fields))
    assert r.finding.field == field
    assert f"field `{field}`" in r.finding.message
    assert reason in r.finding.message


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"])
def test_non_finite_json_number_literals_are_rejected(literal: bytes) -> None:
    r = rejected(b'{"sampleId": "A", "absorbance": ' + literal + b"}")
    assert r.finding.field == "absorbance"
    assert "not NaN or Infinity" in r.finding.message


def test_the_original_field_name_is_named_when_the_original_shape_is_wrong() -> None:
    r = rejected(b'{"sampleId": "A", "absorbanceResult": "abc"}')
    assert r.finding.field == "absorbanceResult"
    assert r.finding.message == (
        "Rejected: field `absorbanceResult` must be a finite number, got the text 'abc'."
    )


def test_mismatched_spectrum_arrays_are_rejected_with_both_lengths(raw: RawFactory) -> None:
    r = rejected(raw(spectrum={"wavelengthNm": [220, 230, 240], "absorbance": [0.1, 0.2]}))
    assert r.finding.field == "spectrum"
    assert "wavelengthNm has 3 values but absorbance has 2" in r.finding.message
    assert "equal lengths" in r.finding.message


def test_absorbance_and_absorbance_result_that_differ_are_rejected() -> None:
    r = rejected(b'{"sampleId": "A", "absorbance": 0.1, "absorbanceResult": "0.2"}')
    assert "absorbance and absorbanceResult are both given and differ" in r.finding.message


def test_a_payload_over_256_kib_is_rejected_with_its_size() -> None:
    head = b'{"sampleId": "A", "absorbance": 0.1, "pad": "'
    raw = head + b"x" * (MAX_PAYLOAD_BYTES - len(head) - 1) + b'"}'
    r = rejected(raw)
    assert r.finding.message == (
        f"Rejected: payload is {MAX_PAYLOAD_BYTES + 1} bytes, over the {MAX_PAYLOAD_BYTES} limit."
    )
    assert (r.finding.value, r.finding.limit) == (MAX_PAYLOAD_BYTES + 1, MAX_PAYLOAD_BYTES)


def test_the_payload_limit_counts_utf8_bytes_not_characters() -> None:
    raw = '{"sampleId": "A", "absorbance": 0.1, "pad": "' + "é" * (MAX_PAYLOAD_BYTES // 2) + '"}'
    assert len(raw) < MAX_PAYLOAD_BYTES
    assert "over the" in rejected(raw).finding.message


def test_several_problems_are_reported_together(raw: RawFactory) -> None:
    message = rejected(raw(sampleId=..., absorbance="abc")).finding.message
    assert "`sampleId` is required but missing" in message
    assert "also: `absorbance` must be a finite number" in message


def test_a_reject_keeps_the_sample_id_when_it_is_readable(raw: RawFactory) -> None:
    assert rejected(raw(sampleId="W-7", absorbance="abc")).sample_id == "W-7"


@pytest.mark.parametrize("sample_id", ["W\r\n7", "", " ", 7, None, "x" * 129])
def test_a_reject_drops_a_sample_id_that_is_not_a_usable_identifier(
    raw: RawFactory, sample_id: object
) -> None:
    assert rejected(raw(sampleId=sample_id, absorbance="abc")).sample_id is None


def test_lone_surrogates_are_rejected_not_raised() -> None:
    assert rejected('{"sampleId": "A\ud800", "absorbance": 0.1}').sample_id is None
    assert (
        "not valid JSON" in rejected(b'{"sampleId": "A\\ud800", "absorbance": 0.1}').finding.message
    )


def test_deeply_nested_json_is_rejected_not_raised() -> None:
    assert "not valid JSON" in rejected(b'{"a":' * 5000 + b"1" + b"}" * 5000).finding.message
    assert "not valid JSON" in rejected(b"[" * 100_000).finding.message


# --- the published schema -----------------------------------------------------------------


def test_the_schema_documents_both_shapes_and_the_payload_limit() -> None:
    schema = result_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["sampleId"]
    assert schema["anyOf"] == [{"required": ["absorbance"]}, {"required": ["absorbanceResult"]}]
    fields = {"sampleId", "absorbance", "absorbanceResult", "sampleType", "method", "batchId"}
    fields |= {"instrumentId", "measuredAt", "wavelengthNm", "dilutionFactor", "spectrum"}
    assert fields <= set(schema["properties"])
    assert all(schema["properties"][name]["description"] for name in fields)
    assert "absorbanceResult" in schema["description"]
    assert str(MAX_PAYLOAD_BYTES) in schema["description"]
    assert schema["properties"]["sampleId"]["maxLength"] == 128
    assert '"gt"' not in json.dumps(schema)  # pydantic's name, not a JSON Schema keyword
    assert {"type": "number", "exclusiveMinimum": 0, "maximum": 1.7976931348623157e308} in schema[
        "properties"
    ]["wavelengthNm"]["anyOf"]
