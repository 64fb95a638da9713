"""Command-line interface. `main` is the only place errors become exit codes."""

from __future__ import annotations

import sys

import typer

from uvqc.cli import check as _check  # noqa: F401  (registers commands)
from uvqc.cli import ingest as _ingest  # noqa: F401
from uvqc.cli import pipeline as _pipeline  # noqa: F401
from uvqc.cli.app import app
from uvqc.errors import UvqcError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. Usage errors exit 2 (typer); UvqcError becomes `uvqc: error: ...` on
    stderr with its own exit code; a closed pipe (`| head`) ends quietly."""
    try:
        app(args=argv, prog_name="uvqc")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except UvqcError as exc:
        typer.echo(f"uvqc: error: {exc}", err=True)
        return exc.exit_code
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    return 0
