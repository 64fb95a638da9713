"""Read result messages from files, directories, pipes, devices or stdin.

Every shape (JSON Lines, an array, one or several documents), encoding (UTF-8 with or
without a byte order mark, UTF-16/32 with one) and gzip compression is read in bounded
memory: see `uvqc.adapters.jsonstream`. Each message comes out with its source (`path:line`,
`path[n]`), so a broken line is a reject for that line only, and a broken document is one
reject naming the position.

Directories are searched for result files (`.json`, `.jsonl`, `.ndjson`, each optionally
`.gz`; suffixes in any case); every other file found is reported as skipped, never silently.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from uvqc.adapters.jsonstream import Item, decoded, iter_stream
from uvqc.errors import UsageError

RESULT_SUFFIXES = (".json", ".jsonl", ".ndjson")
STDIN = "-"

__all__ = ["RESULT_SUFFIXES", "STDIN", "Item", "expand_paths", "iter_items", "iter_messages"]


def _stderr_note(text: str) -> None:
    sys.stderr.write(f"uvqc: {text}\n")


def is_result_file(path: Path) -> bool:
    """`.json`, `.jsonl`, `.ndjson`, optionally gzipped (`.jsonl.gz`), in any case."""
    name = path.name.lower().removesuffix(".gz")
    return name.endswith(RESULT_SUFFIXES)


def expand_paths(paths: Iterable[str], on_skip: Callable[[str], None] = _stderr_note) -> list[str]:
    """Paths as given (files, pipes such as `<(cat f)`, devices such as /dev/null); each
    directory expands to its result files, sorted, and every other file in it is reported
    to `on_skip`; `-` is stdin. A missing path or a directory without result files is a
    UsageError."""
    expanded: list[str] = []
    for name in paths:
        if name == STDIN:
            expanded.append(name)
            continue
        path = Path(name)
        if path.is_dir():
            found: list[str] = []
            for entry in sorted(path.rglob("*")):
                if entry.is_dir():
                    continue
                if not entry.is_file():
                    on_skip(f"skipped {entry}: not a regular file")
                elif is_result_file(entry):
                    found.append(str(entry))
                else:
                    on_skip(f"skipped {entry}: not a result file (.json, .jsonl, .ndjson, .gz)")
            if not found:
                raise UsageError(f"{name}: directory holds no .json/.jsonl/.ndjson files")
            expanded.extend(found)
        elif os.path.exists(name):  # noqa: PTH110 - follows /dev/fd/N like open() does
            expanded.append(name)
        else:
            raise UsageError(f"{name}: no such file or directory")
    return expanded


def iter_items(
    paths: Iterable[str], on_skip: Callable[[str], None] = _stderr_note
) -> Iterator[Item]:
    """Every message of every path, in order, as Items (source, raw bytes, reader error)."""
    for name in expand_paths(paths, on_skip):
        if name == STDIN:
            yield from iter_stream(sys.stdin.buffer, "<stdin>")
            continue
        try:
            stream = Path(name).open("rb")  # noqa: SIM115 - closed below, generator-safe
        except OSError as exc:
            raise UsageError(f"{name}: cannot read ({exc.strerror})") from None
        with stream:
            reopen = _reopener(name) if Path(name).is_file() else None
            yield from iter_stream(stream, name, reopen)


def _reopener(name: str) -> Callable[[], io.BufferedReader]:
    def reopen() -> io.BufferedReader:
        return decoded(Path(name).open("rb"))

    return reopen


READER_ERROR = b"uvqc: "  # core.parse turns a message starting so into a reject with its reason
READER_EXCERPT_BYTES = 16 * 1024


def iter_messages(paths: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """Every message of every path, in order, as (source, raw bytes). A part of the input
    the reader refuses (a broken document, an undecodable file) is one message, which the
    validator rejects: the reader's explanation (file, position, what was read) on its first
    line, so a record and its e-mail excerpt say it, then the text before the error."""
    for item in iter_items(paths):
        if item.error is None:
            yield item.source, item.raw
        else:
            # An excerpt is enough evidence, and it keeps the message within every queue's
            # size limit (an over-long line is refused with its size in the explanation).
            yield (
                item.source,
                READER_ERROR
                + f"{item.error}\n".encode("utf-8", "replace")
                + item.raw[:READER_EXCERPT_BYTES],
            )
