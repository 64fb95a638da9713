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
from uvqc.core.methods import MethodBook
from uvqc.pipeline.notify import MailSettings, RetryPolicy
from uvqc.pipeline.ports import Channel
from uvqc.settings import Settings


@dataclass
class Database:
    """The SQLite side: queues, store, ledger and DLQs on one file.

    Two connections: queues and records commit with synchronous=FULL; the ledger commits with
    synchronous=NORMAL because every ledger write is followed by a FULL commit of the same
    batch (the queue delete or delay) before anything is acknowledged, and in WAL mode that
    later fsync also persists the earlier ledger frames (see docs/EMBEDDED.md).
    """

    path: Path
    conn: sqlite3.Connection
    ledger_conn: sqlite3.Connection
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
        ledger_conn = connect(path, synchronous="NORMAL")
        intake = SqliteQueue(conn, INTAKE, max_receive_count=max_receive_count)
        # The notify stage dead-letters after max_attempts itself; the queue's own limit is a
        # safety net above it (like an SQS RedrivePolicy), never reached in normal operation.
        notify = SqliteQueue(
            conn, NOTIFY, max_receive_count=max(max_receive_count, max_attempts + 5)
        )
        return cls(
            path=path,
            conn=conn,
            ledger_conn=ledger_conn,
            intake=intake,
            notify=notify,
            store=SqliteStore(conn),
            ledger=SqliteLedger(ledger_conn),
            dead_letters=SqliteDeadLetters({INTAKE: intake, NOTIFY: notify}),
            intake_port=SqliteIntakeQueue(intake),
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

    @classmethod
    def from_settings(cls, settings: Settings, *, channel: Channel | None = None) -> Runtime:
        methods = method_book(settings)
        chosen = channel if channel is not None else make_channel(settings)
        return cls(
            settings=settings,
            db=Database.from_settings(settings),
            channel=chosen,
            methods=methods,
            mail=MailSettings(
                mail_from=settings.mail_from,
                mail_to=tuple(settings.mail_to),
                subject_prefix=settings.subject_prefix,
            ),
            policy=RetryPolicy(
                base_seconds=settings.retry_base_seconds,
                max_seconds=settings.retry_max_seconds,
                max_attempts=settings.max_attempts,
            ),
            batch_size=settings.worker_batch_size,
            visibility_timeout=settings.visibility_timeout_seconds,
            # A claim's lease lasts as long as the message stays invisible: when another
            # worker can see the message again, it may also take over the notification.
            lease=timedelta(seconds=settings.visibility_timeout_seconds),
        )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
