"""Shared helpers for the benchmarks: timing child processes with their peak RSS, data
generation, and the results file the report is rendered from."""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "docs" / "bench"
PYTHON = sys.executable
UVQC = [PYTHON, "-m", "uvqc"]


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float
    returncode: int


# ru_maxrss survives exec: a child forked from a large parent (a moto server, a relay)
# reports the parent's RSS as its own peak. A small trampoline (python -S) forks the real
# command, waits for it and writes the grandchild's ru_maxrss (KiB) to a file.
_TRAMPOLINE = """
import os, sys
out, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.execvp(argv[0], argv)
_, status, usage = os.wait4(pid, 0)
with open(out, "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(
    argv: Sequence[str],
    *,
    stdin: Path | None = None,
    stdout: Path | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """Run a command; its wall time, exit code and true peak RSS."""
    out = stdout.open("wb") if stdout else subprocess.DEVNULL
    inp = stdin.open("rb") if stdin else subprocess.DEVNULL
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        try:
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-S", "-c", _TRAMPOLINE, rss.name, *argv],
                stdin=inp,
                stdout=out,
                env=env,
                cwd=ROOT,
                check=False,
            )
            elapsed = time.perf_counter() - start
        finally:
            if stdout:
                out.close()  # type: ignore[union-attr]
            if stdin:
                inp.close()  # type: ignore[union-attr]
        text = Path(rss.name).read_text().strip()
    return Run(elapsed, int(text or 0) / 1024, proc.returncode)


def result_line(rng: random.Random, i: int, *, flagged_share: float = 0.1) -> str:
    """One realistic result; about `flagged_share` of them outside the default method's range."""
    sample = str(uuid.UUID(int=rng.getrandbits(128)))
    r = rng.random()
    if r < flagged_share / 2:
        a = round(rng.uniform(1.0, 2.5), 4)
    elif r < flagged_share:
        a = round(rng.uniform(0.67, 0.99), 4)
    else:
        a = round(rng.uniform(0.02, 0.65), 4)
    if i % 2:
        return json.dumps({"sampleId": sample, "absorbanceResult": str(a)})
    return json.dumps(
        {
            "sampleId": sample,
            "absorbance": a,
            "sampleType": "sample",
            "batchId": f"B{i // 100:05d}",
            "instrumentId": "cary60-01",
            "wavelengthNm": 220,
        }
    )


def write_results(path: Path, n: int, *, seed: int = 7, flagged_share: float = 0.1) -> Path:
    rng = random.Random(seed)
    with path.open("w") as f:
        for i in range(n):
            f.write(result_line(rng, i, flagged_share=flagged_share) + "\n")
    return path


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(terse=True),
    }


def save(name: str, data: dict[str, Any]) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    data = {
        "machine": machine(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **data,
    }
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def bytecode_env(cache: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """An environment whose Python keeps compiled bytecode in `cache` (PYTHONPYCACHEPREFIX),
    as an installed package has it (pip compiles on install; CPython writes __pycache__ on
    first import). A machine that sets PYTHONDONTWRITEBYTECODE=1 compiles every module on
    every start instead (matplotlib's import: about 2 s instead of 0.6 s on 2 loaded cores).
    Run each command once with it before timing (the first run writes the cache)."""
    out = {k: v for k, v in (os.environ if env is None else env).items()}
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    out["PYTHONPYCACHEPREFIX"] = str(cache)
    return out
