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
    model_validator,
)

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_ID_LENGTH = 128
_CONTROL = frozenset(
    [*map(chr, range(0x00, 0x20)), *map(chr, range(0x7F, 0xA0)), "\u2028", "\u2029"]
)
# The same set as one character class: a regex scan is ~10x faster than a per-char loop.
_CONTROL_RE = re.compile("[" + re.escape("".join(sorted(_CONTROL))) + "]")
# An absorbance sent as text: a plain ASCII decimal ("0.45", "-.5e-3"), nothing float() allows
# beyond that ("1_0", non-ASCII digits).
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class SampleType(StrEnum):
    """What was in the cuvette; run-level QC treats each kind differently."""

    SAMPLE = "sample"
    BLANK = "blank"
    CALIBRATION_STANDARD = "calibration_standard"
    CHECK_STANDARD = "check_standard"
    DUPLICATE = "duplicate"
    SPIKE = "spike"


def _identifier(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or blank")
    if _CONTROL_RE.search(value):
        raise ValueError("must not contain control characters (CR, LF, TAB, NUL, ...)")
    return value


def _finite_number(value: Any) -> Any:
    if type(value) is float and math.isfinite(value):  # the common case, checked first
        return value
    # bool is an int in Python and pydantic's lax mode would take it as 1.0: refuse it.
    if isinstance(value, bool) or value is None:
        raise ValueError("must be a finite number")
    if isinstance(value, str):
        text = value.strip()
        try:
            number: float | None = float(text)
        except ValueError:
            number = None
        # float() also takes "1_0" and non-ASCII digits; a result must be a plain decimal.
        if number is None or (math.isfinite(number) and not _NUMBER_TEXT.fullmatch(text)):
            raise ValueError(f"must be a finite number, got the text {value[:40]!r}")
        value = number
    elif isinstance(value, int):
        try:
            value = float(value)
        except OverflowError:  # a JSON integer with hundreds of digits
            raise ValueError("must be a finite number, not one this large") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number, not NaN or Infinity")
    return value


Identifier = Annotated[
    str, Field(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(_identifier)
]
FiniteFloat = Annotated[float, BeforeValidator(_finite_number), Field(allow_inf_nan=False)]
PositiveFloat = Annotated[FiniteFloat, Field(gt=0)]
NonNegativeFloat = Annotated[FiniteFloat, Field(ge=0)]
# A position in a run: a JSON integer (not 3.0, "3" or true), 1 .. 1,000,000.
Position = Annotated[int, Field(ge=1, le=1_000_000, strict=True)]


class Spectrum(BaseModel):
    """A full scan: absorbance at each wavelength, two arrays of equal length."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wavelength_nm: list[FiniteFloat] = Field(alias="wavelengthNm", min_length=1, max_length=20000)
    absorbance: list[FiniteFloat] = Field(min_length=1, max_length=20000)

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
            a = _finite_number(data["absorbance"])
            b = _finite_number(data["absorbanceResult"])
            if a != b:
                raise ValueError(
                    "absorbance and absorbanceResult are both given and differ "
                    f"({data['absorbance']!r} != {data['absorbanceResult']!r})"
                )
        return data


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


_IDENTIFIER_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*\S[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"


def _json_schema_keywords(node: Any) -> None:
    """pydantic writes `gt` for a constraint behind a validator; JSON Schema spells it
    `exclusiveMinimum`."""
    if isinstance(node, dict):
        if "gt" in node:
            node["exclusiveMinimum"] = node.pop("gt")
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
            {"type": "number"},
            {"type": "string", "pattern": rf"^\s*{_NUMBER_TEXT.pattern}\s*$"},
        ]
    }
    props = schema["properties"]
    props["absorbance"] = {"title": "Absorbance", **absorbance}
    props["absorbanceResult"] = {"title": "AbsorbanceResult", **absorbance}
    for name, text in _DESCRIPTIONS.items():
        props[name]["description"] = text
    # Identifiers: no control characters and not blank, as `_identifier` checks.
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
