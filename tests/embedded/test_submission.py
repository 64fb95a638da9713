"""Submissions in the embedded runtime (issue 9 case 11, issue 8 case 7): every result keeps
its exact source ("file:line") to its record; a re-run of the same file (after `kill -9`, or
after a plain `uvqc submit`) queues nothing twice and says so; `uvqc run` counts this run."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.embedded.conftest import FAST, result
from uvqc.adapters.submissions import iter_submissions
from uvqc.cli import main
from uvqc.local.runtime import Database


@pytest.fixture(autouse=True)
def fast_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in FAST.items():
        monkeypatch.setenv(f"UVQC_{key.upper()}", str(value))
    monkeypatch.chdir(tmp_path)


def three(tmp_path: Path, name: str = "day.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(b"\n".join([result("P-1"), result("F-1", 3.5), b"not json"]) + b"\n")
    return path


def summary(out: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│") if c.strip()]
        if len(cells) == 2 and cells[1].isdigit():
            counts[cells[0]] = int(cells[1])
    return counts


def records(db: Path) -> list[tuple[str, str | None, str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT sample_id, source, verdict FROM results ORDER BY source")
        return [(r[0], r[1], r[2]) for r in rows]


def test_a_rerun_after_submit_skips_what_was_submitted_and_records_each_result_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, data = tmp_path / "u.db", three(tmp_path)
    assert main(["submit", str(data), "--db", str(db)]) == 0
    assert "submitted 3 message(s)" in capsys.readouterr().out
    assert main(["submit", str(data), "--db", str(db)]) == 0
    assert "submitted 0 message(s), 3 already submitted, skipped" in capsys.readouterr().out

    assert main(["run", str(data), "--db", str(db)]) == 0
    counts = summary(capsys.readouterr().out)
    assert counts["already submitted, skipped"] == 3
    assert counts["from earlier submissions"] == 3
    assert counts["received"] == 0  # this run submitted nothing new
    assert records(db) == [
        ("P-1", f"{data}:1", "pass"),
        ("F-1", f"{data}:2", "flag"),
        (None, f"{data}:3", "reject"),
    ]


def test_run_counts_only_its_own_results_not_those_already_waiting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Observed: `received 6` for 3 piped results, when 3 others were waiting."""
    db = tmp_path / "u.db"
    assert main(["submit", str(three(tmp_path, "earlier.jsonl")), "--db", str(db)]) == 0
    piped = b"\n".join(result(f"N-{n}") for n in range(3)) + b"\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(piped)))
    capsys.readouterr()
    assert main(["run", "-", "--db", str(db)]) == 0
    counts = summary(capsys.readouterr().out)
    assert (counts["received"], counts["passed"], counts["from earlier submissions"]) == (3, 3, 3)
    assert [s for _, s, _ in records(db) if s and s.startswith("<stdin>")] == [
        "<stdin>:1",
        "<stdin>:2",
        "<stdin>:3",
    ]


def test_a_file_an_instrument_appends_to_sends_only_its_new_lines_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, data = tmp_path / "u.db", three(tmp_path)
    assert main(["submit", str(data), "--db", str(db)]) == 0
    data.write_bytes(data.read_bytes() + result("P-4") + b"\n")
    assert main(["submit", str(data), "--db", str(db)]) == 0
    assert "submitted 1 message(s), 3 already submitted, skipped" in capsys.readouterr().out


def test_the_same_content_piped_twice_is_recognised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "u.db"
    for _ in range(2):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(result("S-1") + b"\n")))
        assert main(["submit", "-", "--db", str(db)]) == 0
    assert "1 already submitted, skipped" in capsys.readouterr().out


def test_lines_keep_their_exact_numbers_across_chunks(tmp_path: Path) -> None:
    """Observed on SQS: lines were numbered per 5,000-line chunk. Line 5,002 is line 5,002."""
    path = tmp_path / "big.jsonl"
    lines = [result(f"S-{n}") for n in range(1, 5004)]
    lines[5001] = b"\xff broken"
    path.write_bytes(b"\n".join(lines) + b"\n")
    db = tmp_path / "u.db"
    assert main(["run", str(path), "--db", str(db)]) == 0
    rejects = [(s, v) for _, s, v in records(db) if v == "reject"]
    assert rejects == [(f"{path}:5002", "reject")]
    with sqlite3.connect(db) as conn:
        (n,) = conn.execute("SELECT COUNT(*) FROM results").fetchone()
    assert n == 5003


def test_submission_ids_depend_on_content_and_position_not_on_the_path(tmp_path: Path) -> None:
    a, b = three(tmp_path, "a.jsonl"), three(tmp_path, "b.jsonl")
    ids_a = [s.submission_id for s in iter_submissions([str(a)])]
    ids_b = [s.submission_id for s in iter_submissions([str(b)])]
    assert ids_a == ids_b and len(set(ids_a)) == 3
    # An instrument appends to its file: the earlier lines keep their identities.
    a.write_bytes(a.read_bytes() + result("X") + b"\n")
    appended = [s.submission_id for s in iter_submissions([str(a)])]
    assert appended[:3] == ids_a and appended[3] not in ids_a
    # A line changed: it and every line after it are new submissions.
    a.write_bytes(a.read_bytes().replace(b"F-1", b"F-9"))
    changed = [s.submission_id for s in iter_submissions([str(a)])]
    assert changed[0] == ids_a[0] and not set(changed[1:]) & set(appended)
    array = tmp_path / "arr.json"
    array.write_text(json.dumps([{"sampleId": "A", "absorbance": 0.1}] * 2))
    assert [s.source for s in iter_submissions([str(array)])] == [f"{array}[1]", f"{array}[2]"]


def test_kill_9_of_run_then_the_same_command_again_records_every_result_once(
    tmp_path: Path,
) -> None:
    """Observed: 60,000 records for 30,000 results after kill -9 and a re-run."""
    n = 3000
    data = tmp_path / "day.jsonl"
    data.write_bytes(b"\n".join(result(f"K-{i}", 3.5 if i % 10 == 0 else 0.5) for i in range(n)))
    db = tmp_path / "u.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("UVQC_")}
    env.update({f"UVQC_{k.upper()}": str(v) for k, v in FAST.items()})
    env.update(UVQC_DB=str(db), UVQC_OUTBOX=str(tmp_path / "outbox"), UVQC_LOG_LEVEL="ERROR")
    cmd = [sys.executable, "-m", "uvqc", "run", str(data)]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with sqlite3.connect(db, timeout=5) as conn:
                if conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] > 0:
                    break
        except sqlite3.OperationalError:
            pass  # not created or migrated yet
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    again = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert summary(again.stdout)["already submitted, skipped"] == n
    with Database.open(db) as database:
        assert sum(database.store.counts().values()) == n
        assert database.intake.stats().pending == 0
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == n // 10
