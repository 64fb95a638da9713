"""`uvqc submit | work | run | trace | dlq`: the pipeline from the command line.

The embedded runtime (SQLite) by default; `--queue-url` and `--aws` reach the AWS deployment
through `uvqc.aws.ops`, imported lazily so the embedded commands never load boto3.
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from uvqc.adapters.submissions import submission_chunks
from uvqc.cli.app import app
from uvqc.cli.story import dead_letter_dict, gather, story_dict, story_text
from uvqc.errors import UsageError, UvqcError
from uvqc.local.runtime import Database, Runtime
from uvqc.local.worker import Tally, Worker, run_together
from uvqc.logs import configure_logging
from uvqc.pipeline.ports import DeadLetters, TraceSource
from uvqc.pipeline.submission import SubmissionQueue, SubmitReport
from uvqc.settings import Settings, load_settings

dlq_app = typer.Typer(help="Inspect and redrive the dead-letter queues.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

DbOption = Annotated[
    Path | None, typer.Option("--db", help="SQLite database file; env UVQC_DB.", show_default=False)
]
AwsOption = Annotated[bool, typer.Option("--aws", help="Read the AWS deployment instead.")]


class Format(StrEnum):
    text = "text"
    json = "json"


def _aws_ops(what: str) -> Any:
    try:
        return importlib.import_module("uvqc.aws.ops")
    except ModuleNotFoundError as exc:
        raise UsageError(f"{what} needs the AWS runtime (uvqc.aws.ops, boto3): {exc}") from exc


def _submit(port: SubmissionQueue, paths: list[str]) -> SubmitReport:
    """Submit every message of the paths, with its source and identity; lines submitted
    before (a re-run) are skipped. Chunks of 5,000 keep memory flat."""
    report = SubmitReport()
    for chunk in submission_chunks(paths):
        report.add(port.submit_new(chunk))
    return report


def _setup_logs(settings: Settings, *, quiet_console: bool = False) -> None:
    """JSON logs to UVQC_LOG_FILE or stderr. With a progress bar on stderr, only warnings
    reach the console unless a level was asked for explicitly."""
    level = settings.log_level
    if quiet_console and settings.log_file is None and "log_level" not in settings.model_fields_set:
        level = "WARNING"
    configure_logging(level, settings.log_file)


@app.command()
def submit(
    paths: Annotated[list[str], typer.Argument(help="Result files or directories; - for stdin.")],
    db: DbOption = None,
    queue_url: Annotated[
        str | None, typer.Option("--queue-url", help="Submit to this SQS intake queue.")
    ] = None,
) -> None:
    """Put results on the intake queue (SQLite, or SQS with --queue-url)."""
    settings = load_settings(db=db)
    if queue_url:
        port = cast(SubmissionQueue, _aws_ops("--queue-url").submission_queue(settings, queue_url))
        typer.echo(f"{_submit(port, paths).describe()} to {queue_url}")
        return
    with Database.from_settings(settings) as database:
        report = _submit(database.intake_port, paths)
    typer.echo(f"{report.describe()} to the intake queue of {settings.db}")


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set `stop`: the worker finishes its batch, then exits cleanly."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@app.command()
def work(
    db: DbOption = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop when no work is visible, in flight or due.")
    ] = False,
) -> None:
    """Run both stages on the embedded queues: until idle, or until SIGTERM/SIGINT."""
    settings = load_settings(db=db)
    _setup_logs(settings)
    stop = threading.Event()
    with _stop_on_signals(stop), Runtime.from_settings(settings) as rt:
        worker = Worker(rt)
        tally = worker.run_until_idle(stop) if until_idle else worker.run_forever(stop)
    typer.echo(
        f"worker {worker.name}: {tally.received} checked, {tally.notified} notified, "
        f"{tally.retries} retries, {tally.dead_lettered} dead-lettered"
    )


def _parse_smtp(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UsageError(f"--smtp {value!r}: expected HOST:PORT, e.g. localhost:1025")
    return host, int(port)


def _summary(tally: Tally, rt: Runtime, elapsed: float, report: SubmitReport) -> Table:
    """The counts of THIS run: results it submitted and what became of them; results
    skipped as submitted before, and results of earlier submissions it finished, are
    separate rows (shown only when there are any)."""
    intake, notify = rt.db.intake.stats(), rt.db.notify.stats()
    table = Table(title=f"uvqc run ({rt.settings.db}, channel {rt.channel.name})")
    table.add_column("", style="bold")
    table.add_column("count", justify="right")
    rows = [
        *([("already submitted, skipped", report.skipped)] if report.skipped else []),
        *([("from earlier submissions", tally.earlier)] if tally.earlier else []),
        ("received", tally.received),
        ("passed", tally.passed),
        ("flagged", tally.flagged),
        ("rejected", tally.rejected),
        ("notified", tally.notified),
        ("already notified (duplicates)", tally.duplicates),
        ("waiting to retry", notify.delayed + notify.in_flight + intake.pending),
        ("dead-lettered", tally.dead_lettered),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    rate = (tally.received + tally.earlier) / elapsed if elapsed > 0 else 0.0
    table.caption = f"{elapsed:.2f} s, {rate:,.0f} results/s"
    return table


@app.command()
def run(
    paths: Annotated[list[str], typer.Argument(help="Result files or directories; - for stdin.")],
    db: DbOption = None,
    outbox: Annotated[
        Path | None, typer.Option("--outbox", help="Write e-mails as .eml files here.")
    ] = None,
    smtp: Annotated[
        str | None, typer.Option("--smtp", help="Send e-mails to this SMTP relay (HOST:PORT).")
    ] = None,
) -> None:
    """Submit results and work until idle, with a progress bar and a summary table.
    Exits 1 if a notification was dead-lettered."""
    if outbox is not None and smtp is not None:
        raise UsageError("--outbox and --smtp exclude each other: pick one channel")
    overrides: dict[str, Any] = {"db": db}
    if outbox is not None:
        overrides.update(channel="file", outbox=outbox)
    if smtp is not None:
        host, port = _parse_smtp(smtp)
        overrides.update(channel="smtp", smtp_host=host, smtp_port=port)
    settings = load_settings(**overrides)
    _setup_logs(settings, quiet_console=True)
    err = Console(stderr=True)
    stop = threading.Event()
    with Runtime.from_settings(settings) as rt, Runtime.from_settings(settings) as rt_notify:
        started = time.perf_counter()
        tag = uuid.uuid4().hex[:12]  # marks this run's messages: the summary counts only those
        rt.db.intake_port.tag = tag
        report = _submit(rt.db.intake_port, paths)
        total = report.submitted
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[notes]}"),
            TimeElapsedColumn(),
            console=err,
            transient=False,
            disable=not err.is_terminal,
        )
        task = progress.add_task("checking", total=total, notes="")
        seen = Tally()
        seen_lock = threading.Lock()

        def on_batch(done: Tally) -> None:
            with seen_lock:
                seen.add(done)
            progress.update(
                task,
                completed=min(seen.received, total),
                notes=f"{seen.notified} notified, {seen.retries} retries, "
                f"{seen.dead_lettered} dead",
            )

        with progress:
            # One thread per stage, each with its own connections: notify waits on the
            # relay while check uses the CPU.
            tally = run_together(
                [
                    Worker(rt, stages=("check",), on_batch=on_batch, own_tag=tag),
                    Worker(rt_notify, stages=("notify",), on_batch=on_batch),
                ],
                stop,
            )
        elapsed = time.perf_counter() - started
        Console().print(_summary(tally, rt, elapsed, report))
    if tally.dead_lettered:
        typer.echo(
            f"{tally.dead_lettered} notification(s) dead-lettered: see `uvqc dlq list`",
            err=True,
        )
        raise typer.Exit(1)


@contextmanager
def _trace_source(settings: Settings, aws: bool) -> Iterator[TraceSource]:
    """The runtime's TraceSource: DynamoDB with --aws, else the SQLite file (closed after)."""
    if aws:
        yield cast(TraceSource, _aws_ops("--aws").trace_source(settings))
        return
    if not settings.db.exists():
        raise UvqcError(f"no database at {settings.db}: run `uvqc run` or `uvqc submit` first")
    from uvqc.adapters.sqlite.trace import SqliteTrace

    with Database.from_settings(settings) as database:
        yield SqliteTrace(database.store, database.ledger)


@app.command()
def trace(
    sample_id: Annotated[str, typer.Argument(help="Sample ID (or a record/message id).")],
    db: DbOption = None,
    aws: AwsOption = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
) -> None:
    """A sample's whole story: received, verdict and findings, every notification attempt."""
    settings = load_settings(db=db)
    with _trace_source(settings, aws) as source:
        story = gather(source, sample_id)
    if not story.found:
        raise UvqcError(f"no result or notification for {sample_id!r}")
    if fmt is Format.json:
        typer.echo(json.dumps(story_dict(story), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(story_text(story))
        sys.stdout.flush()


@contextmanager
def _dead_letters(settings: Settings, aws: bool) -> Iterator[DeadLetters]:
    """The runtime's DeadLetters: SQS with --aws, else the SQLite file (closed after)."""
    if aws:
        yield cast(DeadLetters, _aws_ops("--aws").dead_letters(settings))
        return
    with Database.from_settings(settings) as database:
        yield database.dead_letters


@dlq_app.command("list")
def dlq_list(
    db: DbOption = None,
    aws: AwsOption = False,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.text,
) -> None:
    """List dead letters with their reasons."""
    with _dead_letters(load_settings(db=db), aws) as letters:
        found = letters.list(limit)
    if fmt is Format.json:
        typer.echo(json.dumps([dead_letter_dict(d) for d in found], indent=2))
        return
    if not found:
        typer.echo("no dead letters")
        return
    for d in found:
        data = dead_letter_dict(d)
        typer.echo(
            f"{d.message_id}  {d.queue:<7} sample {d.sample_id or '-'}  "
            f"dead {data['deadAt'] or '-'}  {d.reason}"
        )


@dlq_app.command("show")
def dlq_show(
    message_id: Annotated[str, typer.Argument(help="Dead letter message id.")],
    db: DbOption = None,
    aws: AwsOption = False,
) -> None:
    """Show one dead letter: reason, sample, body."""
    with _dead_letters(load_settings(db=db), aws) as letters:
        found = letters.show(message_id)
    if found is None:
        raise UvqcError(f"no dead letter {message_id!r}")
    typer.echo(json.dumps(dead_letter_dict(found), indent=2, ensure_ascii=False))


@dlq_app.command("redrive")
def dlq_redrive(
    db: DbOption = None,
    aws: AwsOption = False,
    queue: Annotated[
        str | None, typer.Option("--queue", help="Only this source queue: intake or notify.")
    ] = None,
) -> None:
    """Move dead letters back to their source queue (run `uvqc work` to process them)."""
    with _dead_letters(load_settings(db=db), aws) as letters:
        moved = letters.redrive(queue)
    typer.echo(f"redrove {moved} message(s)")
