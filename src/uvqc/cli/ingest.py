"""`uvqc ingest` and `uvqc watch`: instrument export files to result messages.

`ingest --jsonl` writes only the messages to stdout (for `uvqc check -`) and the summary to
stderr. Exit 0 when every file and sample became a result, 1 when any file or sample was
refused (each with its reason), 2 for a usage error (unknown option, unreadable path).
"""

from __future__ import annotations

import hashlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.table import Table

from uvqc.cli.app import app
from uvqc.errors import UsageError
from uvqc.ingest.detect import FORMATS
from uvqc.ingest.formats.table import ColumnMap
from uvqc.ingest.naming import IngestConfig
from uvqc.ingest.results import FileOutcome, Options, ingest_bytes, resolve_wavelength
from uvqc.pipeline.ports import IntakeQueue
from uvqc.pipeline.submission import Submission, SubmissionQueue, submission_id
from uvqc.settings import Settings, load_settings

DbOption = Annotated[
    Path | None, typer.Option("--db", help="SQLite database file; env UVQC_DB.", show_default=False)
]
QueueOption = Annotated[
    str | None, typer.Option("--queue-url", help="Send to this SQS intake queue.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Lab ingest config TOML (wavelength, naming rules); env UVQC_INGEST_CONFIG.",
    ),
]


def _files(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            )
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"{name}: no such file or directory")
    return found


def _options(
    settings: Settings, wavelength: float | None, baseline: float | None, method: str | None
) -> Options:
    for flag, value in (("--wavelength", wavelength), ("--baseline-nm", baseline)):
        if value is not None and not value > 0:
            raise UsageError(f"{flag} {value:g}: a wavelength must be a number of nm > 0")
    return Options(
        resolve_wavelength(wavelength, settings),
        baseline,
        method,
        IngestConfig.load(settings.ingest_config),
    )


def _aws_intake(settings: Settings, url: str) -> SubmissionQueue:
    try:
        ops = importlib.import_module("uvqc.aws.ops")
    except ModuleNotFoundError as exc:
        raise UsageError(f"--queue-url needs the AWS runtime (boto3): {exc}") from exc
    return cast(SubmissionQueue, ops.submission_queue(settings, url))


def _submissions(path: Path, data: bytes, messages: list[bytes]) -> list[Submission]:
    """The file's results as submissions whose identity is the file's content and the
    sample's place in it (not its name: a copy or a rename of an ingested file is the same
    submission, skipped like a re-run of `uvqc submit`)."""
    digest = hashlib.sha256(data).hexdigest()
    return [
        Submission(f"{path}#{n}", raw, submission_id(digest, f"#{n}", b""))
        for n, raw in enumerate(messages, 1)
    ]


def _summary(outcomes: list[FileOutcome]) -> Table:
    table = Table(title="uvqc ingest")
    for col in ("file", "format", "results", "refused", "skipped"):
        table.add_column(
            col, justify="right" if col in {"results", "refused", "skipped"} else "left"
        )
    for o in outcomes:
        refused = "file" if o.file_refusal else str(len(o.refused))
        table.add_row(
            Path(o.file).name, o.format, str(len(o.messages)), refused, str(len(o.skipped))
        )
    return table


def _report(err: Console, outcomes: list[FileOutcome]) -> None:
    err.print(_summary(outcomes))
    for o in outcomes:
        if o.file_refusal:
            err.print(
                f"REFUSED {o.file} ({o.refusal_kind}): {o.file_refusal}",
                markup=False,
                highlight=False,
            )
        for r in o.refused:
            where = f" line {r.line}" if r.line else ""
            at = f" (position {r.position}, left unused)" if r.position else ""
            err.print(
                f"REFUSED {o.file}{where} sample {r.name or '(unnamed)'}{at}: {r.reason}",
                markup=False,
                highlight=False,
            )
        if o.skipped:
            err.print(
                f"skipped {o.file}: {', '.join(o.skipped)} (baseline pseudo-samples)",
                markup=False,
                highlight=False,
            )
        for note in o.notes:
            err.print(f"note {o.file}: {note}", markup=False, highlight=False)


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Instrument export files or directories.")],
    fmt: Annotated[str, typer.Option("--format", help=f"Reader: {', '.join(FORMATS)}.")] = "auto",
    wavelength: Annotated[
        float | None,
        typer.Option("--wavelength", help="Analytical wavelength (nm) for scans."),
    ] = None,
    baseline: Annotated[
        float | None,
        typer.Option("--baseline-nm", help="Subtract A at this wavelength (nm)."),
    ] = None,
    map_file: Annotated[
        Path | None, typer.Option("--map", help="Column mapping TOML for generic tables/XLSX.")
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method-name", help="QC method to name in each message.")
    ] = None,
    config: ConfigOption = None,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Write messages to stdout (JSON Lines).")
    ] = False,
    db: DbOption = None,
    queue_url: QueueOption = None,
) -> None:
    """Read instrument exports and hand the results over (SQLite intake queue by default)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: not one of {', '.join(FORMATS)}")
    if sum(bool(x) for x in (jsonl, db is not None, queue_url)) > 1:
        raise UsageError("--jsonl, --db and --queue-url exclude each other: pick one")
    settings = load_settings(db=db, ingest_config=config)
    mapping = ColumnMap.load(map_file) if map_file is not None else None
    options = _options(settings, wavelength, baseline, method)
    files = _files(paths)
    outcomes: list[FileOutcome] = []
    err = Console(stderr=True, soft_wrap=True)
    with ExitStack() as stack:
        port: SubmissionQueue | None = None
        skipped = 0
        if queue_url:
            port = _aws_intake(settings, queue_url)
        elif not jsonl:
            from uvqc.local.runtime import Database

            port = stack.enter_context(Database.from_settings(settings)).intake_port
        for path in files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
            outcome = ingest_bytes(data, str(path), options=options, fmt=fmt, mapping=mapping)
            outcomes.append(outcome)
            if jsonl:
                out = sys.stdout.buffer
                for raw in outcome.messages:
                    out.write(raw + b"\n")
                out.flush()
            elif port is not None and outcome.messages:
                report = port.submit_new(_submissions(path, data, list(outcome.messages)))
                skipped += report.skipped
    _report(err, outcomes)
    total = sum(len(o.messages) for o in outcomes)
    where = "stdout" if jsonl else (queue_url or str(settings.db))
    again = f" ({skipped} already ingested before: skipped)" if skipped else ""
    err.print(
        f"{total - skipped} result(s) from {len(outcomes)} file(s) to {where}{again}",
        markup=False,
        highlight=False,
    )
    if any(not o.ok for o in outcomes):
        raise typer.Exit(1)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set `stop`: the watcher finishes the file in hand, then exits."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@app.command()
def watch(
    directory: Annotated[Path, typer.Argument(help="The instrument's export folder.")],
    db: DbOption = None,
    queue_url: QueueOption = None,
    wavelength: Annotated[
        float | None,
        typer.Option("--wavelength", help="Analytical wavelength (nm) for scans."),
    ] = None,
    config: ConfigOption = None,
    settle: Annotated[
        float, typer.Option("--settle", help="Seconds a file must be unchanged.", min=0.0)
    ] = 2.0,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between looks.", min=0.01)] = 1.0,
    once: Annotated[
        bool, typer.Option("--once", help="Handle what is complete now, then exit.")
    ] = False,
) -> None:
    """Auto-import a folder: each complete file exactly once, then to archive/ or failed/."""
    from uvqc.adapters.sqlite.imports import ForwardingImportLedger, SqliteImportLedger
    from uvqc.ingest.watch import FileReport, ImportLedger, Watcher, run
    from uvqc.local.runtime import Database

    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    settings = load_settings(db=db, ingest_config=config)
    options = _options(settings, wavelength, None, None)
    with Database.from_settings(settings) as database:
        ledger: ImportLedger
        if queue_url:
            queue = cast(IntakeQueue, _aws_intake(settings, queue_url))  # SqsIntakeQueue: both
            ledger = ForwardingImportLedger(database.conn, queue)
        else:
            ledger = SqliteImportLedger(database.conn, database.intake_port.queue)
        watcher = Watcher(directory, ledger, options, settle=settle)

        def log(report: FileReport) -> None:
            detail = f": {report.reason.splitlines()[0]}" if report.reason else ""
            typer.echo(
                f"{report.action} {report.name}: {report.results} result(s) -> "
                f"{report.destination.parent.name}/{report.destination.name}{detail}",
                err=False,
            )
            sys.stdout.flush()

        if once:
            watcher.scan_once(log)
            return
        stop = threading.Event()
        typer.echo(f"watching {directory} (settle {settle:g} s); Ctrl-C to stop", err=True)
        with _stop_on_signals(stop):
            run(watcher, poll=poll, stop=stop.is_set, on_report=log)
