"""Render run reports to one self-contained HTML file: styles inline, figures as data: URIs
(no network needed to view it), printable to PDF from a browser, readable on a phone.

Jinja2 with autoescaping on every value: sample and batch IDs come from instruments, and
`<script>` in an ID must stay text. Figures are SVG images loaded through <img>, where a
browser never runs scripts.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from importlib import metadata
from typing import Any

from uvqc.report.figures import calibration_figure, control_chart_figure, spectrum_figure
from uvqc.report.model import RunReport

# Bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E/F, U+061C) can make an ID
# read backwards ("Trojan Source"); every value shown is written with them made visible.
_BIDI = {
    ord(c): f"<U+{ord(c):04X}>"
    for c in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
}


def visible(value: object) -> object:
    """Jinja finalize: strings with their bidi controls spelled out; other values as they are."""
    return value.translate(_BIDI) if isinstance(value, str) else value


def data_uri(content: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def _figures(run: RunReport) -> dict[str, Any]:
    svg = "image/svg+xml"
    return {
        "calibration": [data_uri(calibration_figure(c), svg) for c in run.calibrations],
        "charts": [data_uri(control_chart_figure(c), svg) for c in run.charts],
        "spectra": data_uri(spectrum_figure(run.spectra), svg) if run.spectra else "",
    }


def render_html(runs: Sequence[RunReport], *, generated: datetime, title: str | None = None) -> str:
    """The HTML document of one or more runs (a period report lists them in order)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("uvqc.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=visible,
    )
    template = env.get_template("run.html.j2")
    if not runs:
        raise ValueError("a report needs at least one run")
    body = template.render(
        documents=[(run, _figures(run)) for run in runs],
        version=_version(),
        generated=generated.isoformat(timespec="seconds"),
        title=title or (f"uvqc run {runs[0].batch_id}" if len(runs) == 1 else "uvqc runs"),
    )
    return body


def _version() -> str:
    try:
        return metadata.version("uvqc")
    except metadata.PackageNotFoundError:
        return "dev"
