"""Issue 8 as a user meets it on the embedded runtime: one e-mail per distinct result (case 1),
no silent channel change (case 2), an e-mail that says which cuvette, which run and how to
trace it (case 8), and `uvqc trace` by sample, record, notification key or Message-ID."""

from __future__ import annotations

import email
import email.policy
import json
import re
from pathlib import Path

import pytest

from tests.embedded.conftest import FAST
from tests.support.relay import FaultyRelay, free_port
from uvqc.cli import main

CASE_1 = [
    b'{"sampleId":"W-9","absorbance":"abc"}',
    b'{"sampleId":"W-9","absorbance":0.3,"sampleType":"standard"}',
    b'{"sampleId":"W-9","absorbance":0.3,"measuredAt":"yesterday"}',
    b'{"sampleId":"BLANK","absorbance":-0.02,"sampleType":"blank","batchId":"2026-11-27-01"}',
    b'{"sampleId":"BLANK","absorbance":-0.02,"sampleType":"blank","batchId":"2026-11-28-01"}',
]


@pytest.fixture(autouse=True)
def fast_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in FAST.items():
        monkeypatch.setenv(f"UVQC_{key.upper()}", str(value))
    monkeypatch.chdir(tmp_path)  # no uvqc.toml from the repository; ./var is the test's own


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def counts(out: str) -> dict[str, int]:
    found = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if len(cells) == 2 and cells[1].isdigit():
            found[cells[0]] = int(cells[1])
    return found


def emails(outbox: Path) -> list[email.message.EmailMessage]:
    parse = email.message_from_bytes
    return [
        parse(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(outbox.glob("*.eml"))
    ]


def test_case_1_five_distinct_results_give_five_emails_and_a_rerun_only_duplicates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, db, outbox = write(tmp_path / "x.jsonl", CASE_1), tmp_path / "u.db", tmp_path / "out"
    main(["run", str(data), "--db", str(db), "--outbox", str(outbox)])
    first = counts(capsys.readouterr().out)
    assert first["notified"] == 5  # old main: notified 2, already notified (duplicates) 3
    assert first["already notified (duplicates)"] == 0
    assert len(emails(outbox)) == 5

    # The same file again: recognised at submission (file content + line), nothing queued.
    main(["run", str(data), "--db", str(db), "--outbox", str(outbox)])
    second = counts(capsys.readouterr().out)
    assert (second["notified"], second["already submitted, skipped"]) == (0, 5)
    # The same results in another file (another submission), within the deduplication
    # window: the same results, no new e-mail; the summary's duplicate count says so.
    again = write(tmp_path / "y.jsonl", list(reversed(CASE_1)))
    main(["run", str(again), "--db", str(db), "--outbox", str(outbox)])
    third = counts(capsys.readouterr().out)
    assert (third["notified"], third["already notified (duplicates)"]) == (0, 5)
    assert len(emails(outbox)) == 5


def test_the_same_content_with_other_key_order_and_spacing_is_the_same_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        b'{"sampleId":"S-1","absorbance":3.5,"batchId":"B-1"}',
        b'{ "batchId" : "B-1",  "absorbance" : 3.50, "sampleId" : "S-1" }',
    ]
    data, db = write(tmp_path / "d.jsonl", lines), tmp_path / "u.db"
    main(["run", str(data), "--db", str(db), "--outbox", str(tmp_path / "out")])
    summary = counts(capsys.readouterr().out)
    assert (summary["notified"], summary["already notified (duplicates)"]) == (1, 1)


def test_trace_shows_which_email_covered_which_record_by_any_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [CASE_1[1], CASE_1[1], CASE_1[0]]  # a duplicate submission, and another reject
    data, db, outbox = write(tmp_path / "d.jsonl", lines), tmp_path / "u.db", tmp_path / "out"
    main(["run", str(data), "--db", str(db), "--outbox", str(outbox)])
    capsys.readouterr()

    assert main(["trace", "W-9", "--db", str(db), "--format", "json"]) == 0
    story = json.loads(capsys.readouterr().out)
    assert story["kind"] == "sample"
    assert len(story["results"]) == 3
    assert len(story["notifications"]) == 2
    covered = [r["coveredBy"] for r in story["results"]]
    assert sorted(c["duplicate"] for c in covered) == [False, False, True]
    dup = next(r for r in story["results"] if r["coveredBy"]["duplicate"])
    first = dup["coveredBy"]["sentForRecord"]
    assert first != dup["recordId"]
    note = next(n for n in story["notifications"] if n["key"] == dup["notificationKey"])
    assert sorted(note["coversRecords"]) == sorted([first, dup["recordId"]])
    assert note["channel"].startswith(f"file {outbox.resolve()}/uvqc.")
    assert note["channel"].endswith(".eml to lab@localhost")
    assert note["attempts"][0]["channel"] == note["channel"]

    # Text: the duplicate points at the e-mail that covered it, and where it went.
    assert main(["trace", dup["recordId"], "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"Record {dup['recordId']}: 1 result(s)")
    assert f"covered by the e-mail for record {first}" in text
    assert f"went to    file {outbox.resolve()}" in text

    # By notification key and by Message-ID (with and without <>), as printed in the e-mail.
    msg = next(m for m in emails(outbox) if m["X-UVQC-Notification-Key"] == note["key"])
    body = msg.get_content()
    key_line = re.search(r"Notification key: (\w+)", body)
    assert key_line is not None and key_line.group(1) == note["key"]
    for query in (note["key"], msg["Message-ID"], msg["Message-ID"].strip("<>")):
        assert main(["trace", query, "--db", str(db), "--format", "json"]) == 0
        by_key = json.loads(capsys.readouterr().out)
        assert by_key["kind"] == "notification"
        assert [n["key"] for n in by_key["notifications"]] == [note["key"]]
        assert len(by_key["results"]) == 2


def test_case_8_the_email_names_batch_instrument_time_type_source_and_the_trace_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = json.dumps(
        {
            "sampleId": "W-17",
            "absorbance": 2.4,
            "batchId": "2026-11-28-03",
            "instrumentId": "cary60-01",
            "measuredAt": "2026-11-28T09:14:03Z",
            "sampleType": "sample",
            "source": {"file": "exports/run3.csv", "line": 14, "column": 2},
        }
    ).encode()
    unreadable = b'{"sampleId": 7, "source": {"file": "exports/run3.csv", "line": 15}}'
    data, db, outbox = (
        write(tmp_path / "d.jsonl", [line, unreadable]),
        tmp_path / "lab.db",
        tmp_path / "o",
    )
    main(["run", str(data), "--db", str(db), "--outbox", str(outbox)])
    capsys.readouterr()
    flagged, rejected = sorted(emails(outbox), key=lambda m: str(m["Subject"]))
    body = flagged.get_content()
    for expected in (
        "Batch:        2026-11-28-03",
        "Instrument:   cary60-01",
        "Measured at:  2026-11-28T09:14:03Z",
        "Sample type:  sample",
        "Source:       exports/run3.csv:14:2",
        "What to do:",
        f"Full story: uvqc trace {flagged['X-UVQC-Notification-Key']} --db {db}",
    ):
        assert expected in body
    assert flagged["X-UVQC-Sample-Id"] == "W-17"

    # A result without a readable sample ID: no X-UVQC-Sample-Id; the subject names the source.
    assert rejected["X-UVQC-Sample-Id"] is None
    assert rejected["Subject"] == (
        "Rejected result without a readable sample ID, from exports/run3.csv:15"
    )
    # The trace command printed in the e-mail works as printed.
    command = re.search(r"Full story: uvqc trace (\S+) --db (\S+)", rejected.get_content())
    assert command is not None
    assert main(["trace", command.group(1), "--db", command.group(2)]) == 0
    assert "source     exports/run3.csv:15" in capsys.readouterr().out


def test_the_default_database_gives_a_trace_command_without_db(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write(tmp_path / "d.jsonl", [CASE_1[0]])
    main(["run", str(data), "--outbox", str(tmp_path / "o")])
    capsys.readouterr()
    (msg,) = emails(tmp_path / "o")
    lines = msg.get_content().splitlines()
    assert f"Full story: uvqc trace {msg['X-UVQC-Notification-Key']}" in lines


def test_case_2_work_after_a_redrive_refuses_another_channel_then_uses_the_same_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UVQC_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("UVQC_RETRY_BASE_SECONDS", "0.01")
    data, db = write(tmp_path / "x.jsonl", [CASE_1[0]]), tmp_path / "u.db"
    port = free_port()  # nobody listens: the relay is down
    smtp = f"127.0.0.1:{port}"
    assert main(["run", str(data), "--db", str(db), "--smtp", smtp]) == 1
    assert "1 notification(s) dead-lettered" in capsys.readouterr().err

    assert main(["dlq", "redrive", "--db", str(db)]) == 0
    assert f"configured for [smtp 127.0.0.1:{port}], the channel this database sends" in (
        capsys.readouterr().out
    )
    # The old recovery (docs/EMBEDDED.md): `uvqc work` without channel settings fell back to
    # the file channel and "notified" into ./var/outbox. Now it refuses, naming both.
    assert main(["work", "--db", str(db), "--until-idle"]) == 2
    err = capsys.readouterr().err
    assert f"smtp 127.0.0.1:{port}" in err
    assert f"file {(tmp_path / 'var' / 'outbox').resolve()}" in err
    assert "--switch-channel" in err
    assert not (tmp_path / "var" / "outbox").exists()

    # The relay is back (on the same port): the same channel, configured as any setting is
    # (here UVQC_*; --smtp works the same), delivers the redriven notification.
    with FaultyRelay(port=port) as relay:
        monkeypatch.setenv("UVQC_CHANNEL", "smtp")
        monkeypatch.setenv("UVQC_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("UVQC_SMTP_PORT", str(port))
        assert main(["work", "--db", str(db), "--until-idle"]) == 0
        assert "1 notified" in capsys.readouterr().out
        assert [m.sample_id for m in relay.messages()] == ["W-9"]
    assert not (tmp_path / "var" / "outbox").exists()
    assert main(["trace", "W-9", "--db", str(db)]) == 0
    assert f"via smtp 127.0.0.1:{port} to lab@localhost" in capsys.readouterr().out


def test_switch_channel_moves_a_database_to_another_channel_on_purpose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "u.db"
    main(["run", str(write(tmp_path / "a.jsonl", [CASE_1[0]])), "--db", str(db), "--outbox", "a"])
    capsys.readouterr()
    data = write(tmp_path / "b.jsonl", [CASE_1[1]])
    assert main(["run", str(data), "--db", str(db), "--outbox", "b"]) == 2
    assert "--switch-channel" in capsys.readouterr().err
    assert main(["run", str(data), "--db", str(db), "--outbox", "b", "--switch-channel"]) == 0
    assert len(list((tmp_path / "b").glob("*.eml"))) == 1
    assert main(["work", "--db", str(db), "--until-idle", "--outbox", "b"]) == 0


def test_work_accepts_the_same_channel_flags_as_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["work", "--db", "u.db", "--outbox", "o", "--smtp", "h:25"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert main(["work", "--db", "u.db", "--smtp", "nohostport"]) == 2


def test_a_version_1_database_is_migrated_and_its_records_still_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    from uvqc.adapters.sqlite.db import _MIGRATIONS, SCHEMA_VERSION

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript(_MIGRATIONS[1] + "; PRAGMA user_version=1;")
    conn.execute(
        "INSERT INTO results (record_id, sample_id, verdict, findings, method, raw, received_at, "
        "checked_at, notification_key) VALUES ('r1', 'OLD-1', 'flag', '[]', 'default', '{}', "
        "'2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z', 'k-old')"
    )
    conn.commit()
    conn.close()
    assert main(["trace", "OLD-1", "--db", str(db)]) == 2  # read commands never migrate
    assert "uvqc db migrate" in capsys.readouterr().err
    assert main(["db", "migrate", "--db", str(db)]) == 0
    assert main(["trace", "OLD-1", "--db", str(db)]) == 0
    assert "notification k-old: queued, not attempted yet" in capsys.readouterr().out
    (version,) = sqlite3.connect(db).execute("PRAGMA user_version").fetchone()
    assert version == SCHEMA_VERSION


def test_a_database_is_bound_by_its_first_email_not_by_a_run_that_sent_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], relay: FaultyRelay
) -> None:
    db = tmp_path / "u.db"
    passing = write(tmp_path / "p.jsonl", [b'{"sampleId": "P-1", "absorbance": 0.4}'])
    assert main(["submit", str(passing), "--db", str(db)]) == 0
    assert main(["work", "--db", str(db), "--until-idle"]) == 0  # default channel, no e-mail
    smtp = f"{relay.host}:{relay.port}"
    assert (
        main(
            ["run", str(write(tmp_path / "f.jsonl", [CASE_1[0]])), "--db", str(db), "--smtp", smtp]
        )
        == 0
    )
    assert [m.sample_id for m in relay.messages()] == ["W-9"]
    capsys.readouterr()
    assert main(["work", "--db", str(db), "--until-idle"]) == 2  # now it is bound to smtp
    assert f"[smtp {smtp}]" in capsys.readouterr().err
