"""Fixtures for the embedded runtime: a database per test, a faulty relay, settings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.relay import FaultyRelay
from uvqc.local.runtime import Runtime
from uvqc.settings import Settings, load_settings

FAST = {
    "retry_base_seconds": 0.05,
    "retry_max_seconds": 0.2,
    "visibility_timeout_seconds": 2.0,
    "smtp_timeout_seconds": 5.0,
    "max_attempts": 4,
    "worker_batch_size": 50,
}


def result(sample_id: str, absorbance: float = 0.5) -> bytes:
    """A result body: absorbance 0.5 passes, 3.5 is flagged (dilution required)."""
    return json.dumps({"sampleId": sample_id, "absorbance": absorbance}).encode()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "uvqc.db"


@pytest.fixture
def relay() -> Iterator[FaultyRelay]:
    with FaultyRelay(seed=1234) as r:
        yield r


@pytest.fixture
def make_settings(db_path: Path, tmp_path: Path) -> Callable[..., Settings]:
    def make(relay: FaultyRelay | None = None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {**FAST, "db": db_path, "outbox": tmp_path / "outbox"}
        if relay is not None:
            values.update(channel="smtp", smtp_host=relay.host, smtp_port=relay.port)
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
def make_runtime(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Runtime]]:
    opened: list[Runtime] = []

    def make(relay: FaultyRelay | None = None, **overrides: Any) -> Runtime:
        rt = Runtime.from_settings(make_settings(relay, **overrides))
        opened.append(rt)
        return rt

    yield make
    for rt in opened:
        rt.close()
