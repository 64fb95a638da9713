"""The embedded runtime's persistence on one SQLite file: queues, records, ledger, DLQs."""

from uvqc.adapters.sqlite.db import connect, transaction
from uvqc.adapters.sqlite.dlq import SqliteDeadLetters
from uvqc.adapters.sqlite.ledger import SqliteLedger
from uvqc.adapters.sqlite.queue import (
    INTAKE,
    NOTIFY,
    Message,
    QueueStats,
    SqliteIntakeQueue,
    SqliteNotifyQueue,
    SqliteQueue,
)
from uvqc.adapters.sqlite.store import SqliteStore

__all__ = [
    "INTAKE",
    "NOTIFY",
    "Message",
    "QueueStats",
    "SqliteDeadLetters",
    "SqliteIntakeQueue",
    "SqliteLedger",
    "SqliteNotifyQueue",
    "SqliteQueue",
    "SqliteStore",
    "connect",
    "transaction",
]
