"""Issue 9 case 12: CLI manners - documented commands work, help is clean, exit codes mean
what the docs say (closed pipe, Ctrl-C), IPv6 relays, settings errors named by source."""

from __future__ import annotations

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
from uvqc.cli import EXIT_CLOSED_PIPE, EXIT_INTERRUPTED, main
from uvqc.cli.pipeline import parse_smtp
from uvqc.errors import UsageError

COMMANDS = [
    [],
    ["check"],
    ["schema"],
    ["methods"],
    ["methods", "validate"],
    ["methods", "list"],
    ["submit"],
    ["work"],
    ["run"],
    ["trace"],
    ["dlq"],
    ["dlq", "list"],
    ["dlq", "show"],
    ["dlq", "redrive"],
    ["db", "migrate"],
]


def uvqc(*args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, **{f"UVQC_{k.upper()}": str(v) for k, v in FAST.items()}}
    return subprocess.Popen([sys.executable, "-m", "uvqc", *args], env=env, **kwargs)  # type: ignore[call-overload]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "uvqc")
def test_help_shows_conventional_metavars(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out
    for python_type in ("<bool>", "<list[", "<str>", "<path>", "<int", "{"):
        assert python_type not in text, (python_type, text)


def test_trace_help_names_its_argument_in_capitals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "--help"]) == 0
    assert "Usage: uvqc trace [OPTIONS] SAMPLE_ID" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost:1025", ("localhost", 1025)),
        ("[::1]:25", ("::1", 25)),
        ("[2001:db8::5]:587", ("2001:db8::5", 587)),
        ("10.0.0.1:25", ("10.0.0.1", 25)),
    ],
)
def test_smtp_relays_are_parsed_with_ipv6_literals(value: str, expected: tuple[str, int]) -> None:
    assert parse_smtp(value) == expected


@pytest.mark.parametrize("value", ["::1:25", "[::1]", "localhost", "[]:25", "host:0", "h:70000"])
def test_bad_smtp_relays_are_usage_errors(value: str) -> None:
    with pytest.raises(UsageError, match="expected HOST:PORT"):
        parse_smtp(value)


def test_dlq_list_and_show_take_the_documented_queue_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "u.db"
    data = tmp_path / "d.jsonl"
    data.write_bytes(result("P-1") + b"\n")
    assert main(["submit", str(data), "--db", str(db)]) == 0
    conn = sqlite3.connect(db)  # dead-letter it the way the queue does
    conn.execute(
        "UPDATE messages SET queue = 'intake-dlq', source_queue = 'intake', "
        "dead_reason = 'received 10 times without success', dead_at = 1"
    )
    conn.commit()
    conn.close()
    capsys.readouterr()
    assert main(["dlq", "list", "--queue", "intake", "--db", str(db)]) == 0
    listing = capsys.readouterr().out
    assert "sample P-1" in listing
    message_id = listing.split()[0]
    assert main(["dlq", "list", "--queue", "notify", "--db", str(db)]) == 0
    assert "no dead letters" in capsys.readouterr().out
    assert main(["dlq", "show", message_id, "--queue", "intake", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["sampleId"] == "P-1"
    assert main(["dlq", "show", message_id, "--queue", "notify", "--db", str(db)]) == 1
    assert "no dead letter" in capsys.readouterr().err
    assert main(["dlq", "list", "--queue", "bogus", "--db", str(db)]) == 2
    assert main(["dlq", "redrive", "--queue", "intake", "--db", str(db)]) == 0
    assert f"redrove 1 message(s): process them with `uvqc work --db {db} --until-idle`" in (
        capsys.readouterr().out
    )


def many_results(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "many.jsonl"
    path.write_bytes(b"\n".join(result(f"S-{i}", 0.3) for i in range(n)) + b"\n")
    return path


def test_a_closed_pipe_is_not_reported_as_flagged(tmp_path: Path) -> None:
    # observed: `uvqc check f | head` exited 1, which means "flagged"
    proc = uvqc(
        "check", str(many_results(tmp_path, 20_000)), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"PASS")
    proc.stdout.close()
    assert proc.wait(60) == EXIT_CLOSED_PIPE == 141
    assert proc.stderr.read() == b""  # quietly


def test_ctrl_c_on_run_says_what_was_done_and_how_to_resume(tmp_path: Path) -> None:
    # observed: exit 130 and not a word
    db = tmp_path / "u.db"
    data = many_results(tmp_path, 60_000)
    proc = uvqc(
        "run",
        str(data),
        "--db",
        str(db),
        "--outbox",
        str(tmp_path / "out"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not db.exists():  # interrupt once it has started
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the interrupt arrived")
    assert proc.returncode == EXIT_INTERRUPTED == 130
    text = err.decode()
    assert "interrupted" in text
    assert f"Everything submitted is safe in {db}: finish it with" in text
    assert f"`uvqc work --db {db} --until-idle`" in text
    # nothing was lost: finishing the work records every submitted result exactly once
    assert main(["work", "--db", str(db), "--until-idle"]) == 0
    conn = sqlite3.connect(db)
    (submitted,) = conn.execute("SELECT COUNT(*) FROM results").fetchone()
    (left,) = conn.execute("SELECT COUNT(*) FROM messages WHERE queue = 'intake'").fetchone()
    conn.close()
    assert left == 0 and submitted > 0


def test_a_bad_mail_to_in_uvqc_toml_does_not_block_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "uvqc.toml").write_text('mail_to = "not an address"\n')
    data = tmp_path / "d.jsonl"
    data.write_bytes(result("P-1") + b"\n")
    assert main(["check", str(data)]) == 0
    capsys.readouterr()
    assert main(["submit", str(data), "--db", str(tmp_path / "u.db")]) == 2
    assert "uvqc.toml: key 'mail_to': Value error, 'not an address' is not an RFC 5322 address" in (
        capsys.readouterr().err
    )


def test_a_typo_in_uvqc_toml_is_reported_as_a_key_of_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "uvqc.toml").write_text('smtp_hots = "relay"\n')
    assert main(["work", "--until-idle"]) == 2
    err = capsys.readouterr().err
    assert "uvqc.toml: key 'smtp_hots' is not a uvqc setting (did you mean 'smtp_host'?)" in err
    assert "UVQC_" not in err
