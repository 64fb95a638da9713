"""`make bench`: every benchmark in turn, then the two documents. `--quick` for a smoke run."""

from __future__ import annotations

import importlib
import sys
import time

from bench import report

ORDER = [
    "check_throughput",
    "pipeline_e2e",
    "lambda_bench",
    "latency",
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
    print(f"bench done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
