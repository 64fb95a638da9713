"""A bench note, not a proposal to switch: how fast is uvqc's validator (pydantic v2,
`ResultMessage.model_validate_json`, the schema's single source of truth) against msgspec
on the same lines, with a msgspec Struct mirroring the schema's main constraints?

In one process, interleaved, repeated: per line, orjson.loads (the floor), msgspec decode +
validate, pydantic validate, and uvqc's whole per-line check (parse + judge + verdict JSON).
The msgspec Struct here is a measurement prototype: it covers the types, lengths, aliases
and the enum, but not all of uvqc's rules (number-as-text syntax, control characters,
absorbance/absorbanceResult agreement), so it is an upper bound on what msgspec would gain.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec
import orjson

from bench.common import result_line


class _SampleType(StrEnum):
    SAMPLE = "sample"
    BLANK = "blank"
    CALIBRATION_STANDARD = "calibration_standard"
    CHECK_STANDARD = "check_standard"
    DUPLICATE = "duplicate"
    SPIKE = "spike"


_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_Pos = Annotated[float, msgspec.Meta(gt=0)]


class _Message(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=False):
    sample_id: _Id
    absorbance: float | str | None = None
    absorbance_result: float | str | None = None
    sample_type: _SampleType = _SampleType.SAMPLE
    method: _Id | None = None
    batch_id: _Id | None = None
    instrument_id: _Id | None = None
    measured_at: datetime | None = None
    wavelength_nm: _Pos | None = None
    dilution_factor: _Pos | None = None


def _msgspec_decoder() -> Callable[[bytes], Any]:
    decoder = msgspec.json.Decoder(_Message)

    def decode(line: bytes) -> Any:
        message = decoder.decode(line)
        value = message.absorbance if message.absorbance is not None else message.absorbance_result
        return float(value) if value is not None else None

    return decode


def measure(lines: list[bytes], rounds: int) -> dict[str, Any]:
    from uvqc.core.methods import MethodBook
    from uvqc.core.models import ResultMessage
    from uvqc.core.parse import parse_message
    from uvqc.pipeline.check import Incoming, judge_batch  # noqa: F401  (warm imports)

    methods = MethodBook.from_paths([])

    def uvqc_check(line: bytes) -> Any:
        from uvqc.core.engine import judge

        judgement, _ = judge(line, methods)
        return judgement

    candidates: dict[str, Callable[[bytes], Any]] = {
        "orjson.loads (floor)": orjson.loads,
        "msgspec Struct decode": _msgspec_decoder(),
        "pydantic model_validate_json": ResultMessage.model_validate_json,
        "uvqc parse_message": parse_message,
        "uvqc judge (parse + rules)": uvqc_check,
    }
    samples: dict[str, list[float]] = {k: [] for k in candidates}
    names = list(candidates)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = candidates[name]
            start = time.perf_counter()
            for line in lines:
                fn(line)
            samples[name].append(len(lines) / (time.perf_counter() - start))
    return {
        name: {"per_second": statistics.median(v), "min": min(v), "max": max(v)}
        for name, v in samples.items()
    }


def run(n: int = 50_000, rounds: int = 5) -> dict[str, Any]:
    rng = random.Random(13)
    lines = [result_line(rng, i).encode() for i in range(n)]
    return {"lines": n, "rounds": rounds, "rates": measure(lines, rounds)}


def render(data: dict[str, Any]) -> list[str]:
    rates = data["rates"]
    pyd = rates["pydantic model_validate_json"]["per_second"]
    out = [
        "### Validator: pydantic against msgspec (a note)",
        "",
        f"In one process, {data['lines']:,} generated lines, {data['rounds']} interleaved "
        "rounds (median, min-max lines/s; `bench/validators.py`). The msgspec Struct mirrors "
        "the schema's types, lengths, aliases and enum but not all of uvqc's rules, so its "
        "figure is an upper bound for msgspec.",
        "",
        "| per line | lines/s | min-max | vs pydantic |",
        "|---|---:|---:|---:|",
    ]
    for name, r in rates.items():
        out.append(
            f"| {name} | {r['per_second']:,.0f} | {r['min']:,.0f}-{r['max']:,.0f} | "
            f"{r['per_second'] / pyd:.2f}x |"
        )
    ms = rates["msgspec Struct decode"]["per_second"]
    out += [
        "",
        f"msgspec validates {ms / pyd:.1f}x as fast as pydantic here. The validator was not "
        "switched: pydantic's model is the one schema that `uvqc schema`, the docs and every "
        "reject reason come from, and its custom rules (numbers as text, control characters, "
        "the two absorbance names agreeing) would have to be rewritten for msgspec, with the "
        "risk of two validators disagreeing; the figure is here for that decision.",
    ]
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(20_000, 3), indent=2))
