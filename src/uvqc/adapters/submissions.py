"""Result files as submissions: every message of every input with its source and identity.

The messages come from `files.iter_messages` (JSON Lines line by line, arrays element by
element, with exact `path:line` sources); this adds the identity of each one, a hash chain
over the input's messages (`pipeline.submission.submission_id`): computed as the input
streams, so memory stays flat and standard input needs no second read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from uvqc.adapters.files import STDIN, expand_paths, iter_messages
from uvqc.pipeline.submission import START, Submission, submission_id

CHUNK = 5000  # submissions per chunk (one transaction / a few SendMessageBatch calls each)
STDIN_NAME = "<stdin>"


def _of_input(name: str) -> Iterator[Submission]:
    prefix = STDIN_NAME if name == STDIN else name
    previous = START
    for source, raw in iter_messages([name]):
        position = source[len(prefix) :] if source.startswith(prefix) else source
        previous = submission_id(previous, position, raw)
        yield Submission(source, raw, previous)


def iter_submissions(paths: Iterable[str]) -> Iterator[Submission]:
    """Every message of every path (directories expanded, `-` is standard input), in order,
    with its source ("day.jsonl:12", "batch.json[3]", "<stdin>:2") and submission id."""
    for name in expand_paths(paths):
        yield from _of_input(name)


def submission_chunks(paths: Iterable[str], size: int | None = None) -> Iterator[list[Submission]]:
    """iter_submissions in lists of at most `size` (default CHUNK; memory stays flat on any
    file size)."""
    size = size or CHUNK
    chunk: list[Submission] = []
    for item in iter_submissions(paths):
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
