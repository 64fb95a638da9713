"""The embedded worker: both stages over the SQLite queues, the same code the Lambdas run.

intake: receive a batch -> check_batch -> delete what succeeded (failures reappear after the
visibility timeout). notify: receive a batch -> notify_batch -> delete SENT/DUPLICATE, delay
RETRY (change_visibility), dead-letter DEAD with its reason, put DEFER back with its receive
returned (the channel's circuit breaker is open: not an attempt); when the breaker closes
again, every notification waiting for a retry is made visible at once. Several workers
(threads with their own Runtime, or processes) may share one database file.

When another process holds the database's write lock longer than the busy timeout (a backup,
a long `sqlite3` session), a step fails with DatabaseBusyError: the worker logs a warning,
waits and tries again instead of dying; what the failed step had received reappears after
its visibility timeout, so nothing is lost.
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

from uvqc.adapters.sqlite import housekeeping
from uvqc.adapters.sqlite.db import transaction
from uvqc.adapters.sqlite.queue import Message
from uvqc.core.verdicts import Verdict
from uvqc.errors import DatabaseBusyError, InfrastructureError
from uvqc.local import daily
from uvqc.local.runtime import Runtime
from uvqc.pipeline.check import Incoming, judge_batch, message_ids, publish_notices, record_batch
from uvqc.pipeline.notify import Delivery, Outcome, notify_batch
from uvqc.runs.notices import RunArrival

log = logging.getLogger("uvqc.local.worker")

POLL_SECONDS = 0.1  # between looks at empty queues: bounds alert latency, costs ~no CPU
# After a busy timeout (the lock was already waited for that long): pause, doubling per
# consecutive failure up to the cap, then try again.
BUSY_PAUSE_SECONDS = 1.0
BUSY_PAUSE_MAX_SECONDS = 30.0
DAILY_CHECK_SECONDS = 60.0  # how often the check worker looks whether a daily digest is due


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
    deferred: int = 0  # put back untried: the channel was down (circuit breaker open)
    earlier: int = 0  # results received that an earlier submit queued (not this run's)

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
        own_tag: str | None = None,
    ) -> None:
        """`own_tag`: count only results queued with this tag (by `uvqc run`) as received,
        passed, flagged or rejected; others are counted as `earlier`."""
        self.rt = runtime
        self.own_tag = own_tag
        self.name = name or worker_name()
        self.stages = stages
        self.tally = Tally()
        self.on_batch = on_batch
        self.poll_seconds = runtime.poll_seconds
        self.busy_pause_seconds = BUSY_PAUSE_SECONDS
        self._busy_in_a_row = 0
        # The check-stage worker does the housekeeping (one per `uvqc run`), at start and
        # then every housekeeping_seconds.
        self.housekeeping_due: float | None = (
            time.monotonic() if "check" in stages and runtime.housekeeping_seconds > 0 else None
        )
        self._last_finalise = float("-inf")
        self._last_daily = float("-inf")

    def check_once(self) -> int:
        """One intake batch; returns how many messages were received."""
        db = self.rt.db
        messages = db.intake.receive(self.rt.batch_size, self.rt.visibility_timeout)
        if not messages:
            return 0
        incoming = [
            Incoming(
                m.id,
                m.body,
                _received_at(m),
                source=m.source,
                submission_id=m.submission_id,
            )
            for m in messages
        ]
        arrivals: list[RunArrival] = []
        records = judge_batch(incoming, methods=self.rt.methods, arrivals=arrivals)
        # One unit of work: records, notification requests and the intake deletes commit
        # together (one fsync per batch instead of three, and nothing half-done on a crash);
        # judging happens before, so the write lock is held only for the writes. Runs are
        # evaluated inside it: two workers never decide on one run at once.
        with transaction(db.work_conn):
            outcome = record_batch(
                records,
                store=db.store,
                notify=db.notify_port,
                windows=db.windows,
                window=self.rt.window,
                ids=message_ids(incoming),
                runs=self.rt.runs,
                arrivals=arrivals,
            )
            failed = set(outcome.failed)
            settled = failed | set(outcome.dead)
            db.intake.delete([m.receipt for m in messages if m.id not in settled])
            db.intake.dead_letter(
                [(m.receipt, outcome.dead[m.id]) for m in messages if m.id in outcome.dead]
            )
        mine = {
            record_id
            for m, record_id in zip(messages, (r.record_id for r in records), strict=True)
            if self.own_tag is None or m.submitted_by == self.own_tag
        }
        stored = [r for r in outcome.records if r.record_id in mine]
        done = Tally(
            received=sum(
                1 for m in messages if self.own_tag is None or m.submitted_by == self.own_tag
            ),
            passed=sum(r.verdict is Verdict.PASS for r in stored),
            flagged=sum(r.verdict is Verdict.FLAG for r in stored),
            rejected=sum(r.verdict is Verdict.REJECT for r in stored),
            check_failures=len(failed),
            earlier=sum(
                1 for m in messages if self.own_tag is not None and m.submitted_by != self.own_tag
            ),
        )
        self._count(done)
        return len(messages)

    def finalise_once(self, now: datetime | None = None) -> int:
        """Finalise runs quiet for UVQC_RUN_QUIET_SECONDS and send due groups of held run
        decisions (uvqc.runs.grouping), checked at most once a second; returns how many run
        notices were queued."""
        runs = self.rt.runs
        clock = time.monotonic()
        if runs is None or (now is None and clock - self._last_finalise < 1.0):
            return 0
        self._last_finalise = clock
        db = self.rt.db
        moment = now or datetime.now(UTC)
        quiet, grouped = runs.quiet_due(now=moment), runs.groups_due(now=moment)
        if not (quiet or grouped):
            return 0
        with transaction(db.work_conn):
            notices = runs.finalise_quiet(now=moment) if quiet else []
            notices += runs.flush_groups(now=moment) if grouped else []
            unique = list({n.key: n for n in notices}.values())
            publish_notices(unique, runs=runs, notify=db.notify_port)
        return len(unique)

    def daily_once(self, now: datetime | None = None) -> int:
        """Queue yesterday's daily digest once UVQC_DAILY_DIGEST_AT has passed, and the days
        missed since the last automatic one (looked at most once a minute; uvqc.local.daily);
        returns how many digests were queued."""
        clock = time.monotonic()
        if self.rt.settings.daily_digest_at is None or (
            now is None and clock - self._last_daily < DAILY_CHECK_SECONDS
        ):
            return 0
        self._last_daily = clock
        moment = now or datetime.now(UTC)
        done = daily.tick(self.rt.db, self.rt.settings, moment)
        for queued in done.queued:
            log.info(queued.describe())
        return sum(q.request is not None for q in done.queued)

    def notify_once(self) -> int:
        """One notify batch; returns how many messages were received."""
        db = self.rt.db
        messages = db.notify.receive(self.rt.batch_size, self.rt.visibility_timeout)
        if not messages:
            return 0
        try:
            self.rt.ensure_channel_bound()
        except BaseException:
            db.notify.change_visibility([(m.receipt, 0.0) for m in messages])  # untouched
            raise
        by_id = {m.id: m for m in messages}
        results = notify_batch(
            [Delivery(m.id, m.body, m.receive_count) for m in messages],
            ledger=db.ledger,
            channel=self.rt.channel,
            mail=self.rt.mail,
            policy=self.rt.policy,
            worker=self.name,
            lease=self.rt.lease,
            breaker=self.rt.breaker,
            digests=self.rt.digests,
        )
        done_, retry, dead, deferred = [], [], [], []
        for r in results:
            receipt = by_id[r.message_id].receipt
            if r.outcome in (Outcome.SENT, Outcome.DUPLICATE):
                done_.append(receipt)
            elif r.outcome is Outcome.RETRY:
                retry.append((receipt, r.delay_seconds))
            elif r.outcome is Outcome.DEFER:
                deferred.append((receipt, r.delay_seconds))
            else:
                dead.append((receipt, r.reason))
        db.notify.delete(done_)
        db.notify.change_visibility(retry)
        db.notify.release(deferred)
        db.notify.dead_letter(dead)
        if self.rt.breaker.take_recovery():
            woken = db.notify.wake()
            log.info("notification channel is back; %d waiting notification(s) resumed", woken)
        self._count(
            Tally(
                notified=sum(r.outcome is Outcome.SENT for r in results),
                duplicates=sum(r.outcome is Outcome.DUPLICATE for r in results),
                retries=len(retry),
                dead_lettered=len(dead),
                deferred=len(deferred),
            )
        )
        return len(messages)

    def _count(self, done: Tally) -> None:
        self.tally.add(done)
        if self.on_batch is not None:
            self.on_batch(done)

    def housekeep(self) -> housekeeping.SweepReport:
        """Expired ledger rows out, free pages back (adapters/sqlite/housekeeping.py)."""
        report = housekeeping.sweep(self.rt.db.work_conn, ledger_retention=self.rt.ledger_retention)
        if report.ledger_rows_removed or report.pages_freed:
            log.info(
                "housekeeping: %d expired ledger row(s) removed, %d page(s) freed",
                report.ledger_rows_removed,
                report.pages_freed,
            )
        return report

    def _maybe_housekeep(self) -> None:
        if self.housekeeping_due is None or time.monotonic() < self.housekeeping_due:
            return
        self.housekeeping_due = time.monotonic() + self.rt.housekeeping_seconds
        try:
            self.housekeep()
        except DatabaseBusyError:
            # Another process holds the lock: the step's busy handling waits and says so;
            # housekeeping is tried again at the next step.
            self.housekeeping_due = time.monotonic()
            raise
        except InfrastructureError:
            # Housekeeping is never urgent: the next pass (one interval later) tries again.
            log.exception("housekeeping failed; retrying in %.0f s", self.rt.housekeeping_seconds)

    def step(self) -> int:
        """One batch of each stage this worker runs; how many messages it handled."""
        self._maybe_housekeep()
        handled = 0
        if "check" in self.stages:
            handled += self.check_once()
            handled += self.finalise_once()
            handled += self.daily_once()
        if "notify" in self.stages:
            handled += self.notify_once()
        return handled

    def _try_step(self, stop: threading.Event) -> int | None:
        """One step; None when the database was busy (logged, paused: try again)."""
        try:
            handled = self.step()
        except DatabaseBusyError as exc:
            self._busy_in_a_row += 1
            pause = min(
                self.busy_pause_seconds * 2 ** (self._busy_in_a_row - 1), BUSY_PAUSE_MAX_SECONDS
            )
            log.warning(
                "database busy, worker %s retries in %.1f s (attempt %d): %s",
                self.name,
                pause,
                self._busy_in_a_row,
                exc,
            )
            stop.wait(pause)
            return None
        self._busy_in_a_row = 0
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
            handled = self._try_step(stop)
            if handled is None or handled:
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
            handled = self._try_step(stop)
            if handled is None or handled:
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
