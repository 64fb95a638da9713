"""Shared fixtures of the CLI tests: a clean environment and the repository's examples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No UVQC_* variable and no uvqc.toml of the developer's leaks into a test."""
    for name in list(os.environ):
        if name.upper().startswith("UVQC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
