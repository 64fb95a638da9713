"""Command-line interface. `main` is the only place errors become exit codes."""

from __future__ import annotations

import os
import sys

import typer

from uvqc.cli import check as _check  # noqa: F401  (registers commands)
from uvqc.cli import digest as _digest  # noqa: F401
from uvqc.cli import ingest as _ingest  # noqa: F401
from uvqc.cli import pipeline as _pipeline  # noqa: F401
from uvqc.cli import records as _records  # noqa: F401
from uvqc.cli import report as _report  # noqa: F401
from uvqc.cli import runs as _runs  # noqa: F401
from uvqc.cli.app import ClosedPipe, Interrupted, app
from uvqc.errors import UvqcError

__all__ = ["app", "main"]


EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer cut off by `head`
EXIT_INTERRUPTED = 130  # 128 + SIGINT


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of what is still buffered
    does not fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # no real stdout (captured in tests): nothing will be flushed to a pipe


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. Exit codes: 0 done (all passed), 1 flagged/rejected or a runtime error,
    2 usage error (typer) or UsageError, 130 interrupted (Ctrl-C), 141 the output pipe was
    closed by its reader (`uvqc check f | head`: the run was cut short, no verdict).
    UvqcError becomes `uvqc: error: ...` on stderr with its own exit code."""
    try:
        app(args=argv, prog_name="uvqc")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except ClosedPipe:
        _discard_stdout()
        return EXIT_CLOSED_PIPE
    except Interrupted:
        typer.echo("uvqc: interrupted", err=True)
        return EXIT_INTERRUPTED
    except UvqcError as exc:
        typer.echo(f"uvqc: error: {exc}", err=True)
        return exc.exit_code
    except BrokenPipeError:  # raised outside a command (help text)
        _discard_stdout()
        return EXIT_CLOSED_PIPE
    return 0
