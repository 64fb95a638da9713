"""`make bench`: every benchmark in turn, then the two documents. `--quick` for a smoke run."""

from __future__ import annotations

import importlib
import sys
import time

from bench import report

BUDGET_S = 15 * 60  # `make bench` on 2 cores (README)
ORDER = [
    "check_throughput",
    "input_memory",
    "pipeline_e2e",
    "db_size",
    "lambda_bench",
    "latency",
    "spectra",
    "runs_throughput",
    "report_bench",
    "digest_bench",
    "bad_input",
    "ingest_throughput",
    "chaos",
    "chaos_aws",
]


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    quick = ["--quick"] if "--quick" in args else []
    only = [a for a in args if not a.startswith("-")] or ORDER
    started = time.perf_counter()
    for name in only:
        t = time.perf_counter()
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main(quick)
        print(f"   {time.perf_counter() - t:.0f} s", flush=True)
    report.main()
    total = time.perf_counter() - started
    print(f"bench done in {total:.0f} s")
    if total > BUDGET_S and not quick:
        print(
            f"warning: over the {BUDGET_S // 60} minute budget of `make bench`: a loaded "
            "machine, or a benchmark that grew (each takes --results/--rounds options)"
        )


if __name__ == "__main__":
    main()
