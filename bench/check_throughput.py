"""Check throughput: `uvqc check --format json` over generated JSON Lines, against the same
machine's plain JSON parse-and-dump loop over the same file, in the same run."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

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
    args = parser.parse_args(argv)
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
