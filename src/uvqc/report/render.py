"""Render run reports to one self-contained HTML file: styles inline, figures as data: URIs
(no network needed to view it), printable to PDF from a browser, readable on a phone.

Jinja2 with autoescaping on every value: sample and batch IDs come from instruments, and
`<script>` in an ID must stay text. Figures are SVG (PNG in a digest's attached copy) loaded
through <img>, where a browser never runs scripts.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING, Any

from uvqc.core.display import display_safe
from uvqc.report.figures import RunFigures, run_figures
from uvqc.report.model import RunReport

if TYPE_CHECKING:
    from jinja2 import Environment


def visible(value: object) -> object:
    """Jinja finalize: strings with their bidirectional controls (U+202A-U+202E, U+2066-U+2069,
    U+200E/F, U+061C: they can make an ID read backwards, "Trojan Source") and other
    controls spelled out as \\uNNNN, like every text output of uvqc (uvqc.core.display);
    other values as they are."""
    return display_safe(value) if isinstance(value, str) else value


def data_uri(content: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


MIME = {"svg": "image/svg+xml", "png": "image/png"}


def _figures(drawn: RunFigures) -> dict[str, Any]:
    mime = MIME[drawn.fmt]
    return {
        "calibration": [data_uri(c, mime) for c in drawn.calibrations],
        "charts": [data_uri(c, mime) for c in drawn.charts],
        "spectra": "" if drawn.spectra is None else data_uri(drawn.spectra, mime),
    }


@cache
def _environment() -> Environment:
    """One Jinja2 environment per process: it keeps the compiled template (compiling it
    took longer than rendering a report)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("uvqc.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=visible,
    )


def render_html(
    runs: Sequence[RunReport],
    *,
    generated: datetime,
    title: str | None = None,
    figures: Sequence[RunFigures] | None = None,
) -> str:
    """The HTML document of one or more runs (a period report lists them in order).
    `figures`: each run's figures already drawn (run_figures; a digest passes its PNGs, so
    each figure is drawn once); default: SVG drawn here."""
    template = _environment().get_template("run.html.j2")
    if not runs:
        raise ValueError("a report needs at least one run")
    if figures is not None and len(figures) != len(runs):
        raise ValueError(f"{len(figures)} figure sets for {len(runs)} runs")
    drawn = [run_figures(run) for run in runs] if figures is None else list(figures)
    body = template.render(
        documents=[(run, _figures(d)) for run, d in zip(runs, drawn, strict=True)],
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
