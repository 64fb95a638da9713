"""Notification identity: one notification (one e-mail) per distinct RESULT.

The identity rule (docs/EMBEDDED.md "Notification identity"):

1. The *content* of a result is its message, canonicalised: parsed as JSON when it is JSON
   (then dumped with sorted keys, no whitespace, UTF-8), else its raw bytes. Key order,
   whitespace and number spelling (`0.30` = `0.3`) do not make a new result; any other
   difference does (another sample, value, batch, day, reason for a reject ...).
   `content_digest` is the SHA-256 of that canonical form (domain-separated: `json:` / `raw:`).
2. The same content seen again within the *deduplication window* (`UVQC_DEDUP_WINDOW_SECONDS`,
   default 86,400 s = 24 h, counted from the first sighting of a window) is the same result:
   an SQS redelivery, a duplicate submission, a redrive. After the window it is a new result
   (the same reading reported again tomorrow is worth a new e-mail).
3. The notification key is `sha256("uvqc-result", digest, window start)[:40]`. The window
   start is kept per digest in a durable *window index* (SQLite table `result_windows`,
   DynamoDB item `window#<digest>` in the ledger table), created atomically with the first
   sighting, so every worker, every redelivery and every retry after a crash derives the same
   key (decide_window is the one rule all index implementations follow).

Times are the moment the message entered the intake queue (`received_at`: the SQLite queue's
`sent_at`, SQS `SentTimestamp`), which a redelivery of the same message keeps.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from uvqc.pipeline.records import iso, parse_iso

DEFAULT_WINDOW = timedelta(days=1)
KEY_CHARS = 40


class _Overflow(ValueError):
    """A JSON number that does not fit a float: canonicalised from raw bytes instead."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Overflow(text)
    return value


@dataclass(frozen=True, slots=True)
class Content:
    """A message's canonical content: its digest, and the parsed JSON (None if not JSON)."""

    digest: str
    data: Any = None


def read_content(raw: str | bytes) -> Content:
    """Canonical content of a raw message. Never raises: undecodable bytes, invalid JSON,
    JSON nested too deeply and numbers beyond float range are digested as raw bytes."""
    blob = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_float=_finite_float)
        canonical = json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True
        )
    except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError, _Overflow
        return Content("raw:" + hashlib.sha256(b"raw:" + blob).hexdigest())
    encoded = canonical.encode("utf-8", "surrogatepass")
    return Content("json:" + hashlib.sha256(b"json:" + encoded).hexdigest(), data)


def content_digest(raw: str | bytes) -> str:
    return read_content(raw).digest


def window_key(digest: str, start: datetime) -> str:
    """The notification key of the window of `digest` that began at `start`."""
    identity = json.dumps(["uvqc-result", digest, iso(start)], separators=(",", ":"))
    return hashlib.sha256(identity.encode()).hexdigest()[:KEY_CHARS]


@dataclass(frozen=True, slots=True)
class Window:
    """The current deduplication window of one content digest."""

    digest: str
    start: datetime
    key: str

    @classmethod
    def opened(cls, digest: str, at: datetime) -> Window:
        start = parse_iso(iso(at))  # millisecond precision, as stored
        return cls(digest, start, window_key(digest, start))


class WindowAction(StrEnum):
    OPEN = "open"  # no window yet: open one at this sighting
    SAME = "same"  # within the current window: the same result, the same key
    REPLACE = "replace"  # after the current window: a new window (and key) starts here
    OLDER = "older"  # long before the current window (a very late message): own key, unstored


STORE = frozenset({WindowAction.OPEN, WindowAction.REPLACE})  # actions that write the index


def decide_window(
    current: Window | None, digest: str, at: datetime, span: timedelta
) -> tuple[WindowAction, Window]:
    """The rule every window index follows: given the stored window of `digest` (or None)
    and a sighting `at`, what to store (OPEN/REPLACE: the returned window; SAME/OLDER:
    nothing) and the window the sighting belongs to (its `.key` is the notification key).

    Within `span` of the current window's start, before or after it: SAME. Later: a new
    window starts (REPLACE). Earlier than the start by `span` or more (a message that waited
    over a day in a queue): its own window, derived from its own time, not stored."""
    sighting = Window.opened(digest, at)
    if current is None:
        return WindowAction.OPEN, sighting
    if abs(sighting.start - current.start) < span:
        return WindowAction.SAME, current
    if sighting.start > current.start:
        return WindowAction.REPLACE, sighting
    return WindowAction.OLDER, sighting


class WindowIndex(Protocol):
    """Durable map digest -> current window; `assign` follows `decide_window` atomically
    (one transaction, or conditional writes), in the order of `sightings`."""

    def assign(self, sightings: Sequence[tuple[str, datetime]], span: timedelta) -> list[str]:
        """The notification key of each (digest, received_at) sighting."""
        ...
