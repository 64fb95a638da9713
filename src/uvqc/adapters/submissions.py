"""Result files as submissions: every message of every input with its source and identity.

The messages come from `files.iter_messages` (JSON Lines line by line, arrays element by
element, with exact `path:line` sources); this adds the identity of each one:
`submission_id(sha256 of the input's whole content, position in it)`. An input is hashed
before its first message is sent (one extra sequential read, ~1 GB/s), so the identity of a
line does not depend on how far a previous, interrupted run got. Standard input is spooled
to a temporary file first (it can be read only once).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from uvqc.adapters.files import STDIN, expand_paths, iter_messages
from uvqc.errors import UsageError
from uvqc.pipeline.submission import Submission, submission_id

CHUNK = 5000  # submissions per chunk (one transaction / a few SendMessageBatch calls each)
STDIN_NAME = "<stdin>"
_READ = 1 << 20


def _sha256(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while block := stream.read(_READ):
        digest.update(block)
    return digest.hexdigest()


def _of_file(path: str, shown: str) -> Iterator[Submission]:
    try:
        with Path(path).open("rb") as stream:
            digest = _sha256(stream)
    except OSError as exc:
        raise UsageError(f"{shown}: cannot read ({exc.strerror})") from None
    for source, raw in iter_messages([path]):
        position = source[len(path) :] if source.startswith(path) else source
        yield Submission(f"{shown}{position}", raw, submission_id(digest, position))


def _of_stdin(stream: BinaryIO) -> Iterator[Submission]:
    with tempfile.NamedTemporaryFile(prefix="uvqc-stdin-", suffix=".jsonl") as spool:
        shutil.copyfileobj(stream, spool, _READ)
        spool.flush()
        yield from _of_file(spool.name, STDIN_NAME)


def iter_submissions(paths: Iterable[str], stdin: BinaryIO | None = None) -> Iterator[Submission]:
    """Every message of every path (directories expanded, `-` is standard input), in order,
    with its source ("day.jsonl:12", "batch.json[3]") and submission id."""
    for name in expand_paths(paths):
        if name == STDIN:
            yield from _of_stdin(stdin or sys.stdin.buffer)
        else:
            yield from _of_file(name, name)


def submission_chunks(
    paths: Iterable[str], size: int | None = None, stdin: BinaryIO | None = None
) -> Iterator[list[Submission]]:
    """iter_submissions in lists of at most `size` (default CHUNK; memory stays flat on any
    file size)."""
    size = size or CHUNK
    chunk: list[Submission] = []
    for item in iter_submissions(paths, stdin):
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
