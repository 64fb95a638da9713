"""Wiring of the embedded runtime from Settings: one SQLite file, its queues, the record
store, the ledger, the channel and the QC methods. The only place these are put together."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from uvqc.adapters.channels import make_channel
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
from uvqc.adapters.sqlite.runs import SqliteRunStore
from uvqc.core.methods import MethodBook
from uvqc.pipeline.notify import MailSettings, RetryPolicy
from uvqc.pipeline.ports import Channel
from uvqc.settings import Settings


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
    dead_letters: SqliteDeadLetters
    intake_port: SqliteIntakeQueue
    notify_port: SqliteNotifyQueue

    @classmethod
    def open(cls, path: Path, *, max_receive_count: int = 10, max_attempts: int = 5) -> Database:
        conn = connect(path)
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
            dead_letters=SqliteDeadLetters({INTAKE: durable_intake, NOTIFY: durable_notify}),
            intake_port=SqliteIntakeQueue(durable_intake),
            notify_port=SqliteNotifyQueue(notify),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls.open(
            settings.db,
            max_receive_count=settings.max_receive_count,
            max_attempts=settings.max_attempts,
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
    runs: SqliteRunStore | None = None  # analytical runs, on the worker's connection

    def __post_init__(self) -> None:
        if self.runs is None:
            self.runs = SqliteRunStore(
                self.db.work_conn, self.methods, quiet_seconds=self.settings.run_quiet_seconds
            )

    @classmethod
    def from_settings(cls, settings: Settings, *, channel: Channel | None = None) -> Runtime:
        methods = method_book(settings)
        chosen = channel if channel is not None else make_channel(settings)
        return cls(
            settings=settings,
            db=Database.from_settings(settings),
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
        )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
