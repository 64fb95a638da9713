"""`uvqc report` and `uvqc charts` on the example nitrate run, through the real worker and
database, the report opened in headless Chromium."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.embedded.conftest import db_path, make_runtime, make_settings  # noqa: F401
from uvqc.cli import main
from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker

ROOT = Path(__file__).resolve().parents[2]
RUN_FILE = ROOT / "examples" / "runs" / "nitrate-run-2026-11-28.jsonl"
METHOD = ROOT / "examples" / "methods" / "nitrate-run.toml"
BATCH = "NO3-2026-11-28-A"
HOSTILE = "<script>document.title='pwned'</script>"


def messages() -> list[dict[str, Any]]:
    out = [json.loads(line) for line in RUN_FILE.read_text().splitlines()]
    for m in out:
        if m["sampleId"] == "W-1128-12":  # a sample bracketed by the failed CCV (flagged)
            m["sampleId"] = HOSTILE
            m["spectrum"] = {
                "wavelengthNm": [200.0 + i for i in range(101)],
                "absorbance": [1.2 / (1 + i / 20) for i in range(101)],
            }
    return out


@pytest.fixture
def stored(make_runtime: Callable[..., Runtime], db_path: Path) -> Path:  # noqa: F811
    rt = make_runtime(method=METHOD)
    rt.db.intake_port.submit([json.dumps(m).encode() for m in messages()])
    Worker(rt).run_until_idle()
    rt.close()
    return db_path


def test_the_report_of_the_example_run_holds_its_qc_and_opens_in_chromium(
    stored: Path, tmp_path: Path, capsys: Any, chromium: Callable[..., Any]
) -> None:
    out = tmp_path / "r" / "run.html"
    before = stored.read_bytes()
    assert main(["report", BATCH, "--db", str(stored), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert stored.read_bytes() == before  # read-only
    html = out.read_text(encoding="utf-8")
    assert "<script>document" not in html and "&lt;script&gt;document" in html
    assert "83.7" in html  # the failed CCV's recovery in the QC table
    assert html.count("data:image/svg+xml;base64,") >= 2 + 2  # 2 calibrations, charts, scan
    assert "http://" not in html.replace("http://www.w3.org", "")
    done = chromium(out, "--dump-dom", profile=tmp_path / "p")
    assert done.returncode == 0, done.stderr[-2000:]
    assert [ln for ln in done.stderr.splitlines() if "CONSOLE" in ln] == []
    assert f"<title>uvqc run {BATCH}</title>" in done.stdout
    shot = tmp_path / "shot.png"
    done = chromium(out, f"--screenshot={shot}", "--window-size=412,900", profile=tmp_path / "q")
    assert done.returncode == 0 and shot.stat().st_size > 5000


def test_a_period_report_and_its_errors(stored: Path, tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "period.html"
    args = ["--db", str(stored), "--out", str(out)]
    assert main(["report", "--since", "2020-01-01", "--until", "2099-12-31", *args]) == 0
    assert BATCH in out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["report", "NO-SUCH-RUN", *args]) == 1
    assert "no run 'NO-SUCH-RUN'" in capsys.readouterr().err
    assert main(["report", "--since", "2099-01-01", *args]) == 1
    assert "no runs began since 2099-01-01" in capsys.readouterr().err
    assert main(["report", "--since", "yesterday", *args]) == 2
    assert "is not a date" in capsys.readouterr().err
    assert main(["report", "--since", "2026-12-01", "--until", "2026-11-01", *args]) == 2
    assert "--until 2026-11-01 is not after --since 2026-12-01: swap them" in (
        capsys.readouterr().err
    )
    assert main(["report", *args]) == 2
    assert "give a run's BATCH_ID, or --since DATE" in capsys.readouterr().err
    assert main(["report", "--until", "2026-01-01", *args]) == 2
    assert "--until needs --since" in capsys.readouterr().err
    assert main(["report", BATCH, "--aws"]) == 2  # tests/aws/test_runs.py: with a table
    assert "UVQC_RUNS_TABLE" in capsys.readouterr().err
    assert main(["report", BATCH, "--db", str(tmp_path / "none.db")]) == 2


def test_charts_lists_each_series_with_its_state(stored: Path, capsys: Any) -> None:
    assert main(["charts", "--db", str(stored)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("nitrate-run  nitrate-N  cary60-01  check_standard_recovery")
    assert "establishing 6/20" in lines[0]
    assert main(["charts", "--db", str(stored), "--series", "blank_concentration"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert main(["charts", "--db", str(stored), "--method", "other"]) == 1
    assert "no runs of method 'other'; methods with runs: nitrate-run" in capsys.readouterr().err
    assert main(["charts", "--db", str(stored), "--since", "2099-01-01"]) == 0
    assert "no control charts for --since 2099-01-01" in capsys.readouterr().out
    assert main(["charts", "--db", str(stored), "--series", "nope"]) == 2


def test_a_report_to_a_device_or_a_pipe_is_written_to_it_never_renamed_over(
    stored: Path, tmp_path: Path, capsys: Any
) -> None:
    """The class of an export fault a fresh user found (a rename over /dev/null, as root):
    `--out` naming a device or a FIFO writes to it as it is."""
    import os
    import threading

    assert main(["report", "NO3-2026-11-28-A", "--db", str(stored), "--out", "/dev/null"]) == 0
    assert Path("/dev/null").is_char_device()
    fifo = tmp_path / "report.pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert main(["report", "NO3-2026-11-28-A", "--db", str(stored), "--out", str(fifo)]) == 0
    reader.join(timeout=60)
    assert fifo.is_fifo() and got and got[0].startswith(b"<!doctype html>")
    assert main(["report", "NO3-2026-11-28-A", "--db", str(stored), "--out", str(tmp_path)]) == 2


def test_results_below_the_detection_level_are_reported_as_less_than_the_reporting_level(
    stored: Path, tmp_path: Path, capsys: Any
) -> None:
    """As `uvqc runs show` and DOMAIN.md: "< RL" (0.1 mg/L here), never the measured value;
    between the detection and reporting levels "E value (RL 0.1)"."""
    out = tmp_path / "run.html"
    assert main(["report", BATCH, "--db", str(stored), "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    row = html[html.index("<td>W-1128-04</td>") :].split("</tr>", 1)[0]
    assert "&lt; 0.1</td>" in row and "0.035" not in row.split("</td>", 4)[-1]
    assert main(["runs", "show", BATCH, "--db", str(stored)]) == 0
    shown = capsys.readouterr().out
    assert any("W-1128-04" in ln and "< 0.1" in ln for ln in shown.splitlines())
