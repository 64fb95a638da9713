"""Folder auto-import: take a file once it is complete, import it exactly once, move it to
``archive/`` or ``failed/`` (with a ``.reason.txt`` beside it).

Complete: its size and modification time are unchanged since the previous look and it was
last modified at least `settle` seconds ago (a file that appeared by rename from a finished
temporary file qualifies at once). Names of temporary files (``.tmp``, ``.part``, ``~$x``,
hidden files) are never taken.

Exactly once: the content digest (sha256) is recorded in the same SQLite transaction that
puts the file's results on the intake queue. A kill -9 before that commit leaves the file in
the inbox and nothing queued: it is imported on restart; after the commit, restart finds the
digest and only finishes the move. The same content saved again is not imported again; a
changed file is.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from uvqc.ingest.results import FileOutcome, Options, file_digest, ingest_bytes

ARCHIVE = "archive"
FAILED = "failed"
_TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", ".lock", ".reason.txt")


@dataclass(frozen=True, slots=True)
class Imported:
    """What the ledger knows of a digest already imported."""

    file: str
    status: str  # imported | partial
    results: int
    reason: str | None
    at: str


class ImportLedger(Protocol):
    """Where digests of imported files live, and how results are handed over with them
    (atomically when the store allows it)."""

    def lookup(self, sha256: str) -> Imported | None: ...

    def import_once(self, outcome: FileOutcome, status: str, reason: str | None) -> bool:
        """Hand over the messages and record the digest; False if already recorded."""
        ...


@dataclass(slots=True)
class FileReport:
    name: str
    action: str  # imported | partial | refused | duplicate
    results: int
    destination: Path
    reason: str | None = None


@dataclass(slots=True)
class Watcher:
    """Poll a directory; `scan_once` handles every complete file and returns reports."""

    directory: Path
    ledger: ImportLedger
    options: Options
    settle: float = 2.0
    clock: Callable[[], float] = time.time
    _seen: dict[str, tuple[int, int]] = field(default_factory=dict)

    def candidates(self) -> Iterator[Path]:
        for entry in sorted(self.directory.iterdir()):
            name = entry.name
            if (
                name.startswith((".", "~$"))
                or name.lower().endswith(_TEMP_SUFFIXES)
                or not entry.is_file()
            ):
                continue
            yield entry

    def _complete(self, path: Path) -> bool:
        try:
            st = path.stat()
        except FileNotFoundError:
            return False
        sig = (st.st_size, st.st_mtime_ns)
        previous = self._seen.get(path.name)
        self._seen[path.name] = sig
        old_enough = self.clock() - st.st_mtime >= self.settle
        return old_enough and (previous == sig or previous is None)

    def scan_once(self, on_report: Callable[[FileReport], None] | None = None) -> list[FileReport]:
        """Handle every complete file now; `on_report` hears of each as soon as it is done."""
        reports = []
        present = set()
        for path in self.candidates():
            present.add(path.name)
            if not self._complete(path):
                continue
            report = self.handle(path)
            if report is not None:
                reports.append(report)
                if on_report is not None:
                    on_report(report)
                self._seen.pop(path.name, None)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return reports

    def handle(self, path: Path) -> FileReport | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None  # taken by another watcher, or removed
        digest = file_digest(data)
        known = self.ledger.lookup(digest)
        if known is not None:
            return self._finish_known(path, digest, known)
        outcome = ingest_bytes(data, path.name, options=self.options)
        if outcome.file_refusal is not None:
            refusal = f"refused ({outcome.refusal_kind}): {outcome.file_refusal}"
            return self._move(path, FAILED, "refused", 0, refusal, digest)
        status = "imported" if outcome.ok else "partial"
        reason = _reason(outcome) if not outcome.ok else None
        if not outcome.messages:
            return self._move(path, FAILED, "refused", 0, reason, digest)
        if not self.ledger.import_once(outcome, status, reason):
            known = self.ledger.lookup(digest)
            if known is not None:
                return self._finish_known(path, digest, known)
        target = ARCHIVE if status == "imported" else FAILED
        return self._move(path, target, status, len(outcome.messages), reason, digest)

    def _finish_known(self, path: Path, digest: str, known: Imported) -> FileReport | None:
        target = ARCHIVE if known.status == "imported" else FAILED
        if known.file == path.name and not (self.directory / target / path.name).exists():
            # A restart after the commit but before the move: finish the move as decided.
            return self._move(path, target, known.status, known.results, known.reason, digest)
        reason = (
            f"duplicate: the same content was imported as {known.file} at {known.at} "
            f"({known.results} result(s)); not imported again"
        )
        return self._move(path, ARCHIVE, "duplicate", 0, reason, digest)

    def _move(
        self, path: Path, sub: str, action: str, results: int, reason: str | None, digest: str
    ) -> FileReport | None:
        folder = self.directory / sub
        folder.mkdir(exist_ok=True)
        dest = folder / path.name
        if dest.exists():
            dest = folder / f"{path.stem}.{digest[:12]}{path.suffix}"
        if reason is not None:
            note = dest.with_name(dest.name + ".reason.txt")
            tmp = note.with_name(note.name + ".tmp")
            tmp.write_text(reason + "\n", encoding="utf-8")
            tmp.replace(note)
        try:
            path.replace(dest)
        except FileNotFoundError:
            return None
        return FileReport(path.name, action, results, dest, reason)


def _reason(outcome: FileOutcome) -> str:
    lines = [
        f"{len(outcome.messages)} result(s) imported; {len(outcome.refused)} sample(s) refused:"
    ]
    for r in outcome.refused:
        where = ", ".join(
            [
                *([f"line {r.line}"] if r.line else []),
                *([f"position {r.position}"] if r.position else []),
            ]
        )
        where = f" ({where})" if where else ""
        lines.append(f"- {r.name or '(unnamed)'}{where}: {r.reason}")
    return "\n".join(lines)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run(
    watcher: Watcher,
    *,
    poll: float,
    stop: Callable[[], bool],
    on_report: Callable[[FileReport], None],
) -> None:
    """Scan every `poll` seconds until `stop()`."""
    while not stop():
        watcher.scan_once(on_report)
        with contextlib.suppress(InterruptedError):
            time.sleep(poll)
