"""No input crashes a reader; every number that comes out is finite; nothing is dropped
silently (every sample is a message or a refusal with a reason)."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uvqc.ingest.detect import FORMATS
from uvqc.ingest.results import Options, ingest_bytes

from .conftest import FIXTURES

SEEDS = [p.read_bytes() for p in sorted(FIXTURES.iterdir()) if p.suffix != ".py"]
OPTIONS = Options(wavelength_nm=220.0)


def _finite(node: Any) -> bool:
    if isinstance(node, float):
        return math.isfinite(node)
    if isinstance(node, dict):
        return all(_finite(v) for v in node.values())
    if isinstance(node, list):
        return all(_finite(v) for v in node)
    return True


def _check(data: bytes) -> None:
    out = ingest_bytes(data, "fuzz.csv", options=OPTIONS)
    if out.file_refusal is not None:
        assert out.refusal_kind and out.messages == []
        return
    for raw in out.messages:
        msg = json.loads(raw)  # strict JSON: NaN/Infinity would be written as bare tokens
        assert _finite(msg)
        assert isinstance(msg["absorbance"], float | int)
    for refusal in out.refused:
        assert refusal.reason


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash(data: bytes) -> None:
    _check(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_real_layouts_never_crash_and_give_only_finite_numbers(
    seed: bytes, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(seed)))
    insert = data.draw(
        st.sampled_from(
            [
                b"",
                b"NaN",
                b"inf",
                b"1e400",
                b",",
                b"\t",
                b"\r",
                b"\n\n",
                b"-",
                b"0,0E00",
                b"\xff\xfe",
                b'"',
            ]
        )
    )
    drop = data.draw(st.integers(0, 20))
    _check(seed[:cut] + insert + seed[cut + drop :])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(190, 1100, allow_nan=False),
            st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-5, 5)),
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([",", "\t", ";", " "]),
    st.booleans(),
)
def test_two_column_text_of_any_numbers(
    points: list[tuple[float, float]], sep: str, comma: bool
) -> None:
    def fmt(v: float) -> str:
        text = repr(v)
        return text.replace(".", ",") if comma and sep != "," else text

    body = "\n".join(f"{fmt(x)}{sep}{fmt(y)}" for x, y in points)
    out = ingest_bytes(body.encode(), "two.txt", options=OPTIONS)
    _check(body.encode())
    if all(math.isfinite(y) for _, y in points) and out.file_refusal is None:
        # every row is either in the spectrum or the sample was refused with a reason
        for raw in out.messages:
            assert len(json.loads(raw)["spectrum"]["wavelengthNm"]) == len(points)


FORCED = [f for f in FORMATS if f not in {"auto", "table"}]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FORCED), st.sampled_from(SEEDS), st.data())
def test_a_forced_reader_on_any_file_refuses_instead_of_crashing(
    fmt: str, seed: bytes, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(seed)))
    keep = data.draw(st.integers(0, len(seed)))
    blob = seed[:cut] + seed[keep:]
    out = ingest_bytes(blob, "forced.csv", options=OPTIONS, fmt=fmt)
    for raw in out.messages:
        assert _finite(json.loads(raw))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FORCED), st.text(max_size=300))
def test_a_forced_reader_on_any_text_refuses_instead_of_crashing(fmt: str, text: str) -> None:
    ingest_bytes(text.encode("utf-8", "surrogatepass"), "t.txt", options=OPTIONS, fmt=fmt)
