"""The whole Lambda cold start, uvqc against the original, paired and interleaved.

What a cold start costs: import of the handler module + wiring (settings, the boto3
session and clients, the channel) + the first invocation, against moto's HTTP endpoint.
Run on CPython 3.13 (Lambda's python3.13 runtime) when this machine has one, from the
artifact as shipped (uvqc.aws.build with bytecode, for this machine's platform) plus boto3
as the runtime provides it (installed from the lock, compiled); 3.11 from the virtualenv
otherwise. The original: `import json, os, boto3`, its module-level client, its first
invocation (a result that passes: no API call, the cheapest case for it).
"""

from __future__ import annotations

import hashlib
import json
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, result_line
from bench.lambda_child import notification, sqs_record
from uvqc.aws import build

CACHE = ROOT / "build" / "bench"
BOTO_DISTRIBUTIONS = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3"}
BOTO_DISTRIBUTIONS |= {"python-dateutil", "six"}
CHILD = Path(__file__).with_name("cold_start_child.py")
KINDS = ("original-check", "uvqc-check", "original-notifier", "uvqc-notify")


def _tree_digest() -> str:
    digest = hashlib.sha256((ROOT / "uv.lock").read_bytes())
    for path in sorted((ROOT / "src" / "uvqc").rglob("*.py")):
        digest.update(path.as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _host_platform() -> str:
    return f"manylinux2014_{'aarch64' if platform.machine() in {'aarch64', 'arm64'} else 'x86_64'}"


def runtime_paths() -> tuple[str, list[str], str]:
    """(python, sys.path entries, description): the artifact and boto3 for Python 3.13 as
    Lambda runs them, built once per source tree and lock (cached in build/bench/)."""
    uv = str(Path(PYTHON).with_name("uv"))
    py313 = build.find_runtime_python(uv)
    if py313 is None:
        return PYTHON, [], f"CPython {platform.python_version()} (no 3.13 here): the virtualenv"
    root = CACHE / _tree_digest()
    task, runtime = root / "task", root / "runtime"
    if not (root / "ready").exists():
        for stale in CACHE.glob("*") if CACHE.is_dir() else []:
            shutil.rmtree(stale, ignore_errors=True)  # builds of other trees
        root.mkdir(parents=True)
        artifact = build.build(ROOT, root / "zip", uv, python=py313, platform=_host_platform())
        with zipfile.ZipFile(artifact) as zf:
            zf.extractall(task)
        exported = build.export_lock(ROOT, uv)
        boto = [
            line.strip()
            for line in exported.splitlines()
            if line.strip()
            and not line.startswith(("#", "-", " "))
            and build._normalise(line.split("==", 1)[0].split(";", 1)[0]) in BOTO_DISTRIBUTIONS
        ]
        runtime.mkdir()
        build.install_wheels(boto, runtime, platform=_host_platform())
        build.compile_bytecode(runtime, py313)
        (root / "ready").write_text("ok")
    return py313, [str(task), str(runtime)], "CPython 3.13 from the artifact as shipped"


def write_events(tmp: Path, arn: str, warm: int, round_: int) -> dict[str, Path]:
    """Events per kind for one round: the first invocation, then `warm` more. Every round
    gets new results and notifications: a notification the ledger has already seen would
    be a cheap duplicate, not a first send."""
    rng = random.Random(3 + round_)
    base = (round_ + 1) * 1_000_000
    check_batches = [
        {"Records": [sqs_record(result_line(rng, i, flagged_share=0.1), arn) for i in range(100)]}
        for _ in range(warm + 1)
    ]
    passing = json.dumps({"sampleId": f"S-{base}", "absorbanceResult": "0.45"})
    original_check = [{"Records": [sqs_record(passing, arn)]}] * (warm + 1)
    notify_batches = [
        {"Records": [sqs_record(notification(base + b * 10 + i), arn) for i in range(10)]}
        for b in range(warm + 1)
    ]
    original_notifier = [
        {"sampleId": f"S-{base + i}", "message": "Absorbance for S exceeds 1. Consider diluting."}
        for i in range(warm + 1)
    ]
    paths = {}
    for kind, events in {
        "uvqc-check": check_batches,
        "original-check": original_check,
        "uvqc-notify": notify_batches,
        "original-notifier": original_notifier,
    }.items():
        paths[kind] = tmp / f"{kind}-{round_}.json"
        paths[kind].write_text(json.dumps(events))
    return paths


def run_one(
    python: str, paths: list[str], kind: str, events: Path, env: dict[str, str], tmp: Path
) -> dict[str, Any]:
    out = tmp / f"{kind}.out.json"
    args = tmp / f"{kind}.args.json"
    spec = {"paths": paths, "kind": kind, "events": str(events), "out": str(out)}
    args.write_text(json.dumps(spec))
    log = tmp / f"{kind}.log"
    isolate = ["-I"] if paths else []
    with log.open("wb") as handle:
        proc = subprocess.run(
            [python, *isolate, "-c", CHILD.read_text(), str(args)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} cold start failed:\n{log.read_text()[-3000:]}")
    data: dict[str, Any] = json.loads(out.read_text())
    data["log_bytes"] = log.stat().st_size
    return data


def paired(pairs: int, envs: dict[str, dict[str, str]], arn: str, warm: int = 5) -> dict[str, Any]:
    """`pairs` rounds of the four kinds, the order rotated each round; per-round ratios."""
    python, paths, described = runtime_paths()
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for round_ in range(pairs):
            events = write_events(tmp, arn, warm, round_)
            order = KINDS[round_ % 4 :] + KINDS[: round_ % 4]
            for kind in order:
                runs[kind].append(run_one(python, paths, kind, events[kind], envs[kind], tmp))
    summary: dict[str, Any] = {"python": runs["uvqc-check"][0]["python"], "how": described}
    for kind, found in runs.items():
        summary[kind] = {
            "cold_s": statistics.median(r["cold_s"] for r in found),
            "cold_cpu_s": statistics.median(r["cold_cpu_s"] for r in found),
            "import_s": statistics.median(r["import_s"] for r in found),
            "wiring_s": statistics.median(r["wiring_s"] for r in found),
            "first_s": statistics.median(r["first_s"] for r in found),
            "warm_cpu_s": statistics.median(c for r in found for c in r["warm_cpu_s"]),
            "warm_wall_s": statistics.median(c for r in found for c in r["warm_wall_s"]),
            "log_bytes": statistics.median(r["log_bytes"] for r in found),
            "runs": len(found),
        }
    for ours, theirs in (("uvqc-check", "original-check"), ("uvqc-notify", "original-notifier")):
        ratios = [a["cold_s"] / b["cold_s"] for a, b in zip(runs[ours], runs[theirs], strict=True)]
        summary[f"{ours}/{theirs}"] = {
            "median": statistics.median(ratios),
            "min": min(ratios),
            "max": max(ratios),
        }
    return summary


if __name__ == "__main__":  # pragma: no cover - manual use
    print(runtime_paths())
    sys.exit(0)
