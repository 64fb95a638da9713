"""Check throughput: `uvqc check --format json` over generated JSON Lines, against the same
machine's plain JSON parse-and-dump loop over the same file, in the same run."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bench.common import PYTHON, UVQC, run_measured, save, write_results


def measure(n: int, workdir: Path) -> dict[str, float]:
    data = write_results(workdir / f"results-{n}.jsonl", n)
    out = workdir / "out.jsonl"
    base = run_measured([PYTHON, "-m", "bench.baseline_json"], stdin=data, stdout=out)
    uvqc = run_measured([*UVQC, "check", "--format", "json", str(data)], stdout=out)
    lines = sum(1 for _ in out.open("rb"))
    if lines != n:
        raise RuntimeError(f"uvqc check wrote {lines} lines for {n} results")
    return {
        "results": n,
        "uvqc_seconds": uvqc.seconds,
        "uvqc_per_second": n / uvqc.seconds,
        "uvqc_peak_rss_mb": uvqc.peak_rss_mb,
        "baseline_seconds": base.seconds,
        "baseline_per_second": n / base.seconds,
        "share_of_limit": base.seconds / uvqc.seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 results")
    args = parser.parse_args(argv)
    if args.quick:
        args.results = 100_000
    with tempfile.TemporaryDirectory() as tmp:
        small = measure(args.results // 10, Path(tmp))
        big = measure(args.results, Path(tmp))
    save("check_throughput", {"small": small, "large": big})
    print(
        f"check: {big['uvqc_per_second']:,.0f}/s ({big['share_of_limit']:.0%} of the JSON loop),"
        f" peak RSS {small['uvqc_peak_rss_mb']:.0f} MB at {small['results']:,} vs "
        f"{big['uvqc_peak_rss_mb']:.0f} MB at {big['results']:,}"
    )


if __name__ == "__main__":
    main()


GOAL_RATE = 50_000
GOAL_SHARE = 0.20


def render(data: dict[str, Any]) -> str:
    big, small = data["large"], data["small"]
    ok = big["uvqc_per_second"] >= GOAL_RATE and big["share_of_limit"] >= GOAL_SHARE
    flat = big["uvqc_peak_rss_mb"] <= small["uvqc_peak_rss_mb"] * 1.2
    return "\n".join(
        [
            "## Check throughput",
            "",
            f"`uvqc check --format json` over {big['results']:,} generated JSON Lines results "
            "(both message shapes, 10 % flagged), output to a file, against the same machine's "
            "plain parse-and-dump loop (`bench/baseline_json.py`: `json.loads` + `json.dumps` "
            "per line, nothing else) over the same file, in the same run. Wall time includes "
            "interpreter start-up.",
            "",
            "| | results | results/s | wall time | peak RSS |",
            "|---|---:|---:|---:|---:|",
            f"| `uvqc check -f json` | {big['results']:,} | {big['uvqc_per_second']:,.0f} | "
            f"{big['uvqc_seconds']:.1f} s | {big['uvqc_peak_rss_mb']:.0f} MB |",
            f"| `uvqc check -f json` | {small['results']:,} | {small['uvqc_per_second']:,.0f} | "
            f"{small['uvqc_seconds']:.1f} s | {small['uvqc_peak_rss_mb']:.0f} MB |",
            f"| JSON loop (the limit) | {big['results']:,} | {big['baseline_per_second']:,.0f} | "
            f"{big['baseline_seconds']:.1f} s | |",
            "",
            f"Goal: >= {GOAL_RATE:,} results/s and >= {GOAL_SHARE:.0%} of the limit; flat "
            f"memory. Measured: {big['uvqc_per_second']:,.0f} results/s, "
            f"{big['share_of_limit']:.0%} of the limit: **{'met' if ok else 'missed'}**; memory "
            f"{small['uvqc_peak_rss_mb']:.0f} MB at {small['results']:,} and "
            f"{big['uvqc_peak_rss_mb']:.0f} MB at {big['results']:,} results: "
            f"**{'flat' if flat else 'not flat'}**.",
        ]
    )
