"""The chaos run: the embedded pipeline under a faulty relay, an outage and SIGKILLs.

10,000 generated results (about 15 % flagged, 3 % malformed, 5 % of them submitted a second
time) are fed to the SQLite intake queue as a steady stream, while a real `python -m uvqc
work` process delivers over SMTP to `tests.support.relay.FaultyRelay`, which fails 10 % of
deliveries with 451, drops 2 % of connections at DATA, and is down entirely (connection
refused) for 60 s starting a few seconds into the run. The worker is killed with SIGKILL
three times (before, during and after the outage) and restarted each time.

Every figure is derived from what was observed, not from the worker's own counters: the
generator's ground truth (which result is flagged or malformed), the SQLite file (records,
ledger, queues, dead letters) read with a plain read-only connection, and the list of
messages the relay actually accepted (Message-ID, X-UVQC-Sample-Id, X-UVQC-Notification-Key).

    python -m bench.chaos                 # full run (~2.5 min), writes docs/bench/chaos.json
    python -m bench.chaos --quick         # smoke run (< 60 s), same figures, smaller
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import PYTHON, machine, save
from bench.traffic import Item, body_of, describe, lab_items, submission_order
from tests.support.relay import FaultyRelay, Received

NAME = "chaos"
GOAL_DRAIN_S = 10.0  # after the relay is back (issue 8)
KEY_HEADER = re.compile(rb"^X-UVQC-Notification-Key:[ \t]*(\S+)", re.MULTILINE | re.IGNORECASE)


# -- the results: bench/traffic.py (a lab week's traffic) --------------------------------------
def probe_non_utf8(workdir: Path) -> str:
    """Submit one non-UTF-8 body to a scratch intake queue: what happens to it."""
    from uvqc.local.runtime import Database

    try:
        with Database.open(workdir / "probe.db") as db:
            db.intake_port.submit([b"\xff\xfe broken interface \x00\x81"])
            (n,) = db.conn.execute("SELECT COUNT(*) FROM messages").fetchone()
    except Exception as exc:
        return f"submit raised {type(exc).__name__}: {exc}"
    return f"accepted ({n} message queued)"


# -- the worker process ----------------------------------------------------------------------
class WorkerProcess:
    """`python -m uvqc work` as a child: start, SIGKILL, restart, stop; never left behind."""

    def __init__(self, env: dict[str, str], logs: Path, cwd: Path) -> None:
        self.env = env
        self.logs = logs
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.incarnations = 0
        self.exit_codes: list[int] = []

    def start(self) -> None:
        self.incarnations += 1
        log = (self.logs / f"worker-{self.incarnations}.out").open("wb")
        try:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "uvqc", "work"],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.exit_codes.append(self.proc.wait(timeout=10))
        self.proc = None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the batch in progress is finished), SIGKILL if it does not exit."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
        self.exit_codes.append(self.proc.wait(timeout=10))
        self.proc = None


def worker_env(db: Path, relay: FaultyRelay, log_file: Path, **settings: Any) -> dict[str, str]:
    """The environment of `uvqc work`: no UVQC_* of the caller leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UVQC_")}
    env.update(
        UVQC_DB=str(db),
        UVQC_CHANNEL="smtp",
        UVQC_SMTP_HOST=relay.host,
        UVQC_SMTP_PORT=str(relay.port),
        UVQC_LOG_LEVEL="WARNING",
        UVQC_LOG_FILE=str(log_file),
    )
    env.update({f"UVQC_{k.upper()}": str(v) for k, v in settings.items()})
    return env


class HardTimeout(Exception):
    pass


@contextlib.contextmanager
def hard_timeout(seconds: float) -> Iterator[None]:
    """SIGALRM after `seconds` (the loops check their own deadlines first); SIGTERM too
    becomes an exception, so `finally` blocks reap the worker."""

    def alarm(_signum: int, _frame: Any) -> None:
        raise HardTimeout(f"hard timeout of {seconds:.0f} s")

    def term(_signum: int, _frame: Any) -> None:
        raise HardTimeout("terminated")

    old_alarm = signal.signal(signal.SIGALRM, alarm)
    old_term = signal.signal(signal.SIGTERM, term)
    signal.alarm(math.ceil(seconds))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_alarm)
        signal.signal(signal.SIGTERM, old_term)


def read_only(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def queue_rows(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT queue, COUNT(*) FROM messages GROUP BY queue").fetchall())


# -- what the relay received -----------------------------------------------------------------
def notification_key(message: Received) -> str | None:
    found = KEY_HEADER.search(message.data)
    return found.group(1).decode() if found else None


def reason_kind(reason: str) -> str:
    """A dead-letter reason without its variable parts, for grouping."""
    text = re.sub(r"\d+(\.\d+)?", "N", reason)
    return text.split(";")[0][:120]


def analyse(
    *,
    items: Sequence[Item],
    submitted: Sequence[tuple[str, int]],  # (message id, item index) in submission order
    records: dict[str, tuple[str | None, str, str | None]],  # record id -> sample, verdict, key
    ledger: dict[str, dict[str, Any]],  # key -> status, sample, attempts
    dead: Sequence[tuple[str, str]],  # (queue, reason)
    received: Sequence[Received],
    back_up_at: float | None = None,
) -> dict[str, Any]:
    """The figures, from the ground truth, the stored records and the relay's list."""
    unique = {i for _, i in submitted}
    expected_kind = Counter(items[i].kind for i in unique)
    lost = [mid for mid, _ in submitted if mid not in records]
    verdict_of = {"pass": "pass", "flag": "flag", "malformed": "reject"}
    mismatched = [
        mid
        for mid, i in submitted
        if mid in records and records[mid][1] != verdict_of[items[i].kind]
    ]

    # Expected e-mails: one per distinct flagged or rejected result, where a result is its
    # content (canonical JSON: a redelivery, re-serialised or not, is the same result;
    # another day's reading or another reject of the same sample is not). Each e-mail is
    # tied to results through its X-UVQC-Notification-Key and the records carrying that
    # key, independently of how uvqc derives keys.
    expected = {items[i].content for i in unique if items[i].kind != "pass"}
    keys_of: dict[str, set[str]] = {}
    for mid, i in submitted:
        if mid in records and records[mid][2]:
            keys_of.setdefault(items[i].content, set()).add(str(records[mid][2]))
    unreadable = sum(1 for i in unique if items[i].kind == "malformed" and not items[i].sample_id)

    by_mid = Counter(m.message_id for m in received)
    keys_received = [notification_key(m) for m in received]
    by_key = Counter(k for k in keys_received if k)
    contents_of_key: dict[str, set[str]] = {}
    for content, keys in keys_of.items():
        for k in keys:
            contents_of_key.setdefault(k, set()).add(content)
    # A distinct result got its own e-mail if some e-mail's key is its key and that key
    # belongs to no other distinct result ("merged": several results, one e-mail).
    without_email = sorted(c for c in expected if not keys_of.get(c, set()) & set(by_key))
    merged = sum(
        len(contents_of_key[k] & expected) - 1
        for k in by_key
        if len(contents_of_key.get(k, set()) & expected) > 1
    )
    # The same result e-mailed under two keys (a redelivery taken for a new result).
    same_result_twice = sum(max(0, len(keys_of.get(c, set()) & set(by_key)) - 1) for c in expected)
    expected_keys = {k for c in expected for k in keys_of.get(c, set())}
    unexpected_keys = sorted(set(by_key) - expected_keys)
    pass_keys = {
        str(records[mid][2])
        for mid, i in submitted
        if mid in records and records[mid][2] and items[i].kind == "pass"
    }
    emails_for_passes = sorted(set(by_key) & pass_keys)

    duplicates = []
    for mid, n in sorted(by_mid.items()):
        if n < 2:
            continue
        key = next(
            (k for m, k in zip(received, keys_received, strict=True) if m.message_id == mid), None
        )
        attempts = ledger.get(key or "", {}).get("attempts", [])
        duplicates.append(
            {
                "message_id": mid,
                "times_received": n,
                "sample_id": next(m.sample_id for m in received if m.message_id == mid),
                "ledger_marks_resend": any("resend" in a.get("detail", "") for a in attempts),
                "attempts": [f"{a['outcome']}: {a['detail'][:100]}" for a in attempts],
            }
        )
    resends = {
        k: v
        for k, v in ledger.items()
        if any("resend" in a.get("detail", "") for a in v["attempts"])
    }
    attempts_per_key = [len(v["attempts"]) for v in ledger.values()]
    copies = Counter(k for _, _, k in records.values() if k)
    single = [len(v["attempts"]) for k, v in ledger.items() if copies[k] == 1]
    after = Counter(
        sum(
            1
            for a in v["attempts"]
            if a["outcome"] != "sent" and back_up_at is not None and _ts(a["at"]) >= back_up_at
        )
        for v in ledger.values()
    )
    outcomes = Counter(a["outcome"] for v in ledger.values() for a in v["attempts"])
    flagged_unique = expected_kind["flag"]
    malformed_unique = expected_kind["malformed"]
    return {
        "submitted": len(submitted),
        "unique_results": len(unique),
        "duplicate_submissions": len(submitted) - len(unique),
        "expected_flagged": flagged_unique,
        "expected_rejected": malformed_unique,
        "expected_passed": expected_kind["pass"],
        "records": len(records),
        "records_by_verdict": dict(Counter(v for _, v, _ in records.values())),
        "results_lost": len(lost),
        "lost_examples": lost[:5],
        "verdict_mismatches": len(mismatched),
        "emails_expected": len(expected),
        "notification_keys_in_records": len(expected_keys),
        "emails_received": len(received),
        "distinct_message_ids_received": len(by_mid),
        "emails_missing": len(without_email) + merged,
        "results_without_email": len(without_email),
        "results_merged_into_one_email": merged,
        "same_result_emailed_twice": same_result_twice,
        "missing_examples": [c[:160] for c in without_email[:5]],
        "unreadable_rejects": unreadable,
        "unexpected_emails": len(unexpected_keys),
        "emails_for_passes": len(emails_for_passes),
        "duplicate_emails": sum(n - 1 for n in by_mid.values() if n > 1),
        "duplicate_emails_by_key": sum(n - 1 for n in by_key.values() if n > 1),
        "duplicates": duplicates,
        "ledger_resends": len(resends),
        # A reject without a readable sample ID is known by its notification key.
        "ledger_resend_samples": sorted(
            str(v["sample_id"]) if v["sample_id"] is not None else f"key {k[:12]}"
            for k, v in resends.items()
        )[:10],
        "ledger_status": dict(Counter(v["status"] for v in ledger.values())),
        "attempt_outcomes": dict(outcomes),
        "max_attempts_per_notification": max(attempts_per_key, default=0),
        "attempts_histogram": dict(sorted(Counter(attempts_per_key).items())),
        "max_attempts_submitted_once": max(single, default=0),
        "failures_after_outage_histogram": {str(k): v for k, v in sorted(after.items())},
        "most_attempts_example": _most_attempts(ledger),
        "dead_lettered": len(dead),
        "dead_by_reason": dict(Counter(f"{q}: {reason_kind(r)}" for q, r in dead)),
        "dead_examples": [f"{q}: {r[:200]}" for q, r in dead[:5]],
    }


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _most_attempts(ledger: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if not ledger:
        return {}
    row = max(ledger.values(), key=lambda v: len(v["attempts"]))
    return {
        "sample_id": row["sample_id"],
        "status": row["status"],
        "attempts": [
            f"{a['at'][11:23]} {a['outcome']}: {a['detail'][:70]}" for a in row["attempts"]
        ],
    }


def read_db(
    db: Path,
) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, str]], dict[str, int]]:
    conn = read_only(db)
    try:
        records = {
            r[0]: (r[1], r[2], r[3])
            for r in conn.execute(
                "SELECT record_id, sample_id, verdict, notification_key FROM results"
            )
        }
        ledger = {
            r[0]: {"status": r[1], "sample_id": r[2], "attempts": json.loads(r[3])}
            for r in conn.execute("SELECT key, status, sample_id, attempts FROM notifications")
        }
        dead = [
            (str(r[0]), str(r[1] or ""))
            for r in conn.execute(
                "SELECT source_queue, dead_reason FROM messages "
                "WHERE queue LIKE '%-dlq' ORDER BY dead_at"
            )
        ]
        queues = queue_rows(conn)
    finally:
        conn.close()
    return records, ledger, dead, queues


# -- the run ---------------------------------------------------------------------------------
@dataclass
class OutageWindow:
    """Takes the relay down (connection refused) at `start` and back up at `end`, on the
    run's clock; the chaos runs of both runtimes call `tick(t)` from their loops."""

    relay: FaultyRelay
    start: float
    end: float
    note: Callable[..., None]
    began: bool = False
    ended: bool = False
    back_up_wall: float | None = None  # wall-clock time the relay came back

    def tick(self, t: float) -> None:
        if not self.began and t >= self.start:
            self.relay.set_outage("refuse")
            self.began = True
            self.note("relay down (connection refused)")
        if self.began and not self.ended and t >= self.end:
            self.relay.set_outage(None)
            self.ended = True
            self.back_up_wall = time.time()
            self.note("relay back up")


@dataclass
class Plan:
    results: int
    seconds_outage: float
    outage_start: float
    submit_seconds: float
    kill_at: list[float]
    retry_base: float
    retry_max: float
    max_attempts: int
    visibility: float
    smtp_timeout: float
    hard_timeout: float
    restart_after: float = 1.0
    transient_rate: float = 0.10
    drop_rate: float = 0.02
    flagged: float = 0.15
    malformed: float = 0.03
    duplicates: float = 0.05
    seed: int = 2026
    events: list[dict[str, Any]] = field(default_factory=list)


def make_plan(results: int, seconds_outage: float, quick: bool) -> Plan:
    start = 3.0 if quick else 5.0
    end = start + seconds_outage
    retry_base, retry_max = (0.5, 4.0) if quick else (2.0, 30.0)
    return Plan(
        results=results,
        seconds_outage=seconds_outage,
        outage_start=start,
        submit_seconds=5.0 if quick else 40.0,
        # Spread out: while e-mails flow before the outage, in the middle of the outage, and
        # in the retry flood just after it.
        kill_at=[start / 2, start + seconds_outage / 2, end + (2.0 if quick else 4.0)],
        retry_base=retry_base,
        retry_max=retry_max,
        max_attempts=12,
        visibility=3.0 if quick else 10.0,
        smtp_timeout=5.0,
        hard_timeout=55.0 if quick else 225.0,
    )


def run(plan: Plan, workdir: Path) -> dict[str, Any]:
    from uvqc.local.runtime import Database

    items = lab_items(
        plan.results, seed=plan.seed, prefix="CH", flagged=plan.flagged, malformed=plan.malformed
    )
    order = submission_order(plan.results, seed=plan.seed, duplicates=plan.duplicates)
    db_path = workdir / "uvqc.db"
    relay = FaultyRelay(
        transient_rate=plan.transient_rate, drop_rate=plan.drop_rate, seed=plan.seed
    )
    events = plan.events
    submitted: list[tuple[str, int]] = []
    tick = 0.2
    per_tick = max(1, math.ceil(len(order) * tick / plan.submit_seconds))
    kills = sorted(plan.kill_at)
    outage_end = plan.outage_start + plan.seconds_outage
    drained_at: float | None = None
    t0 = time.monotonic()

    def now() -> float:
        return time.monotonic() - t0

    def note(what: str, **extra: Any) -> None:
        events.append({"t": round(now(), 3), "event": what, **extra})

    with relay, Database.open(db_path) as db:
        env = worker_env(
            db_path,
            relay,
            workdir / "worker.log",
            retry_base_seconds=plan.retry_base,
            retry_max_seconds=plan.retry_max,
            max_attempts=plan.max_attempts,
            visibility_timeout_seconds=plan.visibility,
            smtp_timeout_seconds=plan.smtp_timeout,
        )
        worker = WorkerProcess(env, workdir, workdir)
        watch = read_only(db_path)
        try:
            t0 = time.monotonic()
            worker.start()
            note("worker started", pid=worker.pid)
            position, next_submit = 0, 0.0
            outage = OutageWindow(relay, plan.outage_start, outage_end, note)
            restart_at: float | None = None
            armed_since: float | None = None
            last_seen = 0
            next_check = 0.0
            while True:
                t = now()
                if t > plan.hard_timeout:
                    note("hard timeout: not drained")
                    break
                if position < len(order) and t >= next_submit:
                    chunk = order[position : position + per_tick]
                    ids = db.intake_port.submit([body_of(items, e) for e in chunk])
                    submitted.extend(zip(ids, [i for i, _ in chunk], strict=True))
                    position += len(chunk)
                    next_submit += tick
                    if position == len(order):
                        note("last result submitted", submitted=len(submitted))
                outage.tick(t)
                accepted = len(relay.received)
                if kills and t >= kills[0] and worker.alive():
                    # Armed: kill while e-mails are flowing (the relay just accepted one), or
                    # after 2 s at most (during the outage nothing flows).
                    armed_since = armed_since if armed_since is not None else t
                    if accepted > last_seen or t - armed_since > 2.0 or relay.outage:
                        in_flight = watch.execute(
                            "SELECT queue, COUNT(*) FROM messages WHERE in_flight = 1 AND "
                            "visible_at > ? GROUP BY queue",
                            (time.time(),),
                        ).fetchall()
                        worker.kill()
                        kills.pop(0)
                        armed_since = None
                        restart_at = t + plan.restart_after
                        note(
                            "worker SIGKILLed",
                            relay_accepted=accepted,
                            in_flight_before_kill=dict(in_flight),
                        )
                last_seen = accepted
                if restart_at is not None and t >= restart_at:
                    worker.start()
                    restart_at = None
                    note("worker restarted", pid=worker.pid)
                elif restart_at is None and not worker.alive():
                    code = worker.proc.returncode if worker.proc else None
                    note("worker exited on its own: restarted", returncode=code)
                    worker.proc = None
                    worker.start()
                done_feeding = position == len(order) and outage.ended and not kills
                if done_feeding and restart_at is None and t >= next_check:
                    next_check = t + 0.25
                    rows = queue_rows(watch)
                    if rows.get("intake", 0) == 0 and rows.get("notify", 0) == 0:
                        drained_at = t
                        note("drained: intake and notify queues empty")
                        break
                time.sleep(0.001 if kills and t >= kills[0] - 0.05 else 0.01)
        finally:
            watch.close()
            worker.stop()
        received = relay.messages()
        counters = relay.counters

    last_email = max((m.at for m in received), default=None)
    records, ledger, dead, queues = read_db(db_path)
    figures = analyse(
        items=items,
        submitted=submitted,
        records=records,
        ledger=ledger,
        dead=dead,
        received=received,
        back_up_at=outage.back_up_wall,
    )
    log_lines = []
    log_path = workdir / "worker.log"
    if log_path.exists():
        log_lines = log_path.read_text(errors="replace").splitlines()
    resend_logs = sum("previous send was interrupted" in line for line in log_lines)
    t_end = drained_at if drained_at is not None else now()
    return {
        **figures,
        "traffic": describe(items),
        "drained": drained_at is not None,
        "queues_left": queues,
        "seconds_total": round(t_end, 1),
        "seconds_to_drain_after_outage": round(t_end - outage_end, 1),
        "last_email_after_outage_s": (
            None
            if last_email is None or outage.back_up_wall is None
            else round(last_email - outage.back_up_wall, 1)
        ),
        "worker_incarnations": worker.incarnations,
        "worker_exit_codes": worker.exit_codes,
        "worker_log_resend_warnings": resend_logs,
        "worker_log_lines": len(log_lines),
        "relay": {
            "connections": counters.connections,
            "accepted": counters.accepted,
            "transient_451": counters.transient,
            "dropped": counters.dropped,
        },
        "events": events,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 results, 8 s outage")
    parser.add_argument("--results", type=int, default=None, help="distinct results (10000)")
    parser.add_argument("--seconds-outage", type=float, default=None, help="relay outage (60)")
    parser.add_argument("--no-save", action="store_true", help="do not write docs/bench/chaos.json")
    args = parser.parse_args(argv)
    results = args.results or (1000 if args.quick else 10_000)
    outage = (
        args.seconds_outage if args.seconds_outage is not None else (8.0 if args.quick else 60.0)
    )
    plan = make_plan(results, outage, args.quick)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="uvqc-chaos-") as tmp,
        hard_timeout(plan.hard_timeout + 60),
    ):
        figures = run(plan, Path(tmp))
        figures["non_utf8_submit_probe"] = probe_non_utf8(Path(tmp))
    data = {
        "machine": machine(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "mode": "quick" if args.quick else "full",
        "plan": {k: v for k, v in plan.__dict__.items() if k != "events"},
        "figures": figures,
        "wall_seconds": round(time.monotonic() - started, 1),
        "command": "python -m bench.chaos" + (" --quick" if args.quick else ""),
    }
    if not args.no_save:
        save(NAME, data)
    print(render(data))
    return data


# -- the report ------------------------------------------------------------------------------
def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def verdict_rows(f: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, measured, goal, met) rows shared by the embedded and the AWS chaos runs."""
    crash_dups = sum(1 for d in f["duplicates"] if d["ledger_marks_resend"])
    other_dups = f["duplicate_emails"] - sum(
        d["times_received"] - 1 for d in f["duplicates"] if d["ledger_marks_resend"]
    )
    missing = f["emails_missing"]
    return [
        (
            "results lost (submitted, no record)",
            str(f["results_lost"]),
            "0",
            _mark(f["results_lost"] == 0),
        ),
        (
            "distinct results without their own e-mail",
            f"{missing} ({f['results_without_email']} none, "
            f"{f['results_merged_into_one_email']} merged into another's)",
            "0",
            _mark(missing == 0),
        ),
        (
            "the same result e-mailed twice (a redelivery taken for a new result)",
            str(f["same_result_emailed_twice"]),
            "0",
            _mark(f["same_result_emailed_twice"] == 0),
        ),
        (
            "duplicate e-mails (same Message-ID twice)",
            str(f["duplicate_emails"]),
            "0",
            _mark(f["duplicate_emails"] == 0)
            + (" (crash-window resends only)" if f["duplicate_emails"] and not other_dups else ""),
        ),
        (
            "  of which crash-window resends (ledger says resend)",
            str(crash_dups),
            "identified",
            "met" if other_dups == 0 else "**missed**",
        ),
        (
            "unexpected e-mails (passes, unknown keys)",
            str(f["unexpected_emails"] + f.get("emails_for_passes", 0)),
            "0",
            _mark(f["unexpected_emails"] + f.get("emails_for_passes", 0) == 0),
        ),
        (
            "verdicts differing from the ground truth",
            str(f["verdict_mismatches"]),
            "0",
            _mark(f["verdict_mismatches"] == 0),
        ),
        (
            "dead-lettered",
            str(f["dead_lettered"]),
            "0 (all transient)",
            _mark(f["dead_lettered"] == 0),
        ),
    ]


def _table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def traffic_rows(f: dict[str, Any]) -> list[tuple[str, str]]:
    t = f.get("traffic")
    if not t:
        return []
    reasons = ", ".join(f"{k} {v}" for k, v in t["malformed_by_reason"].items())
    return [
        (
            "samples (distinct IDs)",
            f"{t['samples']:,}: {t['samples_with_several_results']:,} with several results, "
            f"{t['samples_measured_on_several_days']:,} measured on several days",
        ),
        (
            "non-ASCII sample IDs",
            f"{t['non_ascii_sample_ids']:,} ({t['results_with_non_ascii_ids']:,} results; "
            f"longest ID {t['longest_sample_id']} characters)",
        ),
        ("flagged readings re-measured diluted", f"{t['re_measured_diluted']:,}"),
        ("rejects (three reasons per affected sample)", reasons),
    ]


def counts_rows(f: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("submitted messages", f"{f['submitted']:,}"),
        ("distinct results", f"{f['unique_results']:,}"),
        ("submitted twice (half of them re-serialised)", f"{f['duplicate_submissions']:,}"),
        *traffic_rows(f),
        (
            "records stored",
            f"{f['records']:,} ({_pairs(f['records_by_verdict'])})",
        ),
        ("flagged (distinct, ground truth)", f"{f['expected_flagged']:,}"),
        (
            "rejected / malformed (distinct)",
            f"{f['expected_rejected']:,} ({f['unreadable_rejects']} without a readable sample ID)",
        ),
        (
            "e-mails expected (one per distinct flagged/rejected result content)",
            f"{f['emails_expected']:,}",
        ),
        ("notification keys in the records", f"{f['notification_keys_in_records']:,}"),
        (
            "e-mails the relay accepted",
            f"{f['emails_received']:,} "
            f"({f['distinct_message_ids_received']:,} distinct Message-IDs)",
        ),
        ("ledger", ", ".join(f"{k} {v:,}" for k, v in sorted(f["ledger_status"].items()))),
        (
            "delivery attempts recorded",
            ", ".join(f"{k} {v:,}" for k, v in sorted(f["attempt_outcomes"].items())),
        ),
        (
            "most attempts for one notification key",
            f"{f['max_attempts_per_notification']} (both copies of a twice-submitted result "
            "retry on their own until one is sent; the limit applies per message); "
            f"{f.get('max_attempts_submitted_once', '-')} for a result submitted once",
        ),
        (
            "notifications by failures after the relay came back",
            ", ".join(
                f"{k}: {v:,}" for k, v in f.get("failures_after_outage_histogram", {}).items()
            ),
        ),
        (
            "crash-window resends in the ledger (one whose first try died before the relay's "
            "250 arrives once)",
            f"{f['ledger_resends']} {f['ledger_resend_samples'] or ''}".strip(),
        ),
    ]


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))


def render(data: dict[str, Any] | None) -> str:
    if not data:
        return "## Chaos run: embedded pipeline\n\nNot measured yet: `python -m bench.chaos`.\n"
    p, f = data["plan"], data["figures"]
    worst = outage_failures(p["retry_base"], p["retry_max"], p["seconds_outage"])
    odds = (p["transient_rate"] + p["drop_rate"]) ** max(0, p["max_attempts"] - worst)
    rows = verdict_rows(f)
    rows.append(
        (
            "time to drain after the relay came back",
            f"{f['seconds_to_drain_after_outage']} s",
            f"<= {GOAL_DRAIN_S:g} s",
            _mark(f["drained"] and f["seconds_to_drain_after_outage"] <= GOAL_DRAIN_S),
        ),
    )
    out = [
        "## Chaos run: embedded pipeline",
        "",
        f"`{data['command']}` ({data['mode']} mode, {data['wall_seconds']} s wall, measured "
        f"{data.get('measured_at', 'now')} on {data.get('machine', {}).get('cpus', '?')} CPUs). "
        f"{p['results']:,} distinct results of a modelled lab week (`bench/traffic.py`: each "
        "sample measured on several days, flagged readings re-measured diluted, three "
        "rejects for different reasons per affected sample, a tenth of the sample IDs "
        f"non-ASCII; {p['flagged']:.0%} flagged, {p['malformed']:.0%} malformed, "
        f"{p['duplicates']:.0%} delivered twice, half of those re-serialised) streamed into "
        "the SQLite intake "
        f"queue over {p['submit_seconds']:.0f} s; one `uvqc work` process delivering over SMTP "
        f"to FaultyRelay: {p['transient_rate']:.0%} of deliveries answered 451, "
        f"{p['drop_rate']:.0%} of connections dropped at DATA, and the relay down (connection "
        f"refused) for {p['seconds_outage']:.0f} s from t = {p['outage_start']:.0f} s; the "
        f"worker SIGKILLed {len(p['kill_at'])} times (before, during and after the outage) and "
        f"restarted {p['restart_after']:.0f} s later. Figures come from the generator's ground "
        "truth, the SQLite file and the relay's list of accepted messages, not from the "
        "worker's counters. Expected e-mails: one per distinct flagged or rejected result "
        "content (canonical JSON; a redelivery is the same result), each e-mail tied to "
        "its results by its notification key.",
        "",
        *_table(rows, ("figure", "measured", "goal", "")),
        "",
        *_table(counts_rows(f), ("count", "value")),
        "",
    ]
    if f["duplicates"]:
        out.append("Duplicates received by the relay:")
        out.append("")
        for d in f["duplicates"]:
            out.append(
                f"- `{d['message_id']}` (sample {d['sample_id']}) x{d['times_received']}; "
                f"ledger marks a resend: {d['ledger_marks_resend']}; attempts: "
                + "; ".join(d["attempts"])
            )
        out.append("")
    if f["dead_by_reason"]:
        out.append(
            "Dead letters by reason: "
            + "; ".join(f"{k}: {v}" for k, v in f["dead_by_reason"].items())
        )
        out.append("")
    kills = [e for e in f["events"] if e["event"] == "worker SIGKILLed"]
    out.append(
        "Kills (each armed at its time and fired the moment the relay accepted an e-mail, or "
        "at once during the outage, so a kill while e-mails flow tends to land between the "
        "relay's 250 and the ledger write: the crash window): "
        + "; ".join(
            f"t = {e['t']:.1f} s (relay had accepted {e['relay_accepted']:,}; in flight "
            f"{e['in_flight_before_kill'] or 'nothing'})"
            for e in kills
        )
        + f". Worker exit codes: {f['worker_exit_codes']} (-9 = SIGKILL, 0 = the final SIGTERM)."
    )
    out += [
        "",
        f"Settings and why: `UVQC_RETRY_BASE_SECONDS={p['retry_base']:g}`, "
        f"`UVQC_RETRY_MAX_SECONDS={p['retry_max']:g}`, `UVQC_MAX_ATTEMPTS={p['max_attempts']}`, "
        f"`UVQC_VISIBILITY_TIMEOUT_SECONDS={p['visibility']:g}` (also the ledger lease), "
        f"`UVQC_SMTP_TIMEOUT_SECONDS={p['smtp_timeout']:g}`. With +-25 % jitter the shortest "
        f"schedule is 0.75 x base x 2^(n-1), capped at 0.75 x max: a notification whose first "
        f"attempt meets the start of a {p['seconds_outage']:.0f} s outage fails at most "
        f"{worst} times inside it, which leaves {p['max_attempts'] - worst} "
        f"attempts for the random faults ({p['transient_rate'] + p['drop_rate']:.0%} per "
        f"attempt, so all of them failing has odds of {odds:.0e} per notification) and for "
        "the receives a SIGKILL costs (a killed batch counts one receive without an "
        "attempt). The cap bounds the wait after the outage to 1.25 x max. The short "
        "visibility timeout only makes the killed batches come back sooner; the embedded "
        "default is 60 s.",
        "",
        f"Time to drain: {f['seconds_total']} s from the first submission to empty intake and "
        f"notify queues, {f['seconds_to_drain_after_outage']} s after the relay came back "
        f"(the last e-mail arrived {f['last_email_after_outage_s']} s after it; goal "
        f"<= {GOAL_DRAIN_S:g} s: {_mark(f['seconds_to_drain_after_outage'] <= GOAL_DRAIN_S)})."
        + (
            ""
            if f["seconds_to_drain_after_outage"] <= GOAL_DRAIN_S
            else " The tail is the backoff, not a stall: after a long outage every pending "
            f"notification's delay is at the cap ({p['retry_max']:g} s, up to "
            f"{1.25 * p['retry_max']:g} s with jitter) when the delay follows the message's "
            "receive count rather than the relay's health; each random failure after the "
            "relay is back costs one more capped wait (see 'failures after the relay came "
            "back' above). A circuit breaker that probes the relay and resumes at full speed "
            "when it answers is separate work (issue 8, case 6)."
        ),
        "",
    ]
    return "\n".join(out)


def outage_failures(base: float, cap: float, outage: float) -> int:
    """Most failed attempts inside an outage of `outage` seconds, with the shortest delays
    the jitter allows (-25 %), for a notification whose first attempt meets its start."""
    t, n = 0.0, 0
    while t < outage:
        n += 1
        t += 0.75 * min(cap, base * 2 ** (n - 1))
    return n


if __name__ == "__main__":
    main(sys.argv[1:])
