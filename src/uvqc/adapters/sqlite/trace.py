"""TraceSource over the SQLite store and ledger, with look-ups by record id and key."""

from __future__ import annotations

from typing import Any

from uvqc.adapters.sqlite.ledger import SqliteLedger
from uvqc.adapters.sqlite.runs import run_emails_for_sample, verdicts_for_sample
from uvqc.adapters.sqlite.store import SqliteStore
from uvqc.pipeline.records import NotificationRecord, ResultRecord
from uvqc.runs.report import VerdictChange


class SqliteTrace:
    def __init__(self, store: SqliteStore, ledger: SqliteLedger) -> None:
        self.store = store
        self.ledger = ledger

    def results_for_sample(self, sample_id: str) -> list[ResultRecord]:
        return self.store.results_for_sample(sample_id)

    def notifications_for_sample(self, sample_id: str) -> list[NotificationRecord]:
        return self.ledger.notifications_for_sample(sample_id)

    def result_by_id(self, record_id: str) -> ResultRecord | None:
        return self.store.result_by_id(record_id)

    def notification_by_key(self, key: str) -> NotificationRecord | None:
        return self.ledger.notification_by_key(key)

    def results_for_key(self, key: str) -> list[ResultRecord]:
        return self.store.results_for_key(key)

    def run_verdicts_for_sample(self, sample_id: str) -> list[VerdictChange]:
        """How run QC changed the verdicts of the sample's results (docs/RUNS.md)."""
        return verdicts_for_sample(self.store.conn, sample_id)

    def run_emails_for_sample(self, sample_id: str) -> list[dict[str, Any]]:
        """The run decisions naming the sample and the e-mail that announced each."""
        return run_emails_for_sample(self.store.conn, sample_id)
