"""Westgard violations as run findings on the embedded runtime: runs through the real worker,
limits established from the first 20 check-standard recoveries, then a 1-3s rejection and a
1-2s warning, each e-mailed once; the report and `uvqc charts` show the same."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

from tests.runs.builder import T0, absorbance, passing_run, replace_at
from uvqc.cli import main
from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker

METHOD = """
name = "charted"
[run]
analyte = "nitrate-N"
reporting_level = 0.1
detection_level = 0.05
[run.control_charts]
establish_points = 20
"""
# check-standard recoveries (%) at positions 6 (ICV), 16, 26, 36 (CCVs) of each run
ESTABLISH = [
    [98, 101, 99, 102],
    [101, 99, 102, 98],
    [99, 102, 98, 101],
    [102, 98, 101, 99],
    [100, 100.5, 99.5, 100],
]  # mean 100 %, SD 1.46 %
REJECT = [95, 101, 99, 100]  # ICV z = -3.4: 1-3s
WARN = [103.5, 99, 101, 100]  # ICV z = +2.4: 1-2s


def run_lines(index: int, recoveries: list[float]) -> list[bytes]:
    messages = passing_run(batch_size=37)
    for seq, rec in zip((6, 16, 26, 36), recoveries, strict=True):
        messages = replace_at(messages, seq, absorbance=absorbance(2.0 * rec / 100))
    out = []
    for m in messages:
        measured = T0 + timedelta(days=index, minutes=2 * m["sequence"])
        m.update(
            batchId=f"N-{index:02d}",
            method="charted",
            instrumentId="cary60-01",
            measuredAt=measured.isoformat(),
        )
        out.append(json.dumps(m).encode())
    return out


def chart_mails(outbox: Path) -> list[Any]:
    mails = [message_from_bytes(p.read_bytes()) for p in sorted(outbox.glob("*.eml"))]
    return [m for m in mails if "control_chart" in (m["Subject"] or "")]


def test_violations_become_run_findings_emailed_once(
    make_runtime: Callable[..., Runtime], tmp_path: Path, db_path: Path, capsys: Any
) -> None:
    method = tmp_path / "charted.toml"
    method.write_text(METHOD)
    rt = make_runtime(method=method)
    assert rt.runs is not None
    for i, recoveries in enumerate([*ESTABLISH, REJECT, WARN]):
        rt.db.intake_port.submit(run_lines(i, recoveries))
        Worker(rt).run_until_idle()
    for i in range(5):
        doc = rt.runs.show(f"N-{i:02d}")
        assert doc is not None and doc["status"] == "final" and doc["findings"] == []
    rejected = rt.runs.show("N-05")
    assert rejected is not None
    (finding,) = rejected["findings"]
    assert finding["code"] == "control_chart" and finding["severity"] == "fail"
    assert "Westgard 1-3s" in finding["message"]
    assert "ICV at position 6 = 95 %" in finding["message"]
    assert finding["affected"] == ["ICV"]
    warned = rt.runs.show("N-06")
    assert warned is not None
    (warning,) = warned["findings"]
    assert warning["severity"] == "suspect" and "Westgard 1-2s" in warning["message"]
    mails = chart_mails(tmp_path / "outbox")
    assert sorted(m["Subject"] for m in mails) == [
        "Run N-05: control_chart",
        "Run N-06: control_chart",
    ]
    by_subject = {m["Subject"]: m.get_payload() for m in mails}
    assert "Westgard 1-3s" in by_subject["Run N-05: control_chart"]
    # a redelivered run decides the same: nothing new is sent, the findings stay as they are
    rt.db.intake_port.submit(run_lines(5, REJECT))
    Worker(rt).run_until_idle()
    assert len(chart_mails(tmp_path / "outbox")) == 2
    assert rt.runs.show("N-05")["findings"] == rejected["findings"]  # type: ignore[index]
    rt.close()

    out = tmp_path / "r.html"
    assert main(["report", "N-05", "--db", str(db_path), "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "Westgard 1-3s" in html and "control_chart" in html
    capsys.readouterr()
    assert main(["charts", "--db", str(db_path), "--series", "check_standard_recovery"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "points 28" in line and "(established)" in line
    assert "warning" in line and "last violation 1-2s at N-06 #6 ICV" in line
