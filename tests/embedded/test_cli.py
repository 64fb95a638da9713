"""The pipeline commands as a user runs them: run, trace, dlq, submit + work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.embedded.conftest import FAST, result
from tests.support.relay import FaultyRelay
from uvqc.cli import main


@pytest.fixture(autouse=True)
def fast_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in FAST.items():
        monkeypatch.setenv(f"UVQC_{key.upper()}", str(value))
    monkeypatch.chdir(tmp_path)  # no uvqc.toml from the repository


def results_file(tmp_path: Path) -> Path:
    path = tmp_path / "day.jsonl"
    lines = [result("P-1"), result("F-1", 3.5), result("F-2", 4.0), b'{"sampleId": "R-1"']
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_run_checks_records_and_writes_each_email_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, outbox, data = tmp_path / "u.db", tmp_path / "outbox", results_file(tmp_path)
    assert main(["run", str(data), "--db", str(db), "--outbox", str(outbox)]) == 0
    out = capsys.readouterr().out
    for label, count in [("received", 4), ("passed", 1), ("flagged", 2), ("notified", 3)]:
        assert any(label in line and line.split()[-2] == str(count) for line in out.splitlines())
    emails = sorted(outbox.glob("*.eml"))
    assert len(emails) == 3
    subjects = {p.read_text().split("Subject: ")[1].splitlines()[0] for p in emails}
    assert "Data Quality Issue for F-1" in subjects

    assert main(["run", str(data), "--db", str(db), "--outbox", str(outbox)]) == 0  # again
    assert len(sorted(outbox.glob("*.eml"))) == 3  # nothing sent twice


def test_trace_tells_the_story_of_a_sample_and_fails_for_an_unknown_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], relay: FaultyRelay
) -> None:
    db = tmp_path / "u.db"
    relay.reject_sample = "F-1"
    smtp = f"{relay.host}:{relay.port}"
    assert main(["run", str(results_file(tmp_path)), "--db", str(db), "--smtp", smtp]) == 1
    capsys.readouterr()

    assert main(["trace", "F-1", "--db", str(db)]) == 0
    story = capsys.readouterr().out
    assert "verdict    FLAG" in story and "DEAD-LETTERED" in story and "550 5.7.1" in story

    assert main(["trace", "F-1", "--db", str(db), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["notifications"][0]["attempts"][0]["outcome"] == "permanent"
    record_id = data["results"][0]["recordId"]
    assert main(["trace", record_id, "--db", str(db)]) == 0  # by record id too
    assert "F-1" in capsys.readouterr().out

    assert main(["trace", "NOPE", "--db", str(db)]) == 1
    assert "no result or notification for 'NOPE'" in capsys.readouterr().err


def test_dlq_list_show_redrive_then_work_delivers(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    relay: FaultyRelay,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "u.db"
    relay.reject_sample = "F-2"
    smtp = f"{relay.host}:{relay.port}"
    main(["run", str(results_file(tmp_path)), "--db", str(db), "--smtp", smtp])
    capsys.readouterr()
    assert main(["dlq", "list", "--db", str(db)]) == 0
    listing = capsys.readouterr().out
    assert "sample F-2" in listing and "permanent failure" in listing
    message_id = listing.split()[0]
    assert main(["dlq", "show", message_id, "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["sampleId"] == "F-2"

    relay.reject_sample = None
    assert main(["dlq", "redrive", "--db", str(db)]) == 0
    assert "redrove 1 message(s)" in capsys.readouterr().out
    monkeypatch.setenv("UVQC_CHANNEL", "smtp")
    monkeypatch.setenv("UVQC_SMTP_HOST", relay.host)
    monkeypatch.setenv("UVQC_SMTP_PORT", str(relay.port))
    assert main(["work", "--db", str(db), "--until-idle"]) == 0
    assert [m.sample_id for m in relay.messages()].count("F-2") == 1


def test_submit_then_work_until_idle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "u.db"
    assert main(["submit", str(results_file(tmp_path)), "--db", str(db)]) == 0
    assert "submitted 4 message(s)" in capsys.readouterr().out
    assert main(["work", "--db", str(db), "--until-idle"]) == 0
    assert "4 checked, 3 notified" in capsys.readouterr().out


def test_bytes_that_are_not_utf8_are_recorded_rejected_and_reported_not_crashed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "garbled.jsonl"
    data.write_bytes(result("P-1") + b"\n" + b'{"sampleId": "G-\xff\xfe", "absorbance": 0.4}\n')
    db, outbox = tmp_path / "u.db", tmp_path / "outbox"
    assert main(["run", str(data), "--db", str(db), "--outbox", str(outbox)]) == 0
    out = capsys.readouterr().out
    assert any("rejected" in line and line.split()[-2] == "1" for line in out.splitlines())
    emails = [p.read_text() for p in outbox.glob("*.eml")]
    assert len(emails) == 1
    assert "Rejected result without a readable sample ID" in emails[0]
    assert "G-\\xff\\xfe" in emails[0]  # the raw bytes, escaped, in the payload excerpt
