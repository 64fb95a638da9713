"""The check stage with a run store (uvqc.testing's in-memory one): run decisions are queued
while the run is still on the instrument, each once, whatever the arrival order."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from uvqc.core.methods import MethodBook
from uvqc.pipeline.check import Incoming, check_batch
from uvqc.testing import MemoryNotifyQueue, MemoryRunStore, MemoryStore, MemoryWindows

ROOT = Path(__file__).resolve().parents[2]
LINES = (ROOT / "examples" / "runs" / "nitrate-run-2026-11-28.jsonl").read_text().splitlines()
BOOK = MethodBook.from_paths([ROOT / "examples" / "methods" / "nitrate-run.toml"])


def feed(order: list[int]) -> tuple[MemoryNotifyQueue, dict[str, int]]:
    """Check one message at a time; when (after how many arrivals) each decision was queued."""
    notify, runs, store = MemoryNotifyQueue(), MemoryRunStore(BOOK), MemoryStore()
    windows = MemoryWindows()
    queued_at: dict[str, int] = {}
    for n, i in enumerate(order, 1):
        message = Incoming(f"m-{i}", LINES[i], datetime.now(UTC))
        outcome = check_batch(
            [message], methods=BOOK, store=store, notify=notify, runs=runs, windows=windows
        )
        assert outcome.failed == []
        for request in notify.requests:
            if request.run is not None:
                queued_at.setdefault(request.run["code"], n)
    return notify, queued_at


def test_the_failed_ccv_is_queued_as_soon_as_the_next_check_standard_is_in() -> None:
    notify, queued_at = feed(list(range(64)))
    # CCV-2 (position 31) fails; ICV-B at position 39 closes the samples it brackets
    assert queued_at == {"check_standard_failed": 39, "above_calibration": 57}
    assert len([r for r in notify.requests if r.run]) == 2


def test_any_arrival_order_with_repeats_queues_the_same_decisions_once() -> None:
    order = list(range(64)) + random.Random(1).sample(range(64), 20)
    random.Random(2).shuffle(order)
    notify, queued_at = feed(order)
    assert set(queued_at) == {"check_standard_failed", "above_calibration"}
    keys = [r.key for r in notify.requests if r.run]
    assert len(keys) == len(set(keys)) == 2
