"""Duplicate keys in a JSON text: `{"absorbance": 3.2, "absorbance": 0.41}` is one reading or
the other, and JSON parsers silently keep the last. uvqc refuses such a message.

`duplicate_key` is on the check hot path, so it first asks a cheap question that is exact
for text without backslashes: split on `"`, the odd parts are the strings, a string followed
by `:` is a key. When no key name occurs twice anywhere in the message (the common case),
there is no duplicate; when one does (`absorbance` beside `spectrum.absorbance`), the braces
between the strings tell which object each key belongs to. Only text with backslash escapes,
or a real duplicate, is parsed with `object_pairs_hook` to find and name the key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class DuplicateKey:
    """The first key given twice in one object: its path (`spectrum.absorbance`) and the
    first two of its values."""

    path: str
    first: Any
    second: Any


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its list of (key, value) pairs, duplicates kept."""


_BRACES = re.compile(rb"[{}]")


def _maybe_duplicated(raw: str | bytes) -> bool:
    """False only when no object can hold a key twice: exact for text without backslashes
    (then the parts between quotes alternate: outside, string, outside, ...)."""
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    if b"\\" in data:
        return True
    parts = data.split(b'"')
    strings = parts[1::2]
    if len(set(strings)) == len(strings):
        return False  # no string twice, so no key twice: the common case
    keys = [
        k for k, after in zip(parts[1::2], parts[2::2], strict=False) if after.lstrip()[:1] == b":"
    ]
    if len(set(keys)) == len(keys):
        return False  # no key name twice anywhere
    # A key name repeated: in one object, or in different ones (`absorbance` and
    # `spectrum.absorbance`)? Follow the braces outside strings: one key set per open object.
    scopes: list[set[bytes]] = [set()]
    for i in range(1, len(parts), 2):
        for brace in _BRACES.findall(parts[i - 1]):
            if brace == b"{":
                scopes.append(set())
            elif len(scopes) > 1:
                scopes.pop()
        if i + 1 < len(parts) and parts[i + 1].lstrip()[:1] == b":":
            if parts[i] in scopes[-1]:
                return True
            scopes[-1].add(parts[i])
    return False


def _first_duplicate(node: Any, path: str) -> DuplicateKey | None:
    if isinstance(node, _Pairs):
        seen: dict[str, Any] = {}
        for key, value in node:
            where = f"{path}.{key}" if path else key
            if key in seen:
                return DuplicateKey(where, seen[key], value)
            seen[key] = value
        for key, value in node:
            found = _first_duplicate(value, f"{path}.{key}" if path else key)
            if found is not None:
                return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, list):  # a _Pairs object or an array
                found = _first_duplicate(value, f"{path}.{i}" if path else str(i))
                if found is not None:
                    return found
    return None


def plain(value: Any) -> Any:
    """A value parsed with pairs kept, as ordinary JSON data (the last duplicate wins)."""
    if isinstance(value, _Pairs):
        return {k: plain(v) for k, v in value}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def parse_pairs(raw: str | bytes) -> Any:
    """Parse JSON keeping every (key, value) pair of every object. Raises ValueError (also for
    invalid UTF-8) or RecursionError, like json.loads."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return json.loads(text, object_pairs_hook=_Pairs)


def duplicate_key(raw: str | bytes) -> DuplicateKey | None:
    """The first key that one JSON object of `raw` gives twice, at any depth; None when there
    is none, or when `raw` is not JSON at all (the validator says why)."""
    if not _maybe_duplicated(raw):
        return None
    try:
        tree = parse_pairs(raw)
    except (ValueError, RecursionError):
        return None
    return _first_duplicate(tree, "")
