"""Submitted lines: what `uvqc submit` and `uvqc run` put on an intake queue, in both runtimes.

A submission is one message of one input (a JSON Lines line, an array element, a whole
document) with where it came from (`source`, e.g. "day.jsonl:12") and a stable identity
(`submission_id`: sha256 of the input's content up to that message and its position). The
identity travels with the message (SQLite columns, SQS message attributes) to the check stage,
which derives the record id from it: a line submitted again (a re-run after `kill -9`) is
recognised before it is queued, and even if it is queued again it overwrites its own record.

A message a transport cannot carry as it is (SQS: over its size limit) is queued as a small
stand-in (`Oversized`: size, digest, the first bytes); the check stage turns it into the same
reject the embedded runtime gives, naming the size and the source and keeping the excerpt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from uvqc.core.models import MAX_PAYLOAD_BYTES
from uvqc.core.parse import readable_sample_id
from uvqc.core.verdicts import INVALID_MESSAGE, Finding, Judgement, Severity, Verdict

EXCERPT_BYTES = 4096  # kept of a message too large to queue
RECORD_ID_CHARS = 32  # record ids are 32 hex digits, like queue message ids


@dataclass(frozen=True, slots=True)
class Submission:
    """One message to submit: its raw bytes, where it came from, and its identity."""

    source: str
    raw: bytes
    submission_id: str


@dataclass(slots=True)
class SubmitReport:
    """What a submit did: messages queued now, and those skipped as already submitted."""

    submitted: int = 0
    skipped: int = 0

    def add(self, other: SubmitReport) -> None:
        self.submitted += other.submitted
        self.skipped += other.skipped

    def describe(self) -> str:
        text = f"submitted {self.submitted} message(s)"
        if self.skipped:
            text += f", {self.skipped} already submitted, skipped"
        return text


class SubmissionQueue(Protocol):
    """An intake queue that knows what it was given before (by submission_id)."""

    def submit_new(self, items: Sequence[Submission]) -> SubmitReport:
        """Queue every item not submitted before (in order); skip the others."""
        ...


START = hashlib.sha256(b"uvqc submission").hexdigest()  # the chain's value before line 1


def submission_id(previous: str, position: str, raw: bytes) -> str:
    """Identity of the message at `position` (":12" for line 12, "[3]" for array element 3,
    "" for a whole document) whose bytes are `raw`, following the message whose identity is
    `previous` (START for the first one): sha256 over the input's content up to and
    including this message, and its position, as a hash chain (64 hex digits).

    So a message's identity depends on its input's content up to it, not on the path (the
    same file copied elsewhere is the same submission), and not on what follows it (a file
    an instrument appends to keeps the identities of its earlier lines, so submitting it
    again sends only the new ones); a changed line is a new submission, and so is every
    line after it."""
    digest = hashlib.sha256(previous.encode())
    digest.update(b"\n" + position.encode("utf-8", "surrogateescape") + b"\n")
    digest.update(raw)
    return digest.hexdigest()


def record_id_for(message_id: str, submission: str | None) -> str:
    """The record id of a message: derived from its submission id when it has one (so a
    re-submitted line overwrites its own record), else the queue's message id."""
    return submission[:RECORD_ID_CHARS] if submission else message_id


@dataclass(frozen=True, slots=True)
class Oversized:
    """A message too large for its transport: only its size, digest and first bytes arrived.

    `limit` is the transport's limit in bytes (SQS: 262,144 for the body and attributes).
    """

    size: int
    sha256: str
    excerpt: str
    limit: int

    def to_json(self) -> str:
        """The stand-in body: ASCII JSON (valid in any transport)."""
        return json.dumps(
            {
                "bytes": self.size,
                "sha256": self.sha256,
                "excerpt": self.excerpt,
                "limit": self.limit,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Oversized:
        data = json.loads(text)
        return cls(
            int(data["bytes"]), str(data["sha256"]), str(data["excerpt"]), int(data["limit"])
        )

    @classmethod
    def of(cls, raw: bytes, limit: int) -> Oversized:
        excerpt = raw[:EXCERPT_BYTES].decode("utf-8", "backslashreplace")
        return cls(len(raw), hashlib.sha256(raw).hexdigest(), excerpt, limit)

    def judgement(self) -> Judgement:
        """A reject naming the size, as the core rejects an oversized payload; the sample ID
        is kept when the excerpt starts with a readable one."""
        if self.size > MAX_PAYLOAD_BYTES:
            message = f"Rejected: payload is {self.size} bytes, over the {MAX_PAYLOAD_BYTES} limit."
            limit = MAX_PAYLOAD_BYTES
        else:
            message = (
                f"Rejected: payload is {self.size} bytes; with its queue attributes it is over "
                f"the {self.limit} byte message limit of the queue."
            )
            limit = self.limit
        finding = Finding(INVALID_MESSAGE, Severity.FAIL, message, value=self.size, limit=limit)
        sample = readable_sample_id(self.excerpt)  # the core's salvage, on the kept excerpt
        return Judgement(sample, Verdict.REJECT, (finding,), None)
