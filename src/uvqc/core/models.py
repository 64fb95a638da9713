"""The result message that lands on the intake queue, as one validated pydantic model.

Two shapes are accepted: the original ``{"sampleId", "absorbanceResult": "0.45"}`` and the
current camelCase shape. Unknown fields are kept (for the record) and ignored by the rules.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_ID_LENGTH = 128
_CONTROL = frozenset(
    [*map(chr, range(0x00, 0x20)), *map(chr, range(0x7F, 0xA0)), "\u2028", "\u2029"]
)
# The same set as one character class: a regex scan is ~10x faster than a per-char loop.
_CONTROL_RE = re.compile("[" + re.escape("".join(sorted(_CONTROL))) + "]")
# Characters an identifier cannot carry to SQS message attributes or XML 1.0 (SES, SNS): the
# noncharacters U+FFFE/U+FFFF and lone surrogates (SQS's documented set: #x9 | #xA | #xD |
# #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF).
_UNCARRIABLE_RE = re.compile("[\ud800-\udfff\ufffe\uffff]")
_NOT_IDENTIFIER_RE = re.compile(
    "[" + re.escape("".join(sorted(_CONTROL))) + "\ud800-\udfff\ufffe\uffff]"
)
# An absorbance sent as text: a plain ASCII decimal ("0.45", "-.5e-3"), nothing float() allows
# beyond that ("1_0", non-ASCII digits).
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# measuredAt: an ISO 8601 / RFC 3339 date-time; the offset may be left out (local time).
_DATE_TIME = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]"
    r":[0-5][0-9](?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
)
# The largest finite IEEE 754 double: a JSON number beyond it cannot be judged.
MAX_FINITE = 1.7976931348623157e308


class SampleType(StrEnum):
    """What was in the cuvette; run-level QC treats each kind differently."""

    SAMPLE = "sample"
    BLANK = "blank"
    CALIBRATION_STANDARD = "calibration_standard"
    CHECK_STANDARD = "check_standard"
    DUPLICATE = "duplicate"
    SPIKE = "spike"


def check_identifier(value: str) -> str:
    """An identifier (sampleId, batchId, ...) as uvqc keeps it: leading and trailing
    whitespace trimmed (`" W-1 "` is `W-1`, so `uvqc trace W-1` finds it); not blank; no
    control characters; only characters SQS and XML can carry. Raises ValueError."""
    if _NOT_IDENTIFIER_RE.search(value):  # one scan for both kinds (the hot path)
        if _CONTROL_RE.search(value):
            raise ValueError("must not contain control characters (CR, LF, TAB, NUL, ...)")
        raise ValueError(
            "must not contain U+FFFE, U+FFFF or lone surrogates (SQS and XML cannot carry them)"
        )
    value = value.strip()
    if not value:
        raise ValueError("must not be empty or blank")
    return value


def _finite_number(value: Any) -> Any:
    """An absorbance: a JSON number, or a decimal number as text (the original shape)."""
    if type(value) is float and math.isfinite(value):  # the common case, checked first
        return value
    # bool is an int in Python and pydantic's lax mode would take it as 1.0: refuse it.
    if isinstance(value, bool) or value is None:
        raise ValueError("must be a finite number")
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER_TEXT.fullmatch(text):
            if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
                raise ValueError("must be a finite number, not NaN or Infinity")
            # float() also takes "1_0" and non-ASCII digits; a result must be a plain decimal.
            raise ValueError(f"must be a finite number, got the text {value[:40]!r}")
        value = float(text)
        if not math.isfinite(value):  # "1e400": a plain decimal, but beyond a double
            raise ValueError(
                f"must be a finite number, not one this large ({text[:40]} is beyond ±1.8e308)"
            )
        return value
    if isinstance(value, int):
        try:
            value = float(value)
        except OverflowError:  # a JSON integer with hundreds of digits
            raise ValueError("must be a finite number, not one this large") from None
    if isinstance(value, float) and math.isnan(value):
        raise ValueError("must be a finite number, not NaN or Infinity")
    if isinstance(value, float) and math.isinf(value):
        # JSON's 1e400 arrives as infinity, like the literal Infinity: name both.
        raise ValueError("must be a finite number, not NaN or Infinity (nor beyond ±1.8e308)")
    return value


Identifier = Annotated[
    str, Field(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(check_identifier)
]
# The absorbance: a number or a decimal text. Every other number must be a JSON number
# (strict: no text, no booleans), validated by pydantic-core itself (fast on 20,000-value
# spectra).
FiniteFloat = Annotated[float, BeforeValidator(_finite_number), Field(allow_inf_nan=False)]
NumberFloat = Annotated[float, Strict(), Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
# A position in a run: a JSON integer (not 3.0, "3" or true), 1 .. 1,000,000.
Position = Annotated[int, Field(ge=1, le=1_000_000, strict=True)]


class Spectrum(BaseModel):
    """A full scan: absorbance at each wavelength, two arrays of equal length."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wavelength_nm: list[PositiveFloat] = Field(alias="wavelengthNm", min_length=1, max_length=20000)
    absorbance: list[NumberFloat] = Field(min_length=1, max_length=20000)

    @model_validator(mode="after")
    def _equal_lengths(self) -> Spectrum:
        if len(self.wavelength_nm) != len(self.absorbance):
            raise ValueError(
                f"wavelengthNm has {len(self.wavelength_nm)} values but absorbance has "
                f"{len(self.absorbance)}: the arrays must have equal lengths"
            )
        return self


class ResultMessage(BaseModel):
    """One spectrophotometer result, validated. Field names follow the wire (camelCase)."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    sample_id: Identifier = Field(alias="sampleId")
    absorbance: FiniteFloat = Field(
        validation_alias=AliasChoices("absorbance", "absorbanceResult"),
        serialization_alias="absorbance",
    )
    sample_type: SampleType = Field(default=SampleType.SAMPLE, alias="sampleType")
    method: Identifier | None = None
    batch_id: Identifier | None = Field(default=None, alias="batchId")
    instrument_id: Identifier | None = Field(default=None, alias="instrumentId")
    measured_at: datetime | None = Field(default=None, alias="measuredAt")
    wavelength_nm: PositiveFloat | None = Field(default=None, alias="wavelengthNm")
    dilution_factor: PositiveFloat | None = Field(default=None, alias="dilutionFactor")
    spectrum: Spectrum | None = None
    # Spectra (docs/SPECTRA.md): the cuvette's path length and the dissolved organic carbon.
    path_length_cm: PositiveFloat | None = Field(default=None, alias="pathLengthCm")
    doc_mg_l: PositiveFloat | None = Field(default=None, alias="docMgL")
    # -- analytical runs (uvqc.runs, docs/RUNS.md): all optional ---------------------------
    sequence: Position | None = None
    batch_size: Position | None = Field(default=None, alias="batchSize")
    analyte: Identifier | None = None
    units: Identifier = "mg/L"
    nominal: NonNegativeFloat | None = None
    duplicate_of: Identifier | None = Field(default=None, alias="duplicateOf")
    spike_of: Identifier | None = Field(default=None, alias="spikeOf")
    spike_added: PositiveFloat | None = Field(default=None, alias="spikeAdded")

    @model_validator(mode="before")
    @classmethod
    def _one_absorbance(cls, data: Any) -> Any:
        if isinstance(data, dict) and "absorbance" in data and "absorbanceResult" in data:
            a = _absorbance_of(data, "absorbance")
            b = _absorbance_of(data, "absorbanceResult")
            if a != b:
                raise ValueError(
                    "absorbance and absorbanceResult are both given and differ "
                    f"({data['absorbance']!r:.40} != {data['absorbanceResult']!r:.40})"
                )
        return data

    @field_validator("measured_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        # pydantic would also take a number (or "1700000000") as a Unix time, and a date alone.
        if value is not None and (not isinstance(value, str) or not _DATE_TIME.fullmatch(value)):
            raise ValueError(
                f"must be an ISO 8601 date-time like 2026-11-27T08:41:07+01:00 (got {value!r:.40})"
            )
        return value


FIELD_ERROR = "uvqc_field"


def _absorbance_of(data: dict[str, Any], name: str) -> float:
    """One of the two absorbance fields as a number; an error names that field."""
    value = data[name]
    try:
        number = _finite_number(value)
    except ValueError as exc:
        reason = str(exc)
    else:
        if isinstance(number, float):
            return number
        kind = "an object" if isinstance(value, dict) else "an array"
        reason = f"must be a finite number, not {kind}"
    raise PydanticCustomError(FIELD_ERROR, "{reason}", {"field": name, "reason": reason})


_DESCRIPTIONS = {
    "sampleId": "The sample's identifier: 1-128 printable characters, no control characters.",
    "absorbance": "The measured absorbance (A): a finite number, or a decimal number as text.",
    "absorbanceResult": 'The original shape\'s name of `absorbance` (often a string: "0.45").',
    "sampleType": "What was in the cuvette.",
    "method": "The QC method to judge the result with (a name); the default one when absent.",
    "batchId": "The run/batch the result belongs to.",
    "instrumentId": "The spectrophotometer, e.g. cary60-01.",
    "measuredAt": "When it was measured (ISO 8601).",
    "wavelengthNm": "The wavelength of the reading, in nm.",
    "dilutionFactor": "The dilution factor applied before measuring (1 = undiluted).",
    "spectrum": "A full scan: wavelengths and absorbances, two arrays of equal length.",
    "pathLengthCm": "The cuvette's optical path length, in cm (default 1).",
    "docMgL": "Dissolved organic carbon of the sample, in mg C/L (for SUVA254).",
    "sequence": "Position in the run (`batchId`), an integer >= 1.",
    "batchSize": "Number of positions in the run, when the sender knows it.",
    "analyte": "What is measured, e.g. nitrate-N.",
    "units": "Concentration units of `nominal` and `spikeAdded` (default mg/L).",
    "nominal": "True concentration of a calibration_standard or check_standard, in units.",
    "duplicateOf": "For a duplicate: the sampleId of the original in the same run.",
    "spikeOf": "For a spike: the sampleId of the unspiked sample in the same run.",
    "spikeAdded": "For a spike: the concentration added, in units.",
}


_NOT_ID = r"\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff"
# `(?![\s\S])` is the end of the text in every regex dialect; `$` also matches before a final
# newline in Python's (which the `jsonschema` package uses).
_END = r"(?![\s\S])"
_IDENTIFIER_PATTERN = rf"^[^{_NOT_ID}]*[^{_NOT_ID}\s][^{_NOT_ID}]*{_END}"


def _json_schema_keywords(node: Any) -> None:
    """pydantic writes `gt` for a constraint behind a validator; JSON Schema spells it
    `exclusiveMinimum`. Every number is a finite double: |x| <= 1.7976931348623157e308."""
    if isinstance(node, dict):
        if "gt" in node:
            node["exclusiveMinimum"] = node.pop("gt")
        if node.get("type") == "number":
            node.setdefault("maximum", MAX_FINITE)
            if "exclusiveMinimum" not in node:
                node.setdefault("minimum", -MAX_FINITE)
        for value in node.values():
            _json_schema_keywords(value)
    elif isinstance(node, list):
        for value in node:
            _json_schema_keywords(value)


def result_schema() -> dict[str, Any]:
    """The JSON Schema of an intake message, as published by ``uvqc schema``."""
    schema = ResultMessage.model_json_schema(by_alias=True, mode="validation")
    _json_schema_keywords(schema)
    # Both shapes: `absorbance` or its alias `absorbanceResult`, a number or a decimal text.
    absorbance = {
        "anyOf": [
            {"type": "number", "minimum": -MAX_FINITE, "maximum": MAX_FINITE},
            {"type": "string", "pattern": rf"^\s*{_NUMBER_TEXT.pattern}\s*$"},
        ]
    }
    props = schema["properties"]
    props["absorbance"] = {"title": "Absorbance", **absorbance}
    props["absorbanceResult"] = {"title": "AbsorbanceResult", **absorbance}
    for name, text in _DESCRIPTIONS.items():
        props[name]["description"] = text
    props["measuredAt"]["anyOf"][0] = {"type": "string", "pattern": f"^{_DATE_TIME.pattern}{_END}"}
    # Identifiers: no control characters and not blank, as `check_identifier` checks.
    for name in (
        "sampleId",
        "method",
        "batchId",
        "instrumentId",
        "analyte",
        "units",
        "duplicateOf",
        "spikeOf",
    ):
        for branch in [props[name], *props[name].get("anyOf", [])]:
            if branch.get("type") == "string":
                branch["pattern"] = _IDENTIFIER_PATTERN
    schema["required"] = ["sampleId"]
    schema["anyOf"] = [{"required": ["absorbance"]}, {"required": ["absorbanceResult"]}]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://uvqc.example/schema/result-message.json"
    schema["title"] = "uvqc result message"
    schema["description"] = (
        "One UV-Vis result on the intake queue. `absorbanceResult` (the original shape, "
        "a string or a number) is an alias of `absorbance`. Unknown fields are kept and "
        f"ignored. Payloads over {MAX_PAYLOAD_BYTES} bytes are rejected."
    )
    return schema
