"""Generate examples/runs/nitrate-run-2026-11-28.jsonl: one realistic nitrate-N run.

64 positions (batchSize 64) on a Cary 60 at 220 nm, method examples/methods/nitrate-run.toml:
six calibration standards (0-5 mg N/L), ICV and ICB, samples with a CCV and a CCB after every
ten, two duplicates, two spikes, a closing CCV and CCB. The CCV at position 31 recovers
84 %: the analyst recalibrates (33-38), runs a new ICV/ICB and re-measures the ten samples it
bracketed (41-50) before going on. One sample reads above the highest standard, one below
the detection level, one between the detection and reporting levels, one was diluted 1:5.

    python examples/runs/make_nitrate_run.py   # rewrites the .jsonl next to this file
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

BATCH = "NO3-2026-11-28-A"
SIZE = 64
START = datetime(2026, 11, 28, 8, 0, tzinfo=timezone(timedelta(hours=1)))
SLOPE, INTERCEPT = 0.0982, 0.0041  # absorbance per mg N/L at 220 nm, 1 cm cuvette
STANDARDS = (0.0, 0.2, 0.5, 1.0, 2.0, 5.0)


def main() -> None:
    rng = random.Random(1128)
    rows: list[dict[str, Any]] = []

    def add(kind: str, sample_id: str, conc: float, **extra: Any) -> None:
        seq = len(rows) + 1
        a = INTERCEPT + SLOPE * conc / extra.get("dilutionFactor", 1) + rng.gauss(0, 0.0006)
        rows.append(
            {
                "sampleId": sample_id,
                "absorbance": round(a, 4),
                "sampleType": kind,
                "method": "nitrate-run",
                "batchId": BATCH,
                "sequence": seq,
                "batchSize": SIZE,
                "analyte": "nitrate-N",
                "units": "mg/L",
                "instrumentId": "cary60-01",
                "wavelengthNm": 220,
                "measuredAt": (START + timedelta(minutes=2 * seq)).isoformat(),
                **extra,
            }
        )

    def calibrate(tag: str) -> None:
        for x in STANDARDS:
            add("calibration_standard", f"STD-{tag}-{x:g}", x, nominal=x)
        add("check_standard", f"ICV-{tag}", 2.0, nominal=2.0)
        add("blank", f"ICB-{tag}", 0.0)

    concentrations = [round(rng.uniform(0.4, 4.2), 3) for _ in range(40)]
    concentrations[3] = 0.03  # below the detection level: "<"
    concentrations[5] = 0.08  # between MDL and RL: "E"
    ids = [f"W-1128-{i + 1:02d}" for i in range(40)]

    calibrate("A")  # 1-8
    for i in range(8):  # 9-16
        add("sample", ids[i], concentrations[i])
    add("duplicate", "W-1128-01-D", concentrations[0] * 1.03, duplicateOf=ids[0])  # 17
    add("spike", "W-1128-02-S", concentrations[1] + 1.0, spikeOf=ids[1], spikeAdded=1.0)  # 18
    add("check_standard", "CCV-1", 2.0, nominal=2.0)  # 19
    add("blank", "CCB-1", 0.0)  # 20
    for i in range(8, 18):  # 21-30
        add("sample", ids[i], concentrations[i])
    add("check_standard", "CCV-2", 1.68, nominal=2.0)  # 31: recovers ~84 %
    add("blank", "CCB-2", 0.0)  # 32
    calibrate("B")  # 33-40: recalibration, new ICV/ICB
    for i in range(8, 18):  # 41-50: re-measure what CCV-2 bracketed
        add("sample", ids[i], concentrations[i])
    add("check_standard", "CCV-3", 2.0, nominal=2.0)  # 51
    add("blank", "CCB-3", 0.0)  # 52
    for i in range(18, 26):  # 53-60
        extra = {"dilutionFactor": 5} if i == 20 else {}
        conc = 12.5 if i == 20 else (6.4 if i == 22 else concentrations[i])
        add("sample", ids[i], conc, **extra)
    add("duplicate", "W-1128-19-D", concentrations[18] * 0.97, duplicateOf=ids[18])  # 61
    add("spike", "W-1128-20-S", concentrations[19] + 1.0, spikeOf=ids[19], spikeAdded=1.0)  # 62
    add("check_standard", "CCV-4", 2.0, nominal=2.0)  # 63: closing CCV
    add("blank", "CCB-4", 0.0)  # 64
    assert len(rows) == SIZE
    out = Path(__file__).with_name("nitrate-run-2026-11-28.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
