"""The embedded worker: both stages over the SQLite queues, the same code the Lambdas run.

intake: receive a batch -> check_batch -> delete what succeeded (failures reappear after the
visibility timeout). notify: receive a batch -> notify_batch -> delete SENT/DUPLICATE, delay
RETRY (change_visibility), dead-letter DEAD with its reason. Several workers (threads with
their own Runtime, or processes) may share one database file.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from uvqc.adapters.sqlite.db import transaction
from uvqc.adapters.sqlite.queue import Message
from uvqc.core.verdicts import Verdict
from uvqc.local.runtime import Runtime
from uvqc.pipeline.check import Incoming, judge_batch, publish_notices, record_batch
from uvqc.pipeline.notify import Delivery, Outcome, notify_batch
from uvqc.runs.notices import RunArrival

log = logging.getLogger("uvqc.local.worker")

POLL_SECONDS = 0.1  # between looks at empty queues: bounds alert latency, costs ~no CPU


@dataclass
class Tally:
    """What one worker did: the numbers of `uvqc run`'s summary."""

    received: int = 0
    passed: int = 0
    flagged: int = 0
    rejected: int = 0
    check_failures: int = 0
    notified: int = 0
    duplicates: int = 0
    retries: int = 0
    dead_lettered: int = 0

    def add(self, other: Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _received_at(message: Message) -> datetime:
    return datetime.fromtimestamp(message.sent_at, UTC)


class Worker:
    """Runs the check and notify stages against one Runtime (one thread at a time)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        name: str | None = None,
        stages: tuple[str, ...] = ("check", "notify"),
        on_batch: Callable[[Tally], None] | None = None,
    ) -> None:
        self.rt = runtime
        self.name = name or worker_name()
        self.stages = stages
        self.tally = Tally()
        self.on_batch = on_batch
        self.poll_seconds = runtime.poll_seconds
        self._last_finalise = float("-inf")

    def check_once(self) -> int:
        """One intake batch; returns how many messages were received."""
        db = self.rt.db
        messages = db.intake.receive(self.rt.batch_size, self.rt.visibility_timeout)
        if not messages:
            return 0
        incoming = [Incoming(m.id, m.body, _received_at(m)) for m in messages]
        arrivals: list[RunArrival] = []
        records = judge_batch(incoming, methods=self.rt.methods, arrivals=arrivals)
        # One unit of work: records, notification requests, run updates and the intake
        # deletes commit together (one fsync per batch instead of three, and nothing
        # half-done on a crash); judging happens before, so the write lock is held only for
        # the writes. Runs are evaluated inside it: two workers never decide on one run at once.
        with transaction(db.work_conn):
            outcome = record_batch(
                records,
                store=db.store,
                notify=db.notify_port,
                runs=self.rt.runs,
                arrivals=arrivals,
            )
            failed = set(outcome.failed)
            db.intake.delete([m.receipt for m in messages if m.id not in failed])
        done = Tally(
            received=len(messages),
            passed=outcome.count(Verdict.PASS),
            flagged=outcome.count(Verdict.FLAG),
            rejected=outcome.count(Verdict.REJECT),
            check_failures=len(failed),
        )
        self._count(done)
        return len(messages)

    def finalise_once(self, now: datetime | None = None) -> int:
        """Finalise runs quiet for UVQC_RUN_QUIET_SECONDS (checked at most once a second);
        returns how many run notices were queued."""
        runs = self.rt.runs
        clock = time.monotonic()
        if runs is None or (now is None and clock - self._last_finalise < 1.0):
            return 0
        self._last_finalise = clock
        db = self.rt.db
        moment = now or datetime.now(UTC)
        if not runs.quiet_due(now=moment):
            return 0
        with transaction(db.work_conn):
            notices = runs.finalise_quiet(now=moment)
            publish_notices(notices, runs=runs, notify=db.notify_port)
        return len(notices)

    def notify_once(self) -> int:
        """One notify batch; returns how many messages were received."""
        db = self.rt.db
        messages = db.notify.receive(self.rt.batch_size, self.rt.visibility_timeout)
        if not messages:
            return 0
        by_id = {m.id: m for m in messages}
        results = notify_batch(
            [Delivery(m.id, m.body, m.receive_count) for m in messages],
            ledger=db.ledger,
            channel=self.rt.channel,
            mail=self.rt.mail,
            policy=self.rt.policy,
            worker=self.name,
            lease=self.rt.lease,
        )
        done_, retry, dead = [], [], []
        for r in results:
            receipt = by_id[r.message_id].receipt
            if r.outcome in (Outcome.SENT, Outcome.DUPLICATE):
                done_.append(receipt)
            elif r.outcome is Outcome.RETRY:
                retry.append((receipt, r.delay_seconds))
            else:
                dead.append((receipt, r.reason))
        db.notify.delete(done_)
        db.notify.change_visibility(retry)
        db.notify.dead_letter(dead)
        self._count(
            Tally(
                notified=sum(r.outcome is Outcome.SENT for r in results),
                duplicates=sum(r.outcome is Outcome.DUPLICATE for r in results),
                retries=len(retry),
                dead_lettered=len(dead),
            )
        )
        return len(messages)

    def _count(self, done: Tally) -> None:
        self.tally.add(done)
        if self.on_batch is not None:
            self.on_batch(done)

    def step(self) -> int:
        """One batch of each stage this worker runs; how many messages it handled."""
        handled = 0
        if "check" in self.stages:
            handled += self.check_once()
            handled += self.finalise_once()
        if "notify" in self.stages:
            handled += self.notify_once()
        return handled

    def _next_due(self) -> float | None:
        """Seconds until work may be visible on our queues; None when they are empty (and,
        for a notify-only worker, intake too: the check stage may still publish)."""
        db = self.rt.db
        waits = [db.intake.next_visible_in()]
        if "notify" in self.stages:
            waits.append(db.notify.next_visible_in())
        due = [w for w in waits if w is not None]
        return min(due) if due else None

    def run_until_idle(self, stop: threading.Event | None = None) -> Tally:
        """Work until nothing is visible, in flight or waiting for a retry on the queues,
        sleeping until the next delayed message is due."""
        stop = stop or threading.Event()
        while not stop.is_set():
            if self.step():
                continue
            wait = self._next_due()
            if wait is None:
                break
            stop.wait(min(max(wait, 0.01), self.poll_seconds))
        return self.tally

    def run_forever(self, stop: threading.Event) -> Tally:
        """Work until `stop` is set (SIGTERM/SIGINT in `uvqc work`); a batch in progress is
        finished first, so stopping never leaves a half-handled batch."""
        log.info("worker %s started", self.name)
        while not stop.is_set():
            if self.step():
                continue
            wait = self._next_due()
            poll = self.poll_seconds
            stop.wait(poll if wait is None else min(max(wait, 0.01), poll))
        log.info("worker %s stopped", self.name)
        return self.tally


def run_together(workers: list[Worker], stop: threading.Event | None = None) -> Tally:
    """Run workers (typically one per stage, each on its own Runtime and connections) in
    threads until all are idle. The notify stage waits on the relay while the check stage
    uses the CPU, so the two overlap. An error in one stops the others and is re-raised."""
    stop = stop or threading.Event()
    errors: list[BaseException] = []

    def body(worker: Worker) -> None:
        try:
            worker.run_until_idle(stop)
        except BaseException as exc:
            errors.append(exc)
            stop.set()
            raise

    threads = [
        threading.Thread(target=body, args=(w,), name=f"uvqc-{'+'.join(w.stages)}") for w in workers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    total = Tally()
    for w in workers:
        total.add(w.tally)
    return total
