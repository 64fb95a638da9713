"""Issue 9 case 9: the database a user actually has. Read commands open read-only and never
write; a missing, empty, foreign, newer, older or corrupt file is a clear error (exit 2);
schema versions are migrated explicitly (writing commands, or `uvqc db migrate`)."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from pathlib import Path

import pytest

from tests.embedded.conftest import FAST, result
from tests.support.relay import FaultyRelay
from uvqc.adapters.sqlite.db import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    connect,
    connect_readonly,
)
from uvqc.cli import main
from uvqc.errors import DatabaseFileError

READ_COMMANDS = [["trace", "S-1"], ["dlq", "list"], ["dlq", "show", "0123"]]
WRITE_COMMANDS = [["submit", "day.jsonl"], ["work", "--until-idle"], ["db", "migrate"]]


@pytest.fixture(autouse=True)
def fast_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in FAST.items():
        monkeypatch.setenv(f"UVQC_{key.upper()}", str(value))
    monkeypatch.chdir(tmp_path)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def results(tmp_path: Path) -> Path:
    path = tmp_path / "day.jsonl"
    path.write_bytes(result("S-1") + b"\n" + result("F-1", 3.5) + b"\n")
    return path


def a_uvqc_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    db = tmp_path / "u.db"
    assert main(["run", str(results(tmp_path)), "--db", str(db), "--outbox", "out"]) == 0
    capsys.readouterr()
    return db


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_a_read_command_on_a_mistyped_path_creates_nothing_and_exits_2(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo" / "uvqc.db"
    assert main([*command, "--db", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"no database at {missing}" in err and "--db" in err
    assert not missing.parent.exists()


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_a_read_command_leaves_an_empty_file_empty(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    assert main([*command, "--db", str(empty)]) == 2
    assert "is an empty database" in capsys.readouterr().err
    assert empty.stat().st_size == 0  # observed: `trace` initialised a schema in it


def foreign(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    conn.execute("INSERT INTO moz_places (url) VALUES ('https://example.org')")
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize(
    "command",
    [*READ_COMMANDS, ["submit", "day.jsonl"], ["work", "--until-idle"], ["db", "migrate"]],
)
def test_another_applications_sqlite_file_is_refused_untouched(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results(tmp_path)
    db = foreign(tmp_path / "places.sqlite")
    before = digest(db)
    assert main([*command, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "another application's SQLite database (tables: moz_places)" in err
    assert "Traceback" not in err
    assert digest(db) == before


def test_a_file_with_another_application_id_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE messages (x)")
    conn.commit()
    conn.close()
    for command in [["trace", "S-1"], ["submit", str(results(tmp_path))]]:
        assert main([*command, "--db", str(db)]) == 2
        assert "belongs to another application (SQLite application_id 0x4d2" in (
            capsys.readouterr().err
        )


def test_a_uvqc_file_is_marked_with_the_application_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = a_uvqc_database(tmp_path, capsys)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


@pytest.mark.parametrize(
    "command", [*READ_COMMANDS, ["submit", "day.jsonl"], ["run", "day.jsonl"], ["db", "migrate"]]
)
def test_a_database_of_a_newer_uvqc_is_refused(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = a_uvqc_database(tmp_path, capsys)
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = digest(db)
    assert main([*command, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    newer = SCHEMA_VERSION + 1
    assert f"newer uvqc (schema {newer}; this uvqc knows schemas up to {SCHEMA_VERSION})" in err
    assert digest(db) == before


@pytest.mark.parametrize(
    "command",
    [*READ_COMMANDS, ["submit", "day.jsonl"], ["work", "--until-idle"], ["db", "migrate"]],
)
def test_a_corrupt_file_is_a_clear_error(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results(tmp_path)
    db = tmp_path / "u.db"
    db.write_bytes(b"this is not a database " * 500)
    assert main([*command, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert f"{db} is not a SQLite database, or it is corrupt" in err
    assert "Traceback" not in err


def test_read_commands_never_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = a_uvqc_database(tmp_path, capsys)
    before = digest(db)
    assert main(["trace", "F-1", "--db", str(db)]) == 0
    assert main(["dlq", "list", "--db", str(db)]) == 0
    assert main(["trace", "NOPE", "--db", str(db)]) == 1
    assert digest(db) == before
    conn = connect_readonly(db)
    with pytest.raises(sqlite3.OperationalError, match="readonly database"):
        conn.execute("DELETE FROM results")
    conn.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only files anyway")
def test_read_commands_work_on_a_read_only_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = a_uvqc_database(tmp_path, capsys)
    db.chmod(0o444)
    try:
        assert main(["trace", "F-1", "--db", str(db)]) == 0
        assert main(["dlq", "list", "--db", str(db)]) == 0
    finally:
        db.chmod(0o644)


def an_old_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A database as the first uvqc release left it: schema 1, no application_id."""
    from uvqc.adapters.sqlite.db import _MIGRATIONS

    db = tmp_path / "u.db"
    conn = sqlite3.connect(db)
    conn.executescript(_MIGRATIONS[1] + "; PRAGMA user_version = 1;")
    conn.execute(
        "INSERT INTO results (record_id, sample_id, verdict, findings, method, raw, received_at, "
        "checked_at) VALUES ('r1', 'F-1', 'pass', '[]', 'default', '{}', "
        "'2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z')"
    )
    conn.commit()
    conn.close()
    return db


def test_an_older_schema_is_migrated_explicitly_by_uvqc_db_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = an_old_database(tmp_path, capsys)
    assert main(["trace", "F-1", "--db", str(db)]) == 2
    assert f"run `uvqc db migrate --db {db}` first" in capsys.readouterr().err
    assert main(["db", "migrate", "--db", str(db)]) == 0
    assert f"{db}: migrated from schema 1 to {SCHEMA_VERSION}" in capsys.readouterr().out
    assert main(["db", "migrate", "--db", str(db)]) == 0
    assert "nothing to migrate" in capsys.readouterr().out
    assert main(["trace", "F-1", "--db", str(db)]) == 0


def test_a_writing_command_migrates_an_older_schema_and_logs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    db = an_old_database(tmp_path, capsys)
    with caplog.at_level(logging.WARNING, logger="uvqc.adapters.sqlite"):
        connect(db).close()
    assert f"migrating database {db} from schema 1 to {SCHEMA_VERSION}" in caplog.text
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
    conn.close()


def test_uvqc_db_migrate_does_not_create_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "migrate", "--db", str(tmp_path / "nope.db")]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()
    with pytest.raises(DatabaseFileError):
        connect(tmp_path / "nope.db", create=False)


def test_redrive_does_not_create_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "redrive", "--db", str(tmp_path / "nope.db")]) == 2
    assert not (tmp_path / "nope.db").exists()


def test_hints_name_the_database_they_need(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = a_uvqc_database(tmp_path, capsys)
    assert main(["trace", "NOPE", "--db", str(db)]) == 1
    assert f"no result or notification for 'NOPE' in {db}" in capsys.readouterr().err


def test_run_and_trace_hints_carry_the_db_they_need(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], relay: FaultyRelay
) -> None:
    db = tmp_path / "elsewhere.db"
    relay.reject_sample = "F-1"
    smtp = f"{relay.host}:{relay.port}"
    assert main(["run", str(results(tmp_path)), "--db", str(db), "--smtp", smtp]) == 1
    assert f"see `uvqc dlq list --db {db}`" in capsys.readouterr().err
    assert main(["trace", "F-1", "--db", str(db)]) == 0
    story = capsys.readouterr().out
    assert f"DEAD-LETTERED (see `uvqc dlq list --db {db}`; `uvqc dlq redrive --db {db}`" in story
