"""`uvqc watch`: complete files only, exactly once, archive/failed with reasons, kill -9."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from uvqc.adapters.sqlite.imports import ForwardingImportLedger, SqliteImportLedger
from uvqc.ingest.results import Options, ingest_bytes
from uvqc.ingest.watch import Watcher
from uvqc.local.runtime import Database

from .conftest import fixture

OPTIONS = Options(wavelength_nm=220.0)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _queued(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        (n,) = conn.execute("SELECT count(*) FROM messages WHERE queue = 'intake'").fetchone()
    return int(n)


def _watcher(inbox: Path, database: Database, clock: Clock, settle: float = 2.0) -> Watcher:
    ledger = SqliteImportLedger(database.conn, database.intake_port.queue)
    return Watcher(inbox, ledger, OPTIONS, settle=settle, clock=clock)


def test_a_file_still_being_written_is_not_taken_until_it_is_stable(tmp_path: Path) -> None:
    inbox, db, clock = tmp_path / "in", tmp_path / "u.db", Clock()
    inbox.mkdir()
    data = fixture("genesys30.tsv").read_bytes()
    target = inbox / "g.tsv"
    with Database.open(db) as database:
        w = _watcher(inbox, database, clock)
        target.write_bytes(data[:40])  # half written
        clock.now = time.time()
        assert w.scan_once() == []  # modified just now
        target.write_bytes(data)
        clock.now = time.time() + 5
        assert w.scan_once() == []  # changed since the last look: wait one more
        clock.now += 5
        (report,) = w.scan_once()
    assert report.action == "imported" and report.results == 1
    assert (inbox / "archive" / "g.tsv").exists() and not target.exists()
    assert _queued(db) == 1


def test_temporary_names_are_ignored_and_a_rename_is_taken_at_once(tmp_path: Path) -> None:
    inbox, db, clock = tmp_path / "in", tmp_path / "u.db", Clock()
    inbox.mkdir()
    tmp = inbox / "run.csv.tmp"
    tmp.write_bytes(fixture("visionlite_quant.csv").read_bytes())
    old = time.time() - 60
    os.utime(tmp, (old, old))
    with Database.open(db) as database:
        w = _watcher(inbox, database, clock)
        assert w.scan_once() == []
        tmp.rename(inbox / "run.csv")
        (report,) = w.scan_once()
    assert report.action == "partial" and report.results == 6  # S-1-MS refused
    reason = (inbox / "failed" / "run.csv.reason.txt").read_text(encoding="utf-8")
    assert "S-1-MS" in reason and "'----'" in reason


def test_the_same_content_twice_is_imported_once_and_a_changed_file_again(tmp_path: Path) -> None:
    inbox, db, clock = tmp_path / "in", tmp_path / "u.db", Clock()
    inbox.mkdir()
    data = fixture("genesys30.tsv").read_bytes()
    clock.now = time.time() + 10
    with Database.open(db) as database:
        w = _watcher(inbox, database, clock)
        (inbox / "a.tsv").write_bytes(data)
        assert [r.action for r in w.scan_once()] == ["imported"]
        (inbox / "a.tsv").write_bytes(data)  # saved again, same name, same bytes
        (inbox / "copy.tsv").write_bytes(data)
        assert [r.action for r in w.scan_once()] == ["duplicate", "duplicate"]
        (inbox / "a.tsv").write_bytes(data.replace(b"0.430", b"0.431"))
        assert [r.action for r in w.scan_once()] == ["imported"]
    assert _queued(db) == 2
    archived = sorted(p.name for p in (inbox / "archive").iterdir())
    assert any(name.endswith(".reason.txt") for name in archived)
    assert len([n for n in archived if n.endswith(".tsv")]) == 4


def test_refused_file_goes_to_failed_with_its_reason(tmp_path: Path) -> None:
    inbox, db, clock = tmp_path / "in", tmp_path / "u.db", Clock()
    inbox.mkdir()
    shutil.copy(fixture("native.spc"), inbox / "x.spc")
    clock.now = time.time() + 10
    with Database.open(db) as database:
        (report,) = _watcher(inbox, database, clock).scan_once()
    assert report.action == "refused"
    assert "OLE2" in (inbox / "failed" / "x.spc.reason.txt").read_text(encoding="utf-8")


def test_a_crash_after_the_commit_only_finishes_the_move(tmp_path: Path) -> None:
    inbox, db, clock = tmp_path / "in", tmp_path / "u.db", Clock()
    inbox.mkdir()
    path = inbox / "g.tsv"
    shutil.copy(fixture("genesys30.tsv"), path)
    clock.now = time.time() + 10
    with Database.open(db) as database:
        ledger = SqliteImportLedger(database.conn, database.intake_port.queue)
        outcome = ingest_bytes(path.read_bytes(), path.name, options=OPTIONS)
        assert ledger.import_once(outcome, "imported", None)  # then "killed" before the move
    with Database.open(db) as database:
        (report,) = _watcher(inbox, database, clock).scan_once()
    assert report.action == "imported"
    assert (inbox / "archive" / "g.tsv").exists()
    assert _queued(db) == 1


def test_kill_9_and_restart_lose_nothing_and_import_nothing_twice(tmp_path: Path) -> None:
    inbox, db = tmp_path / "in", tmp_path / "u.db"
    inbox.mkdir()
    template = fixture("genesys30.tsv").read_bytes()
    n = 200
    for i in range(n):  # distinct contents, written as temp files then renamed
        tmp = inbox / f"s{i:03}.tsv.part"
        tmp.write_bytes(template.replace(b"GW-3", f"GW-{i}".encode()))
        tmp.rename(inbox / f"s{i:03}.tsv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UVQC_")}
    command = [sys.executable, "-m", "uvqc", "watch", str(inbox), "--db", str(db),
               "--wavelength", "220", "--settle", "0", "--poll", "0.05"]  # fmt: skip
    proc = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    for _ in range(5):  # let it import a few files, then kill it mid-run
        proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list((inbox / "archive").glob("*.tsv")))
    assert 0 < done_before < n
    subprocess.run([*command, "--once"], env=env, cwd=tmp_path, check=True, capture_output=True)
    assert len(list((inbox / "archive").glob("*.tsv"))) == n
    assert not list(inbox.glob("*.tsv"))
    assert _queued(db) == n
    with sqlite3.connect(db) as conn:
        bodies = [b for (b,) in conn.execute("SELECT body FROM messages")]
    assert len({b.split('"sampleId":"')[1].split('"')[0] for b in bodies}) == n


class ListIntake:
    """An IntakeQueue that keeps what it is given (the SQS side of `watch --queue-url`)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def submit(self, bodies: Sequence[bytes]) -> list[str]:
        self.bodies.extend(bodies)
        return [str(i) for i in range(len(bodies))]


def test_forwarding_to_another_queue_still_imports_each_content_once(tmp_path: Path) -> None:
    inbox, db, clock = tmp_path / "in", tmp_path / "u.db", Clock()
    inbox.mkdir()
    data = fixture("genesys30.tsv").read_bytes()
    clock.now = time.time() + 10
    intake = ListIntake()
    with Database.open(db) as database:
        w = Watcher(inbox, ForwardingImportLedger(database.conn, intake), OPTIONS, clock=clock)
        (inbox / "a.tsv").write_bytes(data)
        (inbox / "b.tsv").write_bytes(data)
        assert [r.action for r in w.scan_once()] == ["imported", "duplicate"]
    assert len(intake.bodies) == 1
    assert _queued(db) == 0  # nothing on the embedded queue: the results went to the port
