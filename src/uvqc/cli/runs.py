"""`uvqc runs list | show`: analytical runs, their status, calibration and decisions.

The embedded runtime by default (`--db`); `--aws` reads the DynamoDB runs table through
`uvqc.aws.ops`, imported lazily. Both keep the same decision document (uvqc.runs.report),
so both print the same thing.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Protocol, cast

import typer

from uvqc.cli.app import app
from uvqc.cli.pipeline import AwsOption, DbOption, Format, _aws_ops
from uvqc.core.display import display_lines, display_safe
from uvqc.errors import UvqcError
from uvqc.local.runtime import Database
from uvqc.runs.report import document_text, public
from uvqc.settings import Settings, load_settings

runs_app = typer.Typer(
    help="Analytical runs: calibration, concentrations, run QC.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")


class RunSummaryLike(Protocol):
    batch_id: str
    status: str
    verdict: str
    positions: int
    results: int
    batch_size: int | None
    flagged: int
    findings: int

    def to_dict(self) -> dict[str, Any]: ...


class RunReader(Protocol):
    """What `uvqc runs` reads: the SQLite run store or the DynamoDB runs table."""

    def list_runs(self) -> list[Any]: ...

    def show(self, batch_id: str) -> dict[str, Any] | None: ...


@contextmanager
def _reader(settings: Settings, aws: bool) -> Iterator[RunReader]:
    if aws:
        yield cast(RunReader, _aws_ops("--aws").run_reader(settings))
        return
    from uvqc.adapters.sqlite.db import reading
    from uvqc.adapters.sqlite.runs import SqliteRunStore
    from uvqc.core.methods import MethodBook

    # Read-only, like trace: a missing, empty, foreign or older file is exit 2, never created.
    with reading(settings.db), Database.from_settings(settings, access="read") as database:
        yield SqliteRunStore(database.conn, MethodBook())


@runs_app.command("list")
def runs_list(
    db: DbOption = None,
    aws: AwsOption = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
) -> None:
    """Runs with their status (open/final), positions, flagged results and verdict."""
    with _reader(load_settings(db=db), aws) as reader:
        found = cast(list[RunSummaryLike], reader.list_runs())
    if fmt is Format.json:
        typer.echo(json.dumps([r.to_dict() for r in found], indent=2, ensure_ascii=False))
        return
    if not found:
        typer.echo("no runs")
        return
    for r in found:
        size = f"/{r.batch_size}" if r.batch_size else ""
        typer.echo(
            f"{display_safe(r.batch_id)}  {r.status:<5}  {r.verdict.upper():<4}  "
            f"positions {r.positions}{size}"
            f"  results {r.results}  flagged {r.flagged}  run findings {r.findings}"
        )


def _unspelled(text: str) -> str | None:
    """`text` with the \\xNN / \\uNNNN escapes that uvqc.core.display writes turned back into
    characters (None when it has none, or they do not decode)."""
    if not re.search(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})", text):
        return None
    try:
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        return None


@runs_app.command("show")
def runs_show(
    batch_id: Annotated[str, typer.Argument(help="The run's batchId.")],
    db: DbOption = None,
    aws: AwsOption = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
) -> None:
    """A run's calibration, every position with its concentration, and its decisions."""
    with _reader(load_settings(db=db), aws) as reader:
        document = reader.show(batch_id)
        spelled = _unspelled(batch_id)
        if document is None and spelled is not None:
            document = reader.show(spelled)  # an ID as `runs list` spells it out (\u202e)
    if document is None:
        raise UvqcError(f"no run {display_safe(batch_id)!r}")
    if fmt is Format.json:
        typer.echo(json.dumps(public(document), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(display_lines(document_text(document)))
        sys.stdout.flush()
