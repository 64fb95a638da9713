"""Input memory: peak RSS of `uvqc check --format json` over every input shape - JSON Lines,
JSON Lines whose first two lines are broken, a pretty-printed JSON array, a one-line JSON
array, pretty-printed documents one after another, gzipped JSON Lines - at two sizes.
"Memory stays flat" holds when the peak at the larger size is within 20 % (+ 5 MB) of the
smaller one."""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from bench.common import UVQC, result_line, run_measured, save

SHAPES = [
    "JSON Lines",
    "JSON Lines, first two lines broken",
    "array, pretty-printed",
    "array, one line",
    "documents, pretty-printed",
    "JSON Lines, gzip",
]


def _lines(n: int) -> Iterator[str]:
    rng = random.Random(7)
    for i in range(n):
        yield result_line(rng, i)


def _write(shape: str, n: int, out: IO[str]) -> None:
    if shape.startswith("JSON Lines"):
        if "broken" in shape:
            out.write('{"sampleId": "cut-off", "absorb\n{"sampleId": "cut-off-2",\n')
            n -= 2
        for line in _lines(n):
            out.write(line + "\n")
    elif shape.startswith("array"):
        pretty = "pretty" in shape
        out.write("[\n" if pretty else "[")
        for i, line in enumerate(_lines(n)):
            if i:
                out.write(",\n" if pretty else ",")
            out.write(json.dumps(json.loads(line), indent=2) if pretty else line)
        out.write("\n]\n" if pretty else "]")
    else:
        for line in _lines(n):
            out.write(json.dumps(json.loads(line), indent=2) + "\n")


def make_input(shape: str, n: int, workdir: Path) -> Path:
    path = workdir / f"input-{n}.json"
    opener: Callable[..., IO[str]]
    if shape.endswith("gzip"):
        path = path.with_suffix(".jsonl.gz")
        opener = gzip.open
    else:
        opener = open
    with opener(path, "wt", encoding="utf-8") as out:
        _write(shape, n, out)
    return path


def measure(shape: str, n: int, workdir: Path) -> dict[str, Any]:
    data = make_input(shape, n, workdir)
    out = workdir / "out.jsonl"
    run = run_measured([*UVQC, "check", "--format", "json", str(data)], stdout=out)
    lines = sum(1 for _ in out.open("rb"))
    size_mb = data.stat().st_size / 1e6
    data.unlink()
    if run.returncode not in (0, 1) or lines != n:
        raise RuntimeError(f"{shape}: uvqc check exited {run.returncode}, {lines} lines for {n}")
    return {
        "shape": shape,
        "results": n,
        "file_mb": size_mb,
        "seconds": run.seconds,
        "per_second": n / run.seconds,
        "peak_rss_mb": run.peak_rss_mb,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 results")
    args = parser.parse_args(argv)
    sizes = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    rows: list[dict[str, Any]] = []
    workdir = Path(tempfile.mkdtemp(prefix="uvqc-input-memory-"))
    try:
        for shape in SHAPES:
            for n in sizes:
                row = measure(shape, n, workdir)
                rows.append(row)
                print(
                    f"  {shape:36s} {n:>9,}: {row['peak_rss_mb']:5.0f} MB peak, "
                    f"{row['per_second']:,.0f}/s",
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    save("input_memory", {"sizes": list(sizes), "rows": rows})


def _flat(small: dict[str, Any], big: dict[str, Any]) -> bool:
    return bool(big["peak_rss_mb"] <= small["peak_rss_mb"] * 1.2 + 5)


def render(data: dict[str, Any]) -> str:
    small_n, big_n = data["sizes"]
    by = {(r["shape"], r["results"]): r for r in data["rows"]}
    lines = [
        "## Input memory",
        "",
        "`uvqc check --format json` over every input shape it reads, at "
        f"{small_n:,} and {big_n:,} generated results (both message shapes), output to a file "
        "(`bench/input_memory.py`). Arrays and documents are parsed by ijson one element at "
        "a time; JSON Lines line by line. This benchmark is about memory: its rates (wall time, "
        "start-up included) are indicative only; the throughput figure is the section above.",
        "",
        f"| shape | file at {big_n:,} | results/s | peak RSS at {small_n:,} | "
        f"peak RSS at {big_n:,} | flat |",
        "|---|---:|---:|---:|---:|---|",
    ]
    all_flat = True
    for shape in SHAPES:
        small, big = by.get((shape, small_n)), by.get((shape, big_n))
        if small is None or big is None:
            continue
        flat = _flat(small, big)
        all_flat &= flat
        lines.append(
            f"| {shape} | {big['file_mb']:.0f} MB | {big['per_second']:,.0f} | "
            f"{small['peak_rss_mb']:.0f} MB | {big['peak_rss_mb']:.0f} MB | "
            f"{'yes' if flat else '**no**'} |"
        )
    lines += [
        "",
        "Goal: the peak at the larger size within 20 % (+ 5 MB) of the smaller one, for every "
        f"shape: **{'met' if all_flat else 'missed'}**.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
