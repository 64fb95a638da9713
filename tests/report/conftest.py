"""A run report with everything in it, and a headless Chromium to open it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from uvqc.charts.westgard import Limits, Point, Violation
from uvqc.report.model import (
    Calibration,
    ChartSeries,
    QcRow,
    ResultRow,
    RunFinding,
    RunReport,
    ScanPlot,
    Standard,
)

HOSTILE = [
    "<script>document.title='pwned'</script>",
    '"><img src=x onerror="document.title=\'pwned\'">',
    "Zürichsee Süd Entnahmestelle 4 Tiefe 12 m",
    "W-1 $x^2$ {{ 7*7 }}",
    "\u202eevil",
]


def sample_report(batch: str = "2026-11-27-N1") -> RunReport:
    standards = tuple(
        Standard(f"STD {x}", x, 0.002 + 0.05 * x, x * 1.01, 1.0, passed=x != 0.5)
        for x in (0.5, 1.0, 2.0, 5.0, 10.0)
    )
    calibration = Calibration("linear", (0.002, 0.05), 0.99912, standards)
    results = tuple(
        ResultRow(
            i + 6,
            sid,
            "sample",
            0.123 + i / 100,
            2.4 + i,
            None,
            "pass" if i else "flag",
            ("bracketing_check_failed",) if i == 0 else (),
        )
        for i, sid in enumerate([*HOSTILE, *(f"S-{n}" for n in range(30))])
    )
    history = [
        Point(100 + ((i * 7) % 9 - 4) * 0.8, f"B{i // 2}", i % 2 + 1, f"CCV-{i}") for i in range(40)
    ]
    points = (*history, Point(84.0, batch, 31, HOSTILE[0]))
    chart = ChartSeries(
        "check standard recovery",
        "%",
        points,
        Limits(100.0, 2.5, "established", 20),
        batch,
        (Violation("1-3s", (40,)),),
    )
    return RunReport(
        batch_id=batch,
        status="final",
        verdict="flag",
        method="nitrate-run",
        analyte="nitrate-N",
        instrument=HOSTILE[1],
        calibrations=(calibration,),
        results=results,
        qc=(
            QcRow("check standard", 31, HOSTILE[0], 84.0, "%", "90-110 %", False),
            QcRow("blank", 12, "CCB-1", 0.01, "mg/L", "<= 0.05 mg/L", True),
        ),
        findings=(
            RunFinding(
                "check_standard_failed",
                "fail",
                "CCV at position 31 recovered 84 %: recalibrate and re-measure positions 22-30",
                tuple(HOSTILE[:3]),
            ),
        ),
        reanalysis=tuple(HOSTILE[:3]),
        charts=(chart,),
        spectra=(
            ScanPlot(
                HOSTILE[0],
                tuple(200.0 + i for i in range(300)),
                tuple(1.0 / (1 + i / 50) for i in range(300)),
            ),
        ),
    )


@pytest.fixture
def report() -> RunReport:
    return sample_report()


@pytest.fixture(scope="session")
def chromium() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run Debian's chromium headless on a file: returns the completed process (stdout holds
    --dump-dom output, stderr the console log). CI installs it (.ci/run); elsewhere the test
    is skipped when it is missing."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")

    def run(path: Path, *args: str, profile: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--enable-logging=stderr", "--v=0",
                f"--user-data-dir={profile}", *args, path.resolve().as_uri(),
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    return run
