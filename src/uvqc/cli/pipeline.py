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
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from uvqc.adapters.sqlite import meta
from uvqc.adapters.sqlite.db import migrate, reading
from uvqc.adapters.sqlite.dlq import SqliteDeadLetters
from uvqc.adapters.submissions import submission_chunks
from uvqc.cli.app import CleanGroup, app
from uvqc.cli.story import dead_letter_dict, gather, story_dict, story_text
from uvqc.errors import UsageError, UvqcError
from uvqc.local.runtime import Access, Database, Runtime
from uvqc.local.worker import Tally, Worker, run_together
from uvqc.logs import configure_logging
from uvqc.pipeline.ports import DeadLetters, TraceSource
from uvqc.pipeline.submission import SubmissionQueue, SubmitReport
from uvqc.settings import Settings, load_settings

dlq_app = typer.Typer(
    help="Inspect and redrive the dead-letter queues.", no_args_is_help=True, cls=CleanGroup
)
app.add_typer(dlq_app, name="dlq")
db_app = typer.Typer(
    help="The embedded runtime's SQLite database.", no_args_is_help=True, cls=CleanGroup
)
app.add_typer(db_app, name="db")

DbOption = Annotated[
    Path | None, typer.Option("--db", help="SQLite database file; env UVQC_DB.", show_default=False)
]
AwsOption = Annotated[bool, typer.Option("--aws", help="Read the AWS deployment instead.")]
# The channel options of every command that sends (`run`, `work`): one definition, and the
# same precedence as every setting (flag > UVQC_* > uvqc.toml > default).
OutboxOption = Annotated[
    Path | None,
    typer.Option(
        "--outbox", help="Write e-mails as .eml files here (channel file); env UVQC_OUTBOX."
    ),
]
SmtpOption = Annotated[
    str | None,
    typer.Option(
        "--smtp",
        help="Send e-mails to this SMTP relay, HOST:PORT (channel smtp); env UVQC_SMTP_HOST/PORT.",
    ),
]
SwitchChannelOption = Annotated[
    bool,
    typer.Option(
        "--switch-channel",
        help="Send through the configured channel although this database was worked with "
        "another one (it is bound to the new one from now on).",
    ),
]
PathsArgument = Annotated[
    list[str], typer.Argument(help="Result files or directories; - for stdin.", metavar="PATH")
]


class Format(StrEnum):
    text = "text"
    json = "json"


class QueueName(StrEnum):
    intake = "intake"
    notify = "notify"
    digest = "digest"  # AWS only: run digests (the digest function)


QueueOption = Annotated[
    QueueName | None,
    typer.Option("--queue", help="Only the dead letters of this source queue."),
]


def _aws_ops(what: str) -> Any:
    try:
        return importlib.import_module("uvqc.aws.ops")
    except ModuleNotFoundError as exc:
        raise UsageError(f"{what} needs the AWS runtime (uvqc.aws.ops, boto3): {exc}") from exc


def _submit(
    port: SubmissionQueue, paths: list[str], stop: threading.Event | None = None
) -> SubmitReport:
    """Submit every message of the paths, with its source and identity; lines submitted
    before (a re-run) are skipped. Chunks of 5,000 (each one transaction) keep memory flat;
    stop between chunks when `stop` is set."""
    report = SubmitReport()
    for chunk in submission_chunks(paths):
        report.add(port.submit_new(chunk))
        if stop is not None and stop.is_set():
            break
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
    paths: PathsArgument,
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
    typer.echo(
        f"{report.describe()} to the intake queue of {settings.db}: process them with "
        f"`uvqc work --db {settings.db}`"
    )


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


_RUN_FLAGS = {"smtp_host": "--smtp", "smtp_port": "--smtp", "channel": "--outbox/--smtp"}


def channel_settings(db: Path | None, outbox: Path | None, smtp: str | None) -> Settings:
    """Settings with the channel flags applied (--outbox: channel file; --smtp: smtp)."""
    if outbox is not None and smtp is not None:
        raise UsageError("--outbox and --smtp exclude each other: pick one channel")
    overrides: dict[str, Any] = {"db": db}
    if outbox is not None:
        overrides.update(channel="file", outbox=outbox)
    if smtp is not None:
        host, port = parse_smtp(smtp)
        overrides.update(channel="smtp", smtp_host=host, smtp_port=port)
    return load_settings(flag_names=_RUN_FLAGS, **overrides)


@app.command()
def work(
    db: DbOption = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop when no work is visible, in flight or due.")
    ] = False,
    outbox: OutboxOption = None,
    smtp: SmtpOption = None,
    switch_channel: SwitchChannelOption = False,
) -> None:
    """Run both stages on the embedded queues: until idle, or until SIGTERM/SIGINT.
    Refuses (exit 2) a channel other than the one the database was worked with, unless
    --switch-channel."""
    settings = channel_settings(db, outbox, smtp)
    _setup_logs(settings)
    stop = threading.Event()
    with (
        _stop_on_signals(stop),
        Runtime.from_settings(settings, bind=True, switch_channel=switch_channel) as rt,
    ):
        worker = Worker(rt)
        tally = worker.run_until_idle(stop) if until_idle else worker.run_forever(stop)
    typer.echo(
        f"worker {worker.name}: {tally.received} checked, {tally.notified} notified, "
        f"{tally.retries} retries, {tally.dead_lettered} dead-lettered"
    )


def parse_smtp(value: str) -> tuple[str, int]:
    """`HOST:PORT` -> (host, port); an IPv6 literal is written in brackets, `[::1]:25`
    (RFC 3986 section 3.2.2), and its host is returned without them."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not host or "[" in host or "]" in host:
            host = ""
    elif ":" in host or "[" in host or "]" in host:
        host = ""  # an IPv6 address without brackets: its port cannot be told apart
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            f"--smtp {value!r}: expected HOST:PORT with a port 1-65535, e.g. localhost:1025 "
            "or [::1]:1025"
        )
    return host, int(port)


def _summary(
    tally: Tally,
    rt: Runtime,
    elapsed: float,
    report: SubmitReport,
    started: datetime | None = None,
) -> Table:
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
        ("waiting to retry", notify.delayed + notify.in_flight),
        *([("not checked yet (queued)", intake.pending)] if intake.pending else []),
        ("dead-lettered", tally.dead_lettered),
    ]
    if rt.runs is not None and started is not None:
        touched = [r for r in rt.runs.list_runs(since=started) if r.flagged or r.findings]
        if touched:
            rows.insert(
                rows.index(("rejected", tally.rejected)) + 1,
                (
                    # run verdicts: per-result flags and those run QC added (uvqc runs list)
                    f"flagged in runs, after run QC ({len(touched)} run(s))",
                    sum(r.flagged for r in touched),
                ),
            )
    for label, value in rows:
        table.add_row(label, str(value))
    rate = (tally.received + tally.earlier) / elapsed if elapsed > 0 else 0.0
    table.caption = f"{elapsed:.2f} s, {rate:,.0f} results/s"
    return table


@app.command()
def run(
    paths: PathsArgument,
    db: DbOption = None,
    outbox: OutboxOption = None,
    smtp: SmtpOption = None,
    switch_channel: SwitchChannelOption = False,
) -> None:
    """Submit results and work until idle, with a progress bar and a summary table.
    Exits 1 if a notification was dead-lettered; 2 if the database was worked with another
    channel (unless --switch-channel)."""
    settings = channel_settings(db, outbox, smtp)
    _setup_logs(settings, quiet_console=True)
    err = Console(stderr=True)
    stop = threading.Event()
    with (
        _interruptible(stop),
        Runtime.from_settings(settings, bind=True, switch_channel=switch_channel) as rt,
        Runtime.from_settings(settings, bind=True, switch_channel=switch_channel) as rt_notify,
    ):
        started = time.perf_counter()
        started_at = datetime.now(UTC)
        tag = uuid.uuid4().hex[:12]  # marks this run's messages: the summary counts only those
        rt.db.intake_port.tag = tag
        report = _submit(rt.db.intake_port, paths, stop)
        total = report.submitted
        if stop.is_set():
            _interrupted(
                settings,
                f"while submitting: {total:,} result(s) were submitted, the rest of the "
                "input was not",
            )
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
        Console().print(_summary(tally, rt, elapsed, report, started_at))
    if stop.is_set():
        _interrupted(
            settings,
            f"after {tally.received:,} of {total:,} submitted result(s) were checked and "
            f"{tally.notified:,} notification(s) sent",
        )
    if tally.dead_lettered:
        typer.echo(
            f"{tally.dead_lettered} notification(s) dead-lettered: see "
            f"`uvqc dlq list --db {settings.db}`",
            err=True,
        )
        raise typer.Exit(1)


@contextmanager
def _interruptible(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C (or SIGTERM) sets `stop`: submission stops after its chunk, the
    workers after their batch; a second Ctrl-C aborts at once (KeyboardInterrupt)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        typer.echo("stopping after the current batch (Ctrl-C again to abort at once)", err=True)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _interrupted(settings: Settings, done: str) -> None:
    """Say what an interrupted `uvqc run` did and how to finish; exit 130 (128 + SIGINT)."""
    typer.echo(
        f"interrupted {done}. Everything submitted is safe in {settings.db}: finish it with "
        f"`uvqc work --db {settings.db} --until-idle`.",
        err=True,
    )
    raise typer.Exit(130)


@contextmanager
def _trace_source(settings: Settings, aws: bool) -> Iterator[TraceSource]:
    """The runtime's TraceSource: DynamoDB with --aws, else the SQLite file (closed after)."""
    if aws:
        yield cast(TraceSource, _aws_ops("--aws").trace_source(settings))
        return
    from uvqc.adapters.sqlite.trace import SqliteTrace

    with Database.from_settings(settings, access="read") as database, reading(settings.db):
        yield SqliteTrace(database.store, database.ledger)


@app.command()
def trace(
    sample_id: Annotated[
        str,
        typer.Argument(
            help="A sample ID, a record ID, a notification key or an e-mail's Message-ID "
            "(with or without <>)."
        ),
    ],
    db: DbOption = None,
    aws: AwsOption = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
) -> None:
    """The whole story of a sample, a record or a notification: received, verdict and
    findings, which e-mail covered which result, every attempt and where it went."""
    settings = load_settings(db=db)
    with _trace_source(settings, aws) as source:
        story = gather(source, sample_id)
    if not story.found:
        where = "the AWS deployment" if aws else str(settings.db)
        raise UvqcError(f"no result or notification for {sample_id!r} in {where}")
    if fmt is Format.json:
        typer.echo(json.dumps(story_dict(story), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(story_text(story, " --aws" if aws else f" --db {settings.db}"))
        sys.stdout.flush()


@contextmanager
def _dead_letters(
    settings: Settings, aws: bool, access: Access, queue: QueueName | None = None
) -> Iterator[DeadLetters]:
    """The runtime's DeadLetters: SQS with --aws, else the SQLite file (closed after), read
    only for list/show; with `queue`, the embedded one looks at that queue only."""
    if aws:
        yield cast(DeadLetters, _aws_ops("--aws").dead_letters(settings))
        return
    with Database.from_settings(settings, access=access) as database, reading(settings.db):
        letters = database.dead_letters
        if queue is not None and queue.value not in letters.queues:
            raise UsageError(
                f"the embedded runtime has no {queue.value} queue (digests are e-mailed by "
                "its notify stage); that queue is on AWS: add --aws"
            )
        if queue is not None:
            letters = SqliteDeadLetters({queue.value: letters.queues[queue.value]})
        yield letters


@dlq_app.command("list")
def dlq_list(
    db: DbOption = None,
    aws: AwsOption = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 100,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    queue: QueueOption = None,
) -> None:
    """List dead letters with their reasons."""
    with _dead_letters(load_settings(db=db), aws, "read", queue) as letters:
        found = letters.list(limit)
    if queue is not None:  # the SQS adapter lists both queues
        found = [d for d in found if d.queue == queue.value]
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
    queue: QueueOption = None,
) -> None:
    """Show one dead letter: reason, sample, body."""
    with _dead_letters(load_settings(db=db), aws, "read", queue) as letters:
        found = letters.show(message_id)
    if found is not None and queue is not None and found.queue != queue.value:
        found = None
    if found is None:
        where = f" in the {queue.value} dead-letter queue" if queue is not None else ""
        raise UvqcError(f"no dead letter {message_id!r}{where}")
    typer.echo(json.dumps(dead_letter_dict(found), indent=2, ensure_ascii=False))


@dlq_app.command("redrive")
def dlq_redrive(
    db: DbOption = None,
    aws: AwsOption = False,
    queue: QueueOption = None,
) -> None:
    """Move dead letters back to their source queue (run `uvqc work` to process them, with
    the channel the database is bound to)."""
    settings = load_settings(db=db)
    with _dead_letters(settings, aws, "existing") as letters:
        moved = letters.redrive(queue.value if queue is not None else None)
    if aws or not moved:
        typer.echo(f"redrove {moved} message(s)")
        return
    with reading(settings.db), Database.from_settings(settings, access="read") as database:
        bound = meta.get(database.conn, meta.CHANNEL)
    where = f" configured for [{bound}], the channel this database sends through" if bound else ""
    typer.echo(
        f"redrove {moved} message(s): process them with `uvqc work --db {settings.db} "
        f"--until-idle`{where}"
    )


@db_app.command("migrate")
def db_migrate(db: DbOption = None) -> None:
    """Migrate the database to this uvqc's schema (writing commands do it by themselves;
    read commands refuse an older schema until then)."""
    settings = load_settings(db=db)
    before, after = migrate(settings.db)
    if before == after:
        typer.echo(f"{settings.db}: schema {after}, nothing to migrate")
    else:
        typer.echo(f"{settings.db}: migrated from schema {before} to {after}")
