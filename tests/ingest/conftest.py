from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> Path:
    return FIXTURES / name


def messages(raw: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(r) for r in raw]


@pytest.fixture(autouse=True)
def _instrument_clock_in_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Exports write the instrument PC's local time without an offset, read in this machine's
    local time unless UVQC_INGEST_TIMEZONE says otherwise: pinned to UTC here, so the tests
    give the same times on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
