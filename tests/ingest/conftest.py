from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> Path:
    return FIXTURES / name


def messages(raw: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(r) for r in raw]
