"""Wiring of the embedded runtime from Settings: one SQLite file, its queues, the record
store, the ledger, the channel and the QC methods. The only place these are put together."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

from uvqc.adapters.channels import channel_identity, make_channel
from uvqc.adapters.sqlite import (
    INTAKE,
    NOTIFY,
    SqliteDeadLetters,
    SqliteIntakeQueue,
    SqliteLedger,
    SqliteNotifyQueue,
    SqliteQueue,
    SqliteStore,
    connect,
)
from uvqc.adapters.sqlite.db import connect_readonly
from uvqc.adapters.sqlite.digests import SqliteDigestComposer
from uvqc.adapters.sqlite.meta import bind_channel, refuse_other_channel
from uvqc.adapters.sqlite.runs import SqliteRunStore
from uvqc.adapters.sqlite.windows import SqliteWindows
from uvqc.core.methods import MethodBook
from uvqc.pipeline.breaker import BreakerPolicy, CircuitBreaker
from uvqc.pipeline.notify import MailSettings, RetryPolicy
from uvqc.pipeline.ports import Channel
from uvqc.settings import Settings

Access = Literal["create", "existing", "read"]


@dataclass
class Database:
    """The SQLite side: queues, store, ledger and DLQs on one file.

    Durability rule: a commit that accepts responsibility from outside (`uvqc submit`
    putting results on the intake queue, a redrive) is `synchronous=FULL`: on disk, power
    loss included, before it returns. The worker's own progress (receive, records,
    notification requests, deletes, the ledger) commits with `synchronous=NORMAL`: in WAL
    mode that survives kill -9 at any point (committed frames are in the OS page cache), and
    a power cut can only roll back a *suffix* of that progress, which is then redone from
    the durable intake queue (idempotent records, ledger-guarded e-mails: at worst a resend
    with the same Message-ID). It keeps fsyncs, and the write lock, off the hot path.
    """

    path: Path
    conn: sqlite3.Connection  # FULL: submit, dead-letter redrive
    work_conn: sqlite3.Connection  # NORMAL: the worker's queues and records
    ledger_conn: sqlite3.Connection  # NORMAL: the notification ledger
    intake: SqliteQueue
    notify: SqliteQueue
    store: SqliteStore
    ledger: SqliteLedger
    windows: SqliteWindows
    dead_letters: SqliteDeadLetters
    intake_port: SqliteIntakeQueue
    notify_port: SqliteNotifyQueue

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        max_receive_count: int = 10,
        max_attempts: int = 5,
        access: Access = "create",
    ) -> Database:
        """Open the file: `create` (submit, work, run: create and migrate if needed),
        `existing` (dlq redrive: write, but never create) or `read` (trace, dlq list/show:
        one `mode=ro` connection, nothing written; DatabaseFileError for a missing, foreign,
        newer, older or corrupt file)."""
        if access == "read":
            conn = work_conn = ledger_conn = connect_readonly(path)
        else:
            conn = connect(path, create=access == "create")
            work_conn = connect(path, synchronous="NORMAL")
            ledger_conn = connect(path, synchronous="NORMAL")
        # The notify stage dead-letters after max_attempts itself; the queue's own limit is a
        # safety net above it (like an SQS RedrivePolicy), never reached in normal operation.
        notify_limit = max(max_receive_count, max_attempts + 5)
        intake = SqliteQueue(work_conn, INTAKE, max_receive_count=max_receive_count)
        notify = SqliteQueue(work_conn, NOTIFY, max_receive_count=notify_limit)
        durable_intake = SqliteQueue(conn, INTAKE, max_receive_count=max_receive_count)
        durable_notify = SqliteQueue(conn, NOTIFY, max_receive_count=notify_limit)
        return cls(
            path=path,
            conn=conn,
            work_conn=work_conn,
            ledger_conn=ledger_conn,
            intake=intake,
            notify=notify,
            store=SqliteStore(work_conn),
            ledger=SqliteLedger(ledger_conn),
            windows=SqliteWindows(work_conn),
            dead_letters=SqliteDeadLetters({INTAKE: durable_intake, NOTIFY: durable_notify}),
            intake_port=SqliteIntakeQueue(durable_intake),
            notify_port=SqliteNotifyQueue(notify),
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, access: Access = "create") -> Database:
        return cls.open(
            settings.db,
            max_receive_count=settings.max_receive_count,
            max_attempts=settings.max_attempts,
            access=access,
        )

    def close(self) -> None:
        self.conn.close()
        self.work_conn.close()
        self.ledger_conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def method_book(settings: Settings) -> MethodBook:
    """Built-in methods plus the configured method file."""
    return MethodBook.from_paths([settings.method] if settings.method else [])


@dataclass
class Runtime:
    """Everything a worker needs."""

    settings: Settings
    db: Database
    channel: Channel
    methods: MethodBook
    mail: MailSettings
    policy: RetryPolicy
    batch_size: int
    visibility_timeout: float
    lease: timedelta = field(default=timedelta(minutes=5))
    poll_seconds: float = 0.1
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)  # the channel's health
    window: timedelta = field(default=timedelta(days=1))
    bind_identity: str | None = None  # the channel to bind the database to at first notify
    switch_channel: bool = False
    channel_bound: bool = False
    housekeeping_seconds: float = 3600.0  # 0: never
    ledger_retention: timedelta = field(default=timedelta(days=90))
    runs: SqliteRunStore | None = None  # analytical runs, on the worker's connection
    digests: SqliteDigestComposer | None = None  # run digest e-mails (reads the database)

    def __post_init__(self) -> None:
        if self.digests is None:
            self.digests = SqliteDigestComposer(self.db.path, self.methods)
        if self.runs is None:
            self.runs = SqliteRunStore(
                self.db.work_conn,
                self.methods,
                quiet_seconds=self.settings.run_quiet_seconds,
                grouping=self.settings.grouping,
            )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        channel: Channel | None = None,
        bind: bool = False,
        switch_channel: bool = False,
    ) -> Runtime:
        """The runtime. With `bind` (the CLI's `run` and `work`), a database bound to
        another channel is refused at once (ChannelMismatchError, exit 2) unless
        `switch_channel`, which rebinds it; an unbound one is bound by the first notify batch
        (`ensure_channel_bound`): a notification never silently changes channel."""
        methods = method_book(settings)
        chosen = channel if channel is not None else make_channel(settings)
        database = Database.from_settings(settings)
        identity = channel_identity(settings) if bind else None
        if identity is not None:
            try:
                if switch_channel:
                    bind_channel(database.conn, identity, switch=True)
                else:
                    refuse_other_channel(database.conn, identity, db=str(settings.db))
            except BaseException:
                database.close()
                raise
        return cls(
            settings=settings,
            db=database,
            channel=chosen,
            methods=methods,
            mail=MailSettings.from_settings(settings),
            policy=RetryPolicy.from_settings(settings),
            batch_size=settings.worker_batch_size,
            visibility_timeout=settings.visibility_timeout_seconds,
            # A claim's lease lasts as long as the message stays invisible: when another
            # worker can see the message again, it may also take over the notification.
            lease=timedelta(seconds=settings.visibility_timeout_seconds),
            poll_seconds=settings.poll_seconds,
            breaker=CircuitBreaker(BreakerPolicy.from_settings(settings)),
            window=timedelta(seconds=settings.dedup_window_seconds),
            bind_identity=identity,
            switch_channel=switch_channel,
            housekeeping_seconds=settings.housekeeping_interval_minutes * 60,
            ledger_retention=timedelta(days=settings.ledger_retention_days),
        )

    def ensure_channel_bound(self) -> None:
        """Bind the database to this runtime's channel before its first e-mail (once);
        ChannelMismatchError if another worker bound it to another channel meanwhile."""
        if self.bind_identity is None or self.channel_bound:
            return
        bind_channel(
            self.db.conn, self.bind_identity, switch=self.switch_channel, db=str(self.settings.db)
        )
        self.channel_bound = True

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
