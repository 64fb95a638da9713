"""Read result messages from files or stdin: a JSON object, a JSON array, or JSON Lines.

Streams JSON Lines (memory stays flat on files of millions of lines). Each message comes out
as raw bytes with its source (`path:line`), so a broken line is a reject for that line only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from uvqc.errors import UsageError

RESULT_SUFFIXES = (".json", ".jsonl", ".ndjson")
STDIN = "-"


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Files as given; directories expand to their result files (sorted); `-` is stdin."""
    expanded: list[str] = []
    for name in paths:
        if name == STDIN:
            expanded.append(name)
            continue
        path = Path(name)
        if path.is_dir():
            found = sorted(
                str(p) for p in path.rglob("*") if p.is_file() and p.suffix in RESULT_SUFFIXES
            )
            if not found:
                raise UsageError(f"{name}: directory holds no .json/.jsonl/.ndjson files")
            expanded.extend(found)
        elif path.is_file():
            expanded.append(name)
        else:
            raise UsageError(f"{name}: no such file or directory")
    return expanded


def _messages_from_document(doc: bytes, source: str) -> Iterator[tuple[str, bytes]]:
    """A whole-file JSON document: an array yields one message per element."""
    try:
        data = json.loads(doc)
    except (ValueError, RecursionError):
        yield source, doc
        return
    if isinstance(data, list):
        for i, item in enumerate(data, 1):
            # surrogatepass: a lone surrogate (from a "\ud800" escape) must become a reject
            # of that element, not a UnicodeEncodeError that ends the whole run.
            text = json.dumps(item, ensure_ascii=False)
            yield f"{source}[{i}]", text.encode("utf-8", "surrogatepass")
    else:
        yield source, doc


def iter_stream(stream: BinaryIO, name: str) -> Iterator[tuple[str, bytes]]:
    """Messages from one open binary stream."""
    first = b""
    first_no = 0
    for first_no, line in enumerate(stream, 1):  # noqa: B007 - first_no is used below
        if line.strip():
            first = line
            break
    if not first:
        return
    stripped = first.strip()
    first_is_json = _is_json(stripped)
    if not stripped.startswith(b"[") and (first_is_json or not stripped.startswith(b"{")):
        # JSON Lines (or a one-line document): stream it, line by line.
        yield f"{name}:{first_no}", stripped
        yield from _lines(stream, name, first_no + 1)
        return
    head = b""
    if not first_is_json and stripped.startswith(b"{"):
        # A broken first line, or the first line of a pretty-printed object? If the next
        # non-blank line is a whole JSON object, this is JSON Lines: keep streaming.
        for no, line in enumerate(stream, first_no + 1):
            head += line
            if line.strip():
                if line.strip().startswith(b"{") and _is_json(line.strip()):
                    yield f"{name}:{first_no}", stripped
                    yield f"{name}:{no}", line.strip()
                    yield from _lines(stream, name, no + 1)
                    return
                break
    # An array, or an object that spans lines (pretty-printed): read the whole document.
    rest = head + stream.read()
    doc = first + rest
    if _is_json(doc) or not rest.strip():
        yield from _messages_from_document(doc.strip(), name)
        return
    # Not one document either: JSON Lines whose first line is broken. Every line on its own.
    yield f"{name}:{first_no}", stripped
    for no, line in enumerate(rest.splitlines(), first_no + 1):
        if line.strip():
            yield f"{name}:{no}", line.strip()


def _lines(stream: BinaryIO, name: str, start: int) -> Iterator[tuple[str, bytes]]:
    """The rest of a JSON Lines stream, one message per non-blank line, numbered from start."""
    for no, line in enumerate(stream, start):
        if line.strip():
            yield f"{name}:{no}", line.strip()


def _is_json(text: bytes) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def iter_messages(paths: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """Every message of every path, in order, as (source, raw bytes)."""
    for name in expand_paths(paths):
        if name == STDIN:
            yield from iter_stream(sys.stdin.buffer, "<stdin>")
            continue
        try:
            stream = Path(name).open("rb")  # noqa: SIM115 - closed below, generator-safe
        except OSError as exc:
            raise UsageError(f"{name}: cannot read ({exc.strerror})") from None
        with stream:
            yield from iter_stream(stream, name)
