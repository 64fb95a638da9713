"""In-memory implementations of the pipeline ports, shipped so users can test their own code
(like structlog.testing). They are real ports with real semantics, not mocks."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta

from uvqc.core.methods import MethodBook
from uvqc.pipeline.email import Email
from uvqc.pipeline.identity import STORE, Window, decide_window
from uvqc.pipeline.ports import Claim, ClaimState, decide_claim
from uvqc.pipeline.records import (
    Attempt,
    NotificationRecord,
    NotificationRequest,
    NotificationStatus,
    ResultRecord,
)
from uvqc.runs.evaluate import RunDecision, RunResult, evaluate_run
from uvqc.runs.notices import RunArrival, requests_for


class MemoryStore:
    """RecordStore + TraceSource in memory."""

    def __init__(self) -> None:
        self.results: dict[str, ResultRecord] = {}

    def save_results(self, records: Sequence[ResultRecord]) -> None:
        for record in records:
            self.results[record.record_id] = record

    def results_for_sample(self, sample_id: str) -> list[ResultRecord]:
        found = [r for r in self.results.values() if r.sample_id == sample_id]
        return sorted(found, key=lambda r: r.received_at)

    def result_by_id(self, record_id: str) -> ResultRecord | None:
        return self.results.get(record_id)

    def results_for_key(self, key: str) -> list[ResultRecord]:
        found = [r for r in self.results.values() if r.notification_key == key]
        return sorted(found, key=lambda r: (r.received_at, r.record_id))


class MemoryWindows:
    """WindowIndex in memory: digest -> current deduplication window (decide_window's rule)."""

    def __init__(self) -> None:
        self.windows: dict[str, Window] = {}
        self._lock = threading.Lock()

    def assign(self, sightings: Sequence[tuple[str, datetime]], span: timedelta) -> list[str]:
        keys: list[str] = []
        with self._lock:
            for digest, at in sightings:
                current = self.windows.get(digest)
                what, window = decide_window(current, digest, at, span)
                if what in STORE:
                    self.windows[digest] = window
                keys.append(window.key)
        return keys


class MemoryNotifyQueue:
    """NotificationQueue in memory; `fail_for` makes chosen record ids fail to enqueue."""

    def __init__(self) -> None:
        self.requests: list[NotificationRequest] = []
        self.fail_for: set[str] = set()

    def publish(self, requests: Sequence[NotificationRequest]) -> set[str]:
        failed = {r.record_id for r in requests if r.record_id in self.fail_for}
        self.requests.extend(r for r in requests if r.record_id not in failed)
        return failed


class MemoryLedger:
    """Ledger in memory, with the same claim/lease rules as the SQLite and DynamoDB ledgers."""

    def __init__(self) -> None:
        self.rows: dict[str, NotificationRecord] = {}
        self._lock = threading.Lock()

    def claim(
        self,
        request: NotificationRequest,
        *,
        message_id: str,
        worker: str,
        now: datetime,
        lease: timedelta,
    ) -> Claim:
        with self._lock:
            row = self.rows.get(request.key)
            if row is None:
                row = NotificationRecord(
                    key=request.key,
                    sample_id=request.sample_id,
                    record_id=request.record_id,
                    status=NotificationStatus.SENDING,
                    message_id=message_id,
                    created_at=now,
                    lease_until=now + lease,
                )
                self.rows[request.key] = row
                return Claim(ClaimState.CLAIMED, row)
            state, resend = decide_claim(row, now)
            if state is not ClaimState.CLAIMED:
                return Claim(state, row)
            row = replace(row, status=NotificationStatus.SENDING, lease_until=now + lease)
            self.rows[request.key] = row
            return Claim(ClaimState.CLAIMED, row, resend=resend)

    def finish(
        self,
        key: str,
        *,
        status: NotificationStatus,
        attempt: Attempt,
        delivered_to: Sequence[str],
        error: str | None = None,
    ) -> None:
        with self._lock:
            row = self.rows[key]
            self.rows[key] = replace(
                row,
                status=status,
                lease_until=None,
                sent_at=attempt.at if status is NotificationStatus.SENT else row.sent_at,
                last_error=error if error is not None else row.last_error,
                delivered_to=tuple(dict.fromkeys(delivered_to)),
                attempts=(*row.attempts, attempt),
                channel=attempt.channel or row.channel,
            )

    def notifications_for_sample(self, sample_id: str) -> list[NotificationRecord]:
        return [r for r in self.rows.values() if r.sample_id == sample_id]

    def notification_by_key(self, key: str) -> NotificationRecord | None:
        return self.rows.get(key)


class MemoryRunStore:
    """RunStore in memory, with the SQLite and DynamoDB stores' rules: every arrival
    re-decides its run on all its results; a decision is announced once (again when final
    with a changed affected set); notices are handed out until confirmed."""

    def __init__(self, methods: MethodBook) -> None:
        self.methods = methods
        self.results: dict[str, dict[str, RunResult]] = {}
        self.method: dict[str, str] = {}
        self.final: set[str] = set()
        self.decisions: dict[str, RunDecision] = {}
        self.announced: dict[str, dict[str, tuple[str, ...]]] = {}
        self.pending: dict[str, NotificationRequest] = {}
        self._lock = threading.Lock()

    def track(self, arrivals: Sequence[RunArrival], *, now: datetime) -> list[NotificationRequest]:
        with self._lock:
            for a in arrivals:
                self.results.setdefault(a.batch_id, {})[a.result.record_id] = a.result
                self.method.setdefault(a.batch_id, a.method)
            return [n for b in sorted({a.batch_id for a in arrivals}) for n in self._decide(b, now)]

    def finalise(self, batch_id: str, *, now: datetime) -> list[NotificationRequest]:
        """Make a run final (what the quiet period does in the real stores)."""
        with self._lock:
            self.final.add(batch_id)
            return self._decide(batch_id, now)

    def confirm(self, requests: Sequence[NotificationRequest]) -> None:
        with self._lock:
            for r in requests:
                self.pending.pop(r.key, None)

    def _decide(self, batch_id: str, now: datetime) -> list[NotificationRequest]:
        method = self.method[batch_id]
        config = self.methods[method].run if method in self.methods else None
        decision = evaluate_run(
            self.results[batch_id].values(),
            config,
            batch_id=batch_id,
            final=batch_id in self.final,
        )
        if decision.status == "final":
            self.final.add(batch_id)
        self.decisions[batch_id] = decision
        announced = self.announced.setdefault(batch_id, {})
        for request in requests_for(decision, announced, method=method, decided_at=now):
            run = request.run or {}
            announced[str(run.get("anchor", ""))] = tuple(run.get("affected", ()))
            self.pending[request.key] = request
        return [r for r in self.pending.values() if (r.run or {}).get("batchId") == batch_id]


class RecordingChannel:
    """A Channel that keeps every e-mail it is given (an outbox in memory)."""

    name = "memory"

    def __init__(self) -> None:
        self.sent: list[tuple[Email, tuple[str, ...]]] = []
        self.failures: list[Exception] = []  # raised, in order, before succeeding again

    @contextmanager
    def open(self) -> Iterator[RecordingChannel]:
        yield self

    def destination(self, email: Email) -> str:
        return "memory"

    def send(self, email: Email, recipients: Sequence[str]) -> tuple[str, ...]:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((email, tuple(recipients)))
        return tuple(recipients)
