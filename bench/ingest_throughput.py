"""Instrument-file parse throughput: a generated directory of 1,000 Agilent Cary WinUV CSV
files (5 samples + a baseline pseudo-sample each, 351 points from 900 to 200 nm, trailing
commas, CRLF, a metadata block), against the limit: a bare `csv.reader` pass over the same
bytes (decode, split, iterate every cell). Goal: parse >= 30 % of the limit.

Two figures: *parse* (`detect.read`: decode, detect the format, read every sample into
numbers, metadata) and *ingest* (`ingest_bytes`: parse plus content digest, absorbance at
220 nm, naming rules and the validated JSON messages). CPU time of this process
(`time.process_time`), best of 3: the machine is shared, and wall-clock figures of one
process swing with the others' load."""

from __future__ import annotations

import csv
import io
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import machine, save
from uvqc.ingest.detect import read
from uvqc.ingest.results import Options, ingest_bytes

GOAL = 0.30
SAMPLES = ["Baseline 100%T", "STD 0.5", "CCV 2", "W-{i}", "W-{i}-DUP", "Blank"]


def cary_file(rng: random.Random, i: int) -> bytes:
    names = [s.format(i=i) for s in SAMPLES]
    points = [900.0 - 2.0 * k + rng.uniform(-0.01, 0.01) for k in range(351)]
    lines = [",".join(f"{n}," for n in names), "Wavelength (nm),Abs," * len(names)]
    for x in points:
        cells = []
        for s in range(len(names)):
            a = 0.05 + 0.4 * s / len(names) + (900 - x) / 2000 + rng.gauss(0, 0.001)
            cells.append(f"{x:.7f},{a:.10f},")
        lines.append("".join(cells))
    lines.append("")
    for n in names:
        lines += [f"{n},", n, "Collection Time: 11/27/2026 8:41:07 AM", "Instrument    Cary 60", ""]
    return "\r\n".join(lines).encode("utf-8")


def generate(folder: Path, n: int) -> list[Path]:
    rng = random.Random(12)
    paths = []
    for i in range(n):
        path = folder / f"run-{i:04}.csv"
        path.write_bytes(cary_file(rng, i))
        paths.append(path)
    return paths


def bare_csv(blobs: list[bytes]) -> int:
    cells = 0
    for data in blobs:
        for row in csv.reader(io.StringIO(data.decode("utf-8"))):
            cells += len(row)
    return cells


def uvqc_parse(blobs: list[tuple[str, bytes]]) -> int:
    return sum(len(read(data, name, name).samples) for name, data in blobs)


def uvqc_ingest(blobs: list[tuple[str, bytes]], options: Options) -> int:
    return sum(len(ingest_bytes(data, name, options=options).messages) for name, data in blobs)


def _best(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best


def main(args: list[str]) -> None:
    n = 100 if "--quick" in args else 1000
    repeats = 1 if "--quick" in args else 3
    with tempfile.TemporaryDirectory() as tmp:
        paths = generate(Path(tmp), n)
        blobs = [(p.name, p.read_bytes()) for p in paths]
    total_bytes = sum(len(b) for _, b in blobs)
    options = Options(wavelength_nm=220.0)
    results = uvqc_ingest(blobs[:5], options)  # warm imports
    raw = [b for _, b in blobs]
    limit_s = _best(lambda: bare_csv(raw), repeats)
    parse_s = _best(lambda: uvqc_parse(blobs), repeats)
    uvqc_s = _best(lambda: uvqc_ingest(blobs, options), repeats)
    results = uvqc_ingest(blobs, options)
    data = {
        "machine": machine(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "files": n,
        "bytes": total_bytes,
        "results": results,
        "limit_seconds": limit_s,
        "uvqc_seconds": uvqc_s,
        "parse_seconds": parse_s,
        "parse_files_per_s": n / parse_s,
        "parse_share_of_limit": limit_s / parse_s,
        "limit_files_per_s": n / limit_s,
        "uvqc_files_per_s": n / uvqc_s,
        "uvqc_mb_per_s": total_bytes / 1e6 / uvqc_s,
        "share_of_limit": limit_s / uvqc_s,
        "goal": GOAL,
    }
    save("ingest_throughput", data)
    print(
        f"csv.reader limit {data['limit_files_per_s']:.0f} files/s; parse "
        f"{data['parse_files_per_s']:.0f} files/s = {data['parse_share_of_limit']:.0%} of it "
        f"(goal {GOAL:.0%}); ingest to messages {data['uvqc_files_per_s']:.0f} files/s = "
        f"{data['share_of_limit']:.0%}"
    )


def render(data: dict[str, Any]) -> str:
    ok = "met" if data["parse_share_of_limit"] >= data["goal"] else "NOT met"
    mb = data["bytes"] / 1e6

    def row(label: str, seconds: float) -> str:
        share = data["limit_seconds"] / seconds
        return (
            f"| {label} | {data['files'] / seconds:,.0f} | {mb / seconds:.1f} | "
            f"{seconds:.2f} | {share:.0%} |\n"
        )

    return (
        "## Instrument-file ingest throughput\n\n"
        f"{data['files']:,} generated Agilent Cary WinUV CSV files ({mb:.1f} MB; 5 samples + "
        "a baseline pseudo-sample each, 351 points). *parse*: decode, detect, read every "
        "sample and the metadata (`uvqc.ingest.detect.read`); *ingest*: parse plus digest, "
        f"absorbance at 220 nm, naming rules and {data['results']:,} validated JSON messages "
        "(`ingest_bytes`). The limit is a bare `csv.reader` pass over the same bytes. CPU "
        "seconds of the process, best of 3.\n\n"
        "| | files/s | MB/s | CPU s | share of the limit |\n|---|---:|---:|---:|---:|\n"
        + row("limit: csv.reader", data["limit_seconds"])
        + row("uvqc parse", data["parse_seconds"])
        + row("uvqc ingest (to messages)", data["uvqc_seconds"])
        + f"\nParse goal >= {data['goal']:.0%} of the limit: {ok}."
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
