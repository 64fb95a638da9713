"""Shared fixtures of the core tests: a clean environment and a factory of raw messages."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from uvqc.core.methods import MethodBook

RawFactory = Callable[..., bytes]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No UVQC_* variable and no uvqc.toml of the developer's leaks into a test."""
    for name in list(os.environ):
        if name.upper().startswith("UVQC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def book() -> MethodBook:
    return MethodBook()


@pytest.fixture
def raw() -> RawFactory:
    """A valid current-shape message as bytes; keyword arguments override or add fields,
    and a value of `...` removes the field."""

    def make(**fields: Any) -> bytes:
        data: dict[str, Any] = {"sampleId": "S-1", "absorbance": 0.45}
        for key, value in fields.items():
            if value is ...:
                data.pop(key, None)
            else:
                data[key] = value
        return json.dumps(data).encode()

    return make
