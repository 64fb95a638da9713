"""The typer application; command modules register themselves on it."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="uvqc",
    help="Quality control for UV-Vis spectrophotometer results: check, record, notify.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
methods_app = typer.Typer(help="Inspect and validate QC method files.", no_args_is_help=True)
app.add_typer(methods_app, name="methods")
