"""Runs as an instrument sends them (wire messages), and as run QC sees them (RunResult).

The calibration is exact: absorbance = 0.01 + 0.1 x (x in mg/L), so every expected number is
computable by hand: a sample of absorbance A has concentration (A - 0.01) / 0.1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from uvqc.runs.config import RunConfig
from uvqc.runs.evaluate import RunResult

INTERCEPT, SLOPE = 0.01, 0.1
T0 = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
BATCH = "N-2026-11-27"
STANDARDS = (0.0, 0.5, 1.0, 2.0, 5.0)


def absorbance(x: float) -> float:
    return INTERCEPT + SLOPE * x


def config(**overrides: Any) -> RunConfig:
    data: dict[str, Any] = {
        "analyte": "nitrate-N",
        "units": "mg/L",
        "reporting_level": 0.1,
        "detection_level": 0.05,
    }
    data.update(overrides)
    return RunConfig.model_validate(data)


def msg(seq: int, sample_id: str, kind: str, a: float, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sampleId": sample_id,
        "absorbance": a,
        "sampleType": kind,
        "batchId": BATCH,
        "sequence": seq,
        "measuredAt": (T0 + timedelta(minutes=2 * seq)).isoformat(),
    }
    data.update({k: v for k, v in extra.items() if v is not None})
    return data


def passing_run(batch_size: int | None = None) -> list[dict[str, Any]]:
    """A clean 37-position run: 5 standards, ICV, ICB, 3 x (samples, CCV, CCB) with two
    duplicates and two spikes, closing CCV. Every QC passes."""
    out = [
        msg(i + 1, f"STD-{x:g}", "calibration_standard", absorbance(x), nominal=x)
        for i, x in enumerate(STANDARDS)
    ]
    out.append(msg(6, "ICV", "check_standard", absorbance(2.0), nominal=2.0))
    out.append(msg(7, "ICB", "blank", absorbance(0.01)))
    seq = 8
    for block in range(3):
        for i in range(8):
            sid = f"S{block}{i}"
            if block < 2 and i == 6:
                out.append(
                    msg(
                        seq,
                        f"DUP{block}",
                        "duplicate",
                        absorbance(1.02 + block),
                        duplicateOf=f"S{block}0",
                    )
                )
            elif block < 2 and i == 7:
                out.append(
                    msg(
                        seq,
                        f"SPK{block}",
                        "spike",
                        absorbance(2.0 + block),
                        spikeOf=f"S{block}0",
                        spikeAdded=1.0,
                    )
                )
            else:
                out.append(msg(seq, sid, "sample", absorbance(1.0 + block)))
            seq += 1
        out.append(msg(seq, f"CCV{block}", "check_standard", absorbance(2.0), nominal=2.0))
        out.append(msg(seq + 1, f"CCB{block}", "blank", absorbance(0.01)))
        seq += 2
    if batch_size is not None:
        for m in out:
            m["batchSize"] = batch_size
    return out


def result(
    data: dict[str, Any], *, record_id: str | None = None, received: datetime | None = None
) -> RunResult:
    measured = data.get("measuredAt")
    return RunResult(
        record_id=record_id or f"r-{data['sequence']}-{data['sampleId']}",
        sample_id=data["sampleId"],
        sample_type=data.get("sampleType", "sample"),
        absorbance=float(data["absorbance"]),
        received_at=received or T0 + timedelta(hours=1),
        sequence=data.get("sequence"),
        batch_size=data.get("batchSize"),
        nominal=data.get("nominal"),
        dilution_factor=float(data.get("dilutionFactor", 1.0)),
        duplicate_of=data.get("duplicateOf"),
        spike_of=data.get("spikeOf"),
        spike_added=data.get("spikeAdded"),
        measured_at=None if measured is None else datetime.fromisoformat(measured),
    )


def results(messages: list[dict[str, Any]]) -> list[RunResult]:
    return [result(m) for m in messages]


def replace_at(messages: list[dict[str, Any]], seq: int, **changes: Any) -> list[dict[str, Any]]:
    out = [dict(m) for m in messages]
    for m in out:
        if m["sequence"] == seq:
            m.update(changes)
    return out


def jsonl(messages: list[dict[str, Any]], method: str = "nitrate-run") -> str:
    return "".join(json.dumps({**m, "method": method}) + "\n" for m in messages)
