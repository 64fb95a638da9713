"""Lambda cost model per million results, us-east-1 prices (shared/AWS.md).

cost = invocations x duration_s x memory_GB x price_per_GB_s + invocations x price_per_request
(+ INIT: cold starts x init_s x memory_GB x price_per_GB_s, billed since 2025-08-01).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PRICE_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_PER_REQUEST = 0.20 / 1_000_000


@dataclass(frozen=True)
class FunctionLoad:
    name: str
    invocations: float  # per million results
    duration_s: float  # billed duration per invocation
    memory_mb: int
    arch: str
    cold_starts: float = 0.0
    init_s: float = 0.0

    def compute_usd(self) -> float:
        gb = self.memory_mb / 1024
        warm = self.invocations * self.duration_s * gb
        cold = self.cold_starts * self.init_s * gb
        return (warm + cold) * PRICE_GB_S[self.arch]

    def requests_usd(self) -> float:
        return self.invocations * PRICE_PER_REQUEST

    def total_usd(self) -> float:
        return self.compute_usd() + self.requests_usd()

    def row(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "compute_usd": self.compute_usd(),
            "requests_usd": self.requests_usd(),
            "total_usd": self.total_usd(),
        }


def original(results: int = 1_000_000) -> list[FunctionLoad]:
    """Two functions, 512 MB, ~200 ms each, one invocation per result each, x86."""
    return [
        FunctionLoad("original check", results, 0.200, 512, "x86_64"),
        FunctionLoad("original notifier", results, 0.200, 512, "x86_64"),
    ]


def uvqc(
    *,
    results: int = 1_000_000,
    check_batch: int,
    check_batch_s: float,
    flagged_share: float,
    notify_batch: int,
    notify_batch_s: float,
    memory_mb: int = 128,
    init_s: float = 0.0,
    cold_start_share: float = 0.01,
) -> list[FunctionLoad]:
    """uvqc's two functions from measured batch durations and the template's batch sizes."""
    check_inv = results / check_batch
    notify_inv = results * flagged_share / notify_batch
    return [
        FunctionLoad(
            "uvqc check",
            check_inv,
            check_batch_s,
            memory_mb,
            "arm64",
            check_inv * cold_start_share,
            init_s,
        ),
        FunctionLoad(
            "uvqc notify",
            notify_inv,
            notify_batch_s,
            memory_mb,
            "arm64",
            notify_inv * cold_start_share,
            init_s,
        ),
    ]


def total(loads: list[FunctionLoad]) -> float:
    return sum(f.total_usd() for f in loads)
