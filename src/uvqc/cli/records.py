"""`uvqc export` and `uvqc prune`: records out of the embedded database, and old exported
records removed from it (the logic is in adapters/sqlite/housekeeping.py)."""

from __future__ import annotations

import io
import os
import stat
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer

from uvqc.adapters.sqlite import housekeeping
from uvqc.cli.app import app
from uvqc.errors import DatabaseFileError, UsageError, UvqcError
from uvqc.housekeeping.export import parse_bound
from uvqc.local.runtime import Database
from uvqc.settings import Settings, load_settings

DbOption = Annotated[
    Path | None, typer.Option("--db", help="SQLite database file; env UVQC_DB.", show_default=False)
]


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


def _existing_db(settings: Settings) -> Database:
    """The database to export from or prune: never created here (a mistyped --db, or a
    0-byte file, is an error, exit 2)."""
    path = settings.db
    if not path.is_file() or path.stat().st_size == 0:
        what = "an empty file" if path.is_file() else "no database"
        raise DatabaseFileError(
            f"{what} at {path}: check --db / UVQC_DB (export and prune never create one)"
        )
    return Database.from_settings(settings, access="existing")


@app.command()
def export(
    db: DbOption = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Records received at or after (date or ISO date-time, UTC)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Records received before (date or ISO date-time, UTC)."),
    ] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="Output format.")] = (
        ExportFormat.jsonl
    ),
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Write records (every field, findings and raw payload included) as JSON Lines or CSV,
    and note the export so that `uvqc prune` may drop them later."""
    low = parse_bound(since, option="--since") if since else None
    high = parse_bound(until, option="--until") if until else None
    if low is not None and high is not None and low >= high:
        raise UsageError(f"--since {since} is not before --until {until}: nothing to export")
    settings = load_settings(db=db)
    if out is not None and out.exists() and not out.is_file():
        raise UsageError(
            f"--out {out} is not a regular file: an export is the evidence `uvqc prune` relies "
            "on, so it is written to a file (to stream the records, leave out --out and read "
            "stdout; such an export is not counted by prune)"
        )
    with _existing_db(settings) as database:
        try:
            if out is None:
                counted = _is_regular_file(sys.stdout)
                summary, entry = housekeeping.export_records(
                    database.conn,
                    database.store,
                    sys.stdout,
                    fmt=fmt.value,
                    since=low,
                    until=high,
                    destination="<stdout>",
                    note=counted,
                )
            else:
                partial = out.with_name(out.name + ".partial")
                with partial.open("w", encoding="utf-8", newline="") as handle:
                    summary, entry = housekeeping.export_records(
                        database.conn,
                        database.store,
                        handle,
                        fmt=fmt.value,
                        since=low,
                        until=high,
                        destination=str(out.resolve()),
                    )
                partial.replace(out)
        except OSError as exc:
            where = out if out is not None else "stdout"
            raise UvqcError(
                f"cannot write {where}: {exc.strerror or exc}; nothing was noted as exported"
            ) from exc
    covered = (
        f"received {entry.covered_from or 'from the beginning'} .. {entry.covered_to} to "
        f"{entry.destination} (export #{entry.id})"
        if entry is not None
        else "to stdout, which is not a file: not noted as an export, so `uvqc prune` does "
        "not count it (use --out FILE for an export prune may rely on)"
    )
    typer.echo(
        f"exported {summary.records} record(s) ({summary.bytes:,} bytes, sha256 "
        f"{summary.sha256[:16]}...) {covered}",
        err=True,
    )


def _is_regular_file(stream: TextIO) -> bool:
    """Whether a stream is a regular file (`> file`), not a pipe, a terminal or a device."""
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, io.UnsupportedOperation):
        return False


@app.command()
def prune(
    before: Annotated[
        str,
        typer.Option(
            "--before", help="Drop records received before this date (UTC).", show_default=False
        ),
    ],
    db: DbOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Also drop records no export has covered.")
    ] = False,
) -> None:
    """Drop records received before --before that an export covered (`uvqc export`); refuses,
    dropping nothing, if any was never exported, unless --force."""
    cutoff = parse_bound(before, option="--before")
    settings = load_settings(db=db)
    with _existing_db(settings) as database:
        report = housekeeping.prune_records(database.conn, cutoff, force=force)
        if report.not_exported and not force:
            _, first = housekeeping.not_exported_before(database.conn, cutoff)
            raise UvqcError(
                f"{report.not_exported} record(s) received before {cutoff} (the first at "
                f"{first}) were never exported; nothing was dropped. Export them first "
                f"(`uvqc export --until {before} --out FILE`), or pass --force to drop them "
                "anyway"
            )
    note = f", {report.not_exported} of them never exported (--force)" if force else ""
    typer.echo(
        f"dropped {report.removed} record(s) received before {cutoff}{note}; "
        f"{report.pages_freed} page(s) freed"
    )
