"""Embedded pipeline end to end: `uvqc run` on generated results (10 % flagged) with e-mails
to a local SMTP relay, against a bare SQLite enqueue/dequeue loop with the same durability
settings, in the same run."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.common import PYTHON, UVQC, run_measured, save, write_results
from bench.smtp_sink import SmtpSink

GOAL_RATE = 5000
GOAL_SHARE = 0.10


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 results")
    args = parser.parse_args(argv)
    n = 10_000 if args.quick else args.results
    with tempfile.TemporaryDirectory() as tmp_name, SmtpSink() as relay:
        tmp = Path(tmp_name)
        data = write_results(tmp / "results.jsonl", n, seed=11, flagged_share=0.10)
        base = run_measured([PYTHON, "-m", "bench.baseline_sqlite", str(data), str(tmp / "b.db")])
        env = {
            **os.environ,
            "UVQC_MAIL_FROM": "uvqc@lab.example",
            "UVQC_MAIL_TO": "lab@lab.example",
            "UVQC_LOG_LEVEL": "WARNING",
        }
        argv_run = [
            *UVQC,
            "run",
            str(data),
            "--db",
            str(tmp / "u.db"),
            "--smtp",
            f"{relay.host}:{relay.port}",
        ]
        run = run_measured(argv_run, env=env)
        received = list(relay.received)
    unique = len({message_id for message_id, _ in received})
    save(
        "pipeline_e2e",
        {
            "results": n,
            "uvqc_seconds": run.seconds,
            "uvqc_per_second": n / run.seconds,
            "uvqc_peak_rss_mb": run.peak_rss_mb,
            "uvqc_exit_code": run.returncode,
            "emails_received": len(received),
            "emails_unique": unique,
            "baseline_seconds": base.seconds,
            "baseline_per_second": n / base.seconds,
            "share_of_limit": base.seconds / run.seconds,
        },
    )
    print(
        f"pipeline: {n / run.seconds:,.0f} results/s ({base.seconds / run.seconds:.0%} of the "
        f"bare SQLite loop at {n / base.seconds:,.0f}/s), {len(received)} e-mails"
    )


def render(data: dict[str, Any]) -> str:
    rate, share = data["uvqc_per_second"], data["share_of_limit"]
    ok = rate >= GOAL_RATE and share >= GOAL_SHARE
    return "\n".join(
        [
            "## Embedded pipeline end to end",
            "",
            f"`uvqc run` on {data['results']:,} generated results (10 % flagged), e-mails to a "
            "local aiosmtpd relay over SMTP, SQLite with WAL and `synchronous=FULL`; against a "
            "bare SQLite enqueue/dequeue loop with the same durability settings, batch sizes and "
            "file system, in the same run (`bench/baseline_sqlite.py`).",
            "",
            "| | results/s | wall time | peak RSS |",
            "|---|---:|---:|---:|",
            f"| `uvqc run` (check + record + notify) | {rate:,.0f} | "
            f"{data['uvqc_seconds']:.1f} s | {data['uvqc_peak_rss_mb']:.0f} MB |",
            f"| bare SQLite enqueue/dequeue (the limit) | {data['baseline_per_second']:,.0f} | "
            f"{data['baseline_seconds']:.1f} s | |",
            "",
            f"E-mails accepted by the relay: {data['emails_received']:,} "
            f"({data['emails_unique']:,} distinct Message-IDs).",
            "",
            f"Goal: >= {GOAL_RATE:,} results/s and >= {GOAL_SHARE:.0%} of the limit. Measured: "
            f"{rate:,.0f} results/s, {share:.0%} of the limit: **{'met' if ok else 'missed'}**.",
        ]
    )


if __name__ == "__main__":
    main()
