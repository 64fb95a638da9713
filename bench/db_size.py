"""The embedded database under a steady state: does the file stay flat when records are
exported and pruned and the housekeeping runs?

Cycles of a lab's "day" in one process: submit K results (10 % flagged), work until idle
(the embedded worker, check + notify, e-mails to an in-memory channel), then keep a window
of W days: export the records received before the window (JSON Lines), prune them, sweep
ledger rows older than the window (the schedule's job; here with the window as retention),
incremental vacuum. The file size (database + WAL) is read after every cycle.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import save, write_results
from uvqc.adapters.sqlite import housekeeping
from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker
from uvqc.pipeline.records import iso
from uvqc.settings import load_settings
from uvqc.testing import RecordingChannel

FLAT_TOLERANCE = 1.10  # the last cycles may exceed the first steady one by at most 10 %


def _file_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())


def run(cycles: int, per_cycle: int, window: int, tmp: Path) -> dict[str, Any]:
    db = tmp / "steady.db"
    settings = load_settings(
        db=db, channel="file", outbox=tmp / "outbox", housekeeping_interval_minutes=0
    )
    data = write_results(tmp / "day.jsonl", per_cycle * cycles, seed=21, flagged_share=0.10)
    lines = data.read_bytes().splitlines()
    starts: list[datetime] = []
    rows: list[dict[str, Any]] = []
    with Runtime.from_settings(settings, channel=RecordingChannel()) as rt:
        for cycle in range(cycles):
            starts.append(datetime.now(UTC))
            chunk = lines[cycle * per_cycle : (cycle + 1) * per_cycle]
            rt.db.intake_port.submit(chunk)
            Worker(rt).run_until_idle()
            exported = pruned = swept = 0
            if cycle + 1 >= window:
                boundary = starts[cycle + 1 - window]
                with (tmp / f"export-{cycle}.jsonl").open("w", encoding="utf-8") as out:
                    summary, _ = housekeeping.export_records(
                        rt.db.conn,
                        rt.db.store,
                        out,
                        fmt="jsonl",
                        since=None,
                        until=iso(boundary),
                        destination=out.name,
                    )
                exported = summary.records
                pruned = housekeeping.prune_records(rt.db.conn, iso(boundary)).removed
                now = datetime.now(UTC)
                swept = housekeeping.sweep(
                    rt.db.work_conn, now=now, ledger_retention=now - boundary
                ).ledger_rows_removed
            else:
                housekeeping.truncate_wal(rt.db.work_conn)  # the sweep's checkpoint
            (kept,) = rt.db.conn.execute("SELECT COUNT(*) FROM results").fetchone()
            rows.append(
                {
                    "cycle": cycle + 1,
                    "records_kept": kept,
                    "exported": exported,
                    "pruned": pruned,
                    "ledger_rows_swept": swept,
                    "file_bytes": _file_bytes(db),
                    "page_bytes": housekeeping.file_bytes(rt.db.conn),
                }
            )
            time.sleep(0.01)  # distinct received_at boundaries between cycles
    steady = rows[window - 1 :]
    first = steady[0]["page_bytes"]
    return {
        "cycles": cycles,
        "results_per_cycle": per_cycle,
        "window_cycles": window,
        "rows": rows,
        "bytes_per_result_kept": steady[-1]["page_bytes"] / max(1, steady[-1]["records_kept"]),
        "flat": max(r["page_bytes"] for r in steady) <= first * FLAT_TOLERANCE,
        "growth_after_steady": max(r["page_bytes"] for r in steady) / first,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=8)
    parser.add_argument("--per-cycle", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5 cycles of 3,000")
    args = parser.parse_args(argv)
    if args.quick:
        args.cycles, args.per_cycle = 5, 3000
    with tempfile.TemporaryDirectory() as tmp:
        data = run(args.cycles, args.per_cycle, args.window, Path(tmp))
    save("db_size", data)
    last = data["rows"][-1]
    print(
        f"db size: {last['page_bytes'] / 1e6:.1f} MB with {last['records_kept']:,} records kept "
        f"after {data['cycles']} cycles; growth after steady x{data['growth_after_steady']:.2f}"
    )


def render(data: dict[str, Any]) -> str:
    lines = [
        "## Database size under a steady state",
        "",
        f"`bench/db_size.py`: {data['cycles']} cycles of {data['results_per_cycle']:,} "
        "results (10 % flagged) through the embedded worker in one process; after each "
        f"cycle, a window of {data['window_cycles']} cycles is kept: the records before it "
        "are exported (JSON Lines) and pruned, ledger rows older than it swept, free pages "
        "returned (`auto_vacuum=INCREMENTAL`). Sizes are the database's pages "
        "(page_count x page_size) and the file with its WAL.",
        "",
        "| cycle | records kept | exported | pruned | ledger rows swept | pages | file + WAL |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["rows"]:
        lines.append(
            f"| {r['cycle']} | {r['records_kept']:,} | {r['exported']:,} | {r['pruned']:,} | "
            f"{r['ledger_rows_swept']:,} | {r['page_bytes'] / 1e6:.1f} MB | "
            f"{r['file_bytes'] / 1e6:.1f} MB |"
        )
    lines += [
        "",
        f"Flat under the steady state: **{'met' if data['flat'] else 'missed'}** (largest "
        f"steady size {data['growth_after_steady']:.2f}x the first; tolerance "
        f"{FLAT_TOLERANCE:.2f}x). {data['bytes_per_result_kept']:.0f} bytes of database per "
        "record kept, queue and ledger rows included.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
