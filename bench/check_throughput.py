"""Check throughput: `uvqc check --format json` over generated JSON Lines, against the
fastest parse-and-dump loop available (orjson) and the stdlib `json` loop over the same
file, in one run: paired rounds with the order rotated, medians and the spread of the
per-round ratio. Plus the validator note (bench/validators.py)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import validators
from bench.common import PYTHON, UVQC, Run, run_measured, save, write_results

GOAL_RATE = 50_000
GOAL_SHARE = 0.25  # of the orjson loop (issue 10)
COMMANDS = {
    "uvqc": [*UVQC, "check", "--format", "json"],
    "orjson": [PYTHON, "-m", "bench.baseline_json", "--orjson"],
    "stdlib": [PYTHON, "-m", "bench.baseline_json"],
}


def _one(name: str, data: Path, out: Path) -> Run:
    if name == "uvqc":
        return run_measured([*COMMANDS[name], str(data)], stdout=out)
    return run_measured(COMMANDS[name], stdin=data, stdout=out)


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(n: int, rounds: int, workdir: Path) -> dict[str, Any]:
    data = write_results(workdir / f"results-{n}.jsonl", n)
    out = workdir / "out.jsonl"
    runs: dict[str, list[Run]] = {k: [] for k in COMMANDS}
    names = list(COMMANDS)
    for r in range(rounds):
        for name in names[r % 3 :] + names[: r % 3]:
            run = _one(name, data, out)
            if run.returncode not in (0, 1):
                raise RuntimeError(f"{name} exited {run.returncode}")
            if name == "uvqc" and (lines := sum(1 for _ in out.open("rb"))) != n:
                raise RuntimeError(f"uvqc check wrote {lines} lines for {n} results")
            runs[name].append(run)
    seconds = {k: statistics.median(r.seconds for r in v) for k, v in runs.items()}
    return {
        "results": n,
        "rounds": rounds,
        "seconds": seconds,
        "per_second": {k: n / s for k, s in seconds.items()},
        "uvqc_peak_rss_mb": max(r.peak_rss_mb for r in runs["uvqc"]),
        "share_of_orjson": _spread(
            [o.seconds / u.seconds for u, o in zip(runs["uvqc"], runs["orjson"], strict=True)]
        ),
        "share_of_stdlib": _spread(
            [s.seconds / u.seconds for u, s in zip(runs["uvqc"], runs["stdlib"], strict=True)]
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="50,000 results, 3 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.results, args.rounds = 50_000, 3
    with tempfile.TemporaryDirectory() as tmp:
        small = _one(
            "uvqc", write_results(Path(tmp) / "small.jsonl", args.results // 10), Path(tmp) / "o"
        )
        big = measure(args.results, args.rounds, Path(tmp))
    note = validators.run(20_000, 3 if args.quick else 5)
    save(
        "check_throughput",
        {
            "large": big,
            "small": {"results": args.results // 10, "uvqc_peak_rss_mb": small.peak_rss_mb},
            "validators": note,
        },
    )
    share = big["share_of_orjson"]
    print(
        f"check: {big['per_second']['uvqc']:,.0f}/s, {share['median']:.0%} of the orjson loop "
        f"({share['min']:.0%}-{share['max']:.0%}), "
        f"{big['share_of_stdlib']['median']:.0%} of the stdlib loop; peak RSS "
        f"{small.peak_rss_mb:.0f} MB at {args.results // 10:,} vs "
        f"{big['uvqc_peak_rss_mb']:.0f} MB at {args.results:,}"
    )


if __name__ == "__main__":
    main()


def render(data: dict[str, Any]) -> str:
    big, small = data["large"], data["small"]
    rate = big["per_second"]["uvqc"]
    share, stdlib = big["share_of_orjson"], big["share_of_stdlib"]
    ok = rate >= GOAL_RATE and share["median"] >= GOAL_SHARE
    flat = big["uvqc_peak_rss_mb"] <= small["uvqc_peak_rss_mb"] * 1.2
    lines = [
        "## Check throughput",
        "",
        f"`uvqc check --format json` over {big['results']:,} generated JSON Lines results "
        "(both message shapes, 10 % flagged), output to a file, against two parse-and-dump "
        "loops over the same file (`bench/baseline_json.py`, nothing but parse and dump per "
        "line): orjson, the fastest available and the limit, and the stdlib `json`, a second "
        f"reference. {big['rounds']} rounds, the three commands interleaved with the order "
        "rotated each round; medians, and the median (min-max) of the per-round ratio. Wall "
        "time includes interpreter start-up.",
        "",
        "| | results/s | wall time | share of it by uvqc (min-max) |",
        "|---|---:|---:|---:|",
        f"| `uvqc check -f json` | {rate:,.0f} | {big['seconds']['uvqc']:.1f} s | |",
        f"| orjson loop (the limit) | {big['per_second']['orjson']:,.0f} | "
        f"{big['seconds']['orjson']:.1f} s | {share['median']:.1%} "
        f"({share['min']:.1%}-{share['max']:.1%}) |",
        f"| stdlib json loop | {big['per_second']['stdlib']:,.0f} | "
        f"{big['seconds']['stdlib']:.1f} s | {stdlib['median']:.0%} "
        f"({stdlib['min']:.0%}-{stdlib['max']:.0%}) |",
        "",
        f"Goal: >= {GOAL_RATE:,} results/s and >= {GOAL_SHARE:.0%} of the orjson loop. "
        f"Measured: {rate:,.0f} results/s, {share['median']:.1%} of it: "
        f"**{'met' if ok else 'missed'}**. Memory: {small['uvqc_peak_rss_mb']:.0f} MB at "
        f"{small['results']:,} and {big['uvqc_peak_rss_mb']:.0f} MB at {big['results']:,} "
        f"results: **{'flat' if flat else 'not flat'}**.",
    ]
    if not ok:
        lines += [
            "",
            "Why missed: per line, uvqc validates with pydantic (the schema's single source "
            "of truth), judges with the method's rules, and writes a verdict object; the "
            "orjson loop only parses and dumps. The note below measures the validator alone: "
            "the rules and the verdict cost about as much again. Not done here: switching the "
            "validator (owned by the schema work) or a second hand-written validator (not "
            "acceptable: two validators can disagree).",
        ]
    if "validators" in data:
        lines += ["", *validators.render(data["validators"])]
    return "\n".join(lines)
