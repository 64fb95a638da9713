"""Alert latency in the embedded runtime: from submitting a flagged result to the relay
accepting its e-mail.

A `python -m uvqc work` process runs continuously (channel smtp, to a FaultyRelay without
faults); this process submits results through uvqc's own intake API (`Database.intake_port`,
what `uvqc submit` calls) at a steady 100 results/s, one result every 10 ms on an absolute
schedule, 10 % of them flagged. For each flagged result the latency is the relay's acceptance
time (`Received.at`, matched by X-UVQC-Sample-Id) minus the time just before its submit call.
The records' `checked_at` splits it into "waiting for the worker to look at the intake queue"
and "check + notify".

The full run repeats the measurement with `UVQC_POLL_SECONDS=1.0`, the idle poll `uvqc work`
had before it became a setting (default 0.1 s), and measures the worker's CPU use while idle
for each (the price of polling more often).

    python -m bench.latency            # 2 variants x 30 s, ~80 s
    python -m bench.latency --quick    # shipped only, 8 s
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bench.chaos import WorkerProcess, hard_timeout, worker_env
from bench.common import PYTHON, ROOT, machine, save
from tests.support.relay import FaultyRelay

NAME = "latency"
RATE = 100.0
FLAG_EVERY = 10
GOAL_P99 = 1.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 4),
        "p95": round(percentile(values, 95), 4),
        "p99": round(percentile(values, 99), 4),
        "max": round(max(values), 4) if values else float("nan"),
        "mean": round(statistics.fmean(values), 4) if values else float("nan"),
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def measure(
    label: str, workdir: Path, *, seconds: float, poll: float | None, idle_seconds: float
) -> dict[str, Any]:
    from uvqc.local.runtime import Database

    run_dir = workdir / label
    run_dir.mkdir()
    db_path = run_dir / "uvqc.db"
    with FaultyRelay(seed=1) as relay, Database.open(db_path) as db:
        env = worker_env(db_path, relay, run_dir / "worker.log")
        if poll is not None:
            env["UVQC_POLL_SECONDS"] = str(poll)
        check = subprocess.run(
            [PYTHON, "-c", "import uvqc.local.worker as w; print(w.__file__)"],
            env=env,
            cwd=run_dir,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        worker_file = check.stdout.strip()
        worker = WorkerProcess(env, run_dir, run_dir)
        submitted: dict[str, float] = {}
        try:
            worker.start()
            # Let it import and settle into its idle loop: the first results should not
            # measure the interpreter's start-up.
            time.sleep(2.0)
            n = round(seconds * RATE)
            start = time.monotonic() + 0.05
            lag = []
            for i in range(n):
                due = start + i / RATE
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                else:
                    lag.append(-pause)
                flagged = i % FLAG_EVERY == 0
                sample = f"LAT-{label}-{i:05d}"
                body = json.dumps({"sampleId": sample, "absorbance": 1.5 if flagged else 0.4})
                at = time.time()
                db.intake_port.submit([body.encode()])
                if flagged:
                    submitted[sample] = at
            fed = time.monotonic() - start
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                got = {m.sample_id for m in relay.messages()}
                if submitted.keys() <= got:
                    break
                time.sleep(0.05)
            # Idle cost: CPU seconds the worker burns with nothing to do.
            time.sleep(0.5)
            pid = worker.pid
            assert pid is not None
            before = cpu_seconds(pid)
            time.sleep(idle_seconds)
            idle_cpu = (cpu_seconds(pid) - before) / idle_seconds
        finally:
            worker.stop()
        received = {m.sample_id: m.at for m in relay.messages()}
        duplicates = len(relay.messages()) - len(received)
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        checked = {s: _iso(c) for s, c in conn.execute("SELECT sample_id, checked_at FROM results")}
    finally:
        conn.close()
    total = [received[s] - t for s, t in submitted.items() if s in received]
    waiting = [checked[s] - t for s, t in submitted.items() if s in checked]
    sending = [received[s] - checked[s] for s in submitted if s in received and s in checked]
    return {
        "label": label,
        "worker_module": worker_file,
        "results_submitted": round(seconds * RATE),
        "flagged": len(submitted),
        "emails_received": len(received),
        "missing": len(submitted.keys() - received.keys()),
        "duplicates": duplicates,
        "feed_seconds": round(fed, 2),
        "achieved_rate": round(round(seconds * RATE) / fed, 1),
        "submit_lag_max_ms": round(1000 * max(lag, default=0.0), 1),
        "latency": summary(total),
        "until_checked": summary(waiting),
        "checked_to_accepted": summary(sending),
        "idle_worker_cpu_percent": round(100 * idle_cpu, 2),
    }


class _AnyTag(yaml.SafeLoader):
    """serverless.yml with its CloudFormation tags (!Ref, !GetAtt...) read as plain values."""


def _any_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_AnyTag.add_multi_constructor("!", _any_tag)


def aws_configuration() -> dict[str, Any]:
    """What serverless.yml sets that bounds the alert latency on AWS."""
    config = yaml.load((ROOT / "serverless.yml").read_text(), Loader=_AnyTag)
    functions = config["functions"]
    resources = config["resources"]["Resources"]

    def sqs(fn: str) -> dict[str, Any]:
        return dict(functions[fn]["events"][0]["sqs"])

    env = functions["notify"]["environment"]
    return {
        "check_batch_size": sqs("check").get("batchSize"),
        "check_batching_window_s": sqs("check").get("maximumBatchingWindow", 0),
        "check_timeout_s": functions["check"].get("timeout"),
        "notify_batch_size": sqs("notify").get("batchSize"),
        "notify_batching_window_s": sqs("notify").get("maximumBatchingWindow", 0),
        "notify_max_concurrency": sqs("notify").get("maximumConcurrency"),
        "notify_timeout_s": functions["notify"].get("timeout"),
        "retry_base_s": float(env.get("UVQC_RETRY_BASE_SECONDS", 30)),
        "max_attempts": int(env.get("UVQC_MAX_ATTEMPTS", 5)),
        "notify_visibility_timeout_s": resources["NotifyQueue"]["Properties"]["VisibilityTimeout"],
        "intake_visibility_timeout_s": resources["IntakeQueue"]["Properties"]["VisibilityTimeout"],
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shipped only, 8 s")
    parser.add_argument("--seconds", type=float, default=None, help="feed time per variant (30)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    seconds = args.seconds or (8.0 if args.quick else 30.0)
    polls = [] if args.quick else [1.0]
    idle = 2.0 if args.quick else 6.0
    started = time.monotonic()
    runs = []
    budget = 25 + (len(polls) + 1) * (seconds + idle + 25)
    with tempfile.TemporaryDirectory(prefix="uvqc-latency-") as tmp, hard_timeout(budget):
        work = Path(tmp)
        runs.append(measure("shipped", work, seconds=seconds, poll=None, idle_seconds=idle))
        for poll in polls:
            runs.append(
                measure(f"poll-{poll:g}s", work, seconds=seconds, poll=poll, idle_seconds=idle)
            )
    data = {
        "machine": machine(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "mode": "quick" if args.quick else "full",
        "command": "python -m bench.latency" + (" --quick" if args.quick else ""),
        "rate_per_s": RATE,
        "seconds_per_variant": seconds,
        "flagged_share": 1 / FLAG_EVERY,
        "goal_p99_s": GOAL_P99,
        "runs": runs,
        "aws": aws_configuration(),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    if not args.no_save:
        save(NAME, data)
    print(render(data))
    return data


def _fmt(s: dict[str, float]) -> str:
    return f"{s['p50']:.3f} / {s['p95']:.3f} / {s['p99']:.3f} / {s['max']:.3f}"


def aws_bound_text(a: dict[str, Any]) -> list[str]:
    base, attempts = a["retry_base_s"], a["max_attempts"]
    delays = [base * 2**n for n in range(attempts - 1)]
    first = a["check_batching_window_s"] + a["notify_batching_window_s"]
    return [
        "### The bound the AWS configuration implies (from serverless.yml; not measured)",
        "",
        f"- **First attempt**: the check mapping waits up to "
        f"{a['check_batching_window_s']} s (`maximumBatchingWindow`) to fill a batch of "
        f"{a['check_batch_size']} (a batch closes earlier only at 100 results or 6 MB, so at "
        f"a lab's pace it is the full window), the notify mapping up to "
        f"{a['notify_batching_window_s']} s (batch {a['notify_batch_size']}); the SQS pollers "
        "add up to about a second each between a message becoming visible and its receive; a "
        "warm check invocation and a warm notify invocation (one SMTP connection with "
        "STARTTLS and AUTH) add a few hundred ms; a cold start adds about 1-2 s per function. "
        f"So about {first} s + ~2 s polling + ~0.5 s = **~{first + 2.5:g} s typical worst "
        f"case warm, ~{first + 5:g} s with two cold starts**: the embedded goal (p99 <= 1 s) "
        f"is out of reach by construction; the {a['check_batching_window_s']} s window alone "
        "exceeds it.",
        f"- **Bursts**: notify `maximumConcurrency` {a['notify_max_concurrency']} (at most "
        f"{a['notify_max_concurrency']} relay connections): "
        f"{a['notify_max_concurrency'] * a['notify_batch_size']} e-mails per invocation round; "
        "a burst of N flagged results waits N / that many rounds.",
        f"- **Retries** (`UVQC_RETRY_BASE_SECONDS={base:g}`, `UVQC_MAX_ATTEMPTS={attempts}`): "
        "attempt n+1 comes "
        + ", ".join(f"{d:g}" for d in delays)
        + f" s (+-25 %) after attempt n: {sum(delays):g} s (up to {1.25 * sum(delays):g} s) "
        f"from the first attempt to the last before the notification is dead-lettered.",
        f"- **A failed invocation** (crash, timeout, ledger unreachable): the batch comes back "
        f"after the notify queue's visibility timeout, {a['notify_visibility_timeout_s']} s "
        f"(intake: {a['intake_visibility_timeout_s']} s); a crash between the relay's "
        f"acceptance and the ledger write resends after the lease (invocation time left + "
        f"10 s, <= {a['notify_timeout_s'] + 10} s), i.e. at the visibility timeout.",
        "- To get near the embedded figure on AWS: `maximumBatchingWindow: 0` on both "
        "mappings (more, smaller invocations when results trickle in; cost is per request and "
        "GB-s, so it matters little at a lab's volume) and provisioned concurrency or a "
        "keep-warm schedule against cold starts; retries stay at 30 s x 2^n by design (a "
        "relay that refused once rarely recovers within a second).",
        "",
    ]


def render(data: dict[str, Any] | None) -> str:
    if not data:
        return "## Alert latency\n\nNot measured yet: `python -m bench.latency`.\n"
    runs = data["runs"]
    shipped = runs[0]
    goal = data["goal_p99_s"]
    ok = shipped["latency"]["p99"] <= goal
    rows = [
        "| worker | results | flagged | e-mails | submit to accepted p50 / p95 / p99 / max (s) "
        "| until checked p50 / p95 / p99 / max (s) | check + notify p50 / p99 (s) "
        "| idle worker CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        rows.append(
            f"| {r['label']} | {r['results_submitted']:,} at {r['achieved_rate']:.0f}/s "
            f"| {r['flagged']} | {r['emails_received']} ({r['missing']} missing, "
            f"{r['duplicates']} duplicate) | {_fmt(r['latency'])} | {_fmt(r['until_checked'])} "
            f"| {r['checked_to_accepted']['p50']:.3f} / {r['checked_to_accepted']['p99']:.3f} "
            f"| {r['idle_worker_cpu_percent']:.2f} % |"
        )
    best = min(runs[1:], key=lambda r: r["latency"]["p99"], default=None)
    out = [
        "## Alert latency (embedded)",
        "",
        f"`{data['command']}` ({data['wall_seconds']} s wall, measured "
        f"{data.get('measured_at', 'now')}): one `uvqc work` process (channel smtp, FaultyRelay "
        f"without faults); results submitted through the intake API at a steady "
        f"{data['rate_per_s']:.0f}/s for {data['seconds_per_variant']:.0f} s, "
        f"{data['flagged_share']:.0%} flagged. Latency = relay acceptance time minus the time "
        "just before the submit call (matched by X-UVQC-Sample-Id); 'until checked' ends at "
        "the record's `checked_at`.",
        "",
        f"**Goal p99 <= {goal:g} s: {'met' if ok else 'missed'}** as shipped "
        f"(p99 {shipped['latency']['p99']:.3f} s, p50 {shipped['latency']['p50']:.3f} s).",
        "",
        *rows,
        "",
    ]
    wait = shipped["until_checked"]
    send = shipped["checked_to_accepted"]
    out += [
        f"Where the time goes (shipped): waiting for the worker to look at the intake queue, "
        f"p99 {wait['p99']:.3f} s; checking and sending, p99 {send['p99']:.3f} s. The first "
        "version of `uvqc work` slept 1.0 s whenever both queues were empty, so a result "
        "waited uniformly 0-1 s before it was even checked and the p99 sat right at the "
        "goal (1.013 s when first measured). The idle poll is now a setting, "
        "`UVQC_POLL_SECONDS`, default 0.1 s: an idle look is two indexed `SELECT "
        "MIN(visible_at)` queries, so ten a second cost next to nothing (idle CPU above).",
        "",
    ]
    if best is not None:
        out += [
            "Same run with the old idle poll: "
            + "; ".join(
                f"{r['label']}: p99 {r['latency']['p99']:.3f} s, idle CPU "
                f"{r['idle_worker_cpu_percent']:.2f} %"
                for r in runs[1:]
            )
            + " (0.00 % means below the 10 ms CPU-tick resolution over the idle window).",
            "",
        ]
    out += aws_bound_text(data["aws"])
    return "\n".join(out)


if __name__ == "__main__":
    main(sys.argv[1:])
