"""The run report: one self-contained HTML file, opened in a real headless Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.report.conftest import HOSTILE, sample_report
from uvqc.report.figures import Format, run_figures
from uvqc.report.model import RunReport
from uvqc.report.render import MIME, render_html

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_every_value_from_an_instrument_stays_text(report: RunReport) -> None:
    html = render_html([report], generated=NOW)
    assert "<script" not in html  # the report itself needs none, so any would be injected
    assert "&lt;script&gt;document.title=" in html
    assert "onerror=" not in html.replace("onerror=&#34;", "").replace("onerror=&quot;", "")
    assert "{{ 7*7 }}" in html  # not evaluated as a template


def test_the_report_needs_no_network(report: RunReport) -> None:
    html = render_html([report], generated=NOW)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert html.count('src="data:image/svg+xml;base64,') == 3  # calibration, chart, spectra


def test_the_same_run_renders_the_same_bytes(report: RunReport) -> None:
    assert render_html([report], generated=NOW) == render_html([sample_report()], generated=NOW)


def test_chromium_opens_the_report_without_errors_and_runs_no_injected_script(
    tmp_path: Path, report: RunReport, chromium: Callable[..., Any]
) -> None:
    page = tmp_path / "run.html"
    page.write_text(render_html([report], generated=NOW), encoding="utf-8")
    done = chromium(page, "--dump-dom", profile=tmp_path / "p1")
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert console == []
    assert "<title>uvqc run 2026-11-27-N1</title>" in done.stdout
    assert "pwned" not in done.stdout.split("</head>")[0]
    assert '<img src="x"' not in done.stdout


@pytest.mark.parametrize("fmt", ["svg", "png"])  # png: the copy a digest attaches
def test_chromium_screenshots_a_page_that_is_not_blank_on_a_desktop_and_a_phone(
    tmp_path: Path, report: RunReport, chromium: Callable[..., Any], fmt: Format
) -> None:
    page = tmp_path / "run.html"
    html = render_html([report], generated=NOW, figures=[run_figures(report, fmt)])
    assert html.count(f'src="data:{MIME[fmt]};base64,') == 3
    page.write_text(html, encoding="utf-8")
    for name, size in (("desktop", "1200,2400"), ("phone", "390,844")):
        shot = tmp_path / f"{name}.png"
        done = chromium(page, f"--screenshot={shot}", f"--window-size={size}",
                        "--hide-scrollbars", profile=tmp_path / name)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        with Image.open(shot) as image:
            colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
        assert len(colours) > 50, f"{name} screenshot looks blank"


def test_chromium_prints_the_report_to_pdf(
    tmp_path: Path, report: RunReport, chromium: Callable[..., Any]
) -> None:
    page = tmp_path / "run.html"
    page.write_text(render_html([report], generated=NOW), encoding="utf-8")
    pdf = tmp_path / "run.pdf"
    done = chromium(page, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", profile=tmp_path / "p")
    assert done.returncode == 0, done.stderr[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert data.count(b"/Type /Page") >= 2 or data.count(b"/Type/Page") >= 2


def test_a_period_report_holds_every_run(report: RunReport) -> None:
    other = sample_report("2026-11-28-N1")
    html = render_html([report, other], generated=NOW, title="uvqc runs 2026-11-27 to 2026-11-28")
    assert html.count("<article") == 2
    assert "2026-11-28-N1" in html and "2026-11-27-N1" in html


def test_hostile_ids_are_all_in_the_page_as_text(report: RunReport) -> None:
    from html import unescape

    text = unescape(render_html([report], generated=NOW))
    for sample_id in HOSTILE:
        assert sample_id.replace("\u202e", "\\u202e") in text


def test_bidirectional_overrides_are_spelled_out(report: RunReport) -> None:
    html = render_html([report], generated=NOW)
    assert "\u202e" not in html
    assert "\\u202eevil" in html


def test_a_chart_whose_points_do_not_vary_says_no_spread_not_wait(report: RunReport) -> None:
    """12 check standards all at 100 % with establish_points 5: no limits will ever be
    established from them; the report says so instead of "not established yet"."""
    from uvqc.charts.config import ControlChartConfig
    from uvqc.charts.series import chart_state
    from uvqc.charts.westgard import Point
    from uvqc.report.history import _drawn

    points = [Point(100.0, "EQ", i + 1, f"CCV-{i}") for i in range(12)]
    state = chart_state(
        "check_standard_recovery", points, ControlChartConfig(establish_points=5), batch_id="EQ"
    )
    html = render_html([replace(report, charts=(_drawn(state, "%", "EQ"),))], generated=NOW)
    assert "no spread" in html and "not established yet" not in html
