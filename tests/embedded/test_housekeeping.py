"""Housekeeping of the embedded database: export, prune, the ledger sweep, auto_vacuum."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.embedded.conftest import FAST, result
from uvqc.adapters.sqlite import housekeeping
from uvqc.adapters.sqlite.db import SCHEMA_VERSION, connect
from uvqc.adapters.sqlite.store import SqliteStore
from uvqc.cli import main
from uvqc.core.verdicts import Verdict
from uvqc.errors import UsageError
from uvqc.housekeeping.export import COLUMNS, parse_bound, record_row, write_records
from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker
from uvqc.pipeline.records import ResultRecord, iso


@pytest.fixture(autouse=True)
def fast_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in FAST.items():
        monkeypatch.setenv(f"UVQC_{key.upper()}", str(value))
    monkeypatch.chdir(tmp_path)


def day_file(tmp_path: Path, name: str = "day.jsonl") -> Path:
    path = tmp_path / name
    # Another day's file holds other readings (the same bytes again would be recognised as
    # a re-submission and skipped).
    lines = [
        json.dumps({"sampleId": "Zürichsee Süd 4", "absorbance": 0.4, "file": name}).encode(),
        result("F-1", 3.5),
        b'{"sampleId": "R-1", "absorb',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def run_day(tmp_path: Path, db: Path, name: str = "day.jsonl") -> None:
    outbox = tmp_path / "outbox"
    assert (
        main(["run", str(day_file(tmp_path, name)), "--db", str(db), "--outbox", str(outbox)]) == 0
    )


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_export_writes_every_record_with_every_field_as_jsonl_and_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "u.db"
    run_day(tmp_path, db)
    capsys.readouterr()

    assert main(["export", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert len(lines) == 3 and list(lines[0]) == list(COLUMNS)
    by_sample = {line["sampleId"]: line for line in lines}
    assert by_sample["Zürichsee Süd 4"]["verdict"] == "pass"  # non-ASCII kept as is
    assert by_sample["F-1"]["findings"][0]["code"] == "dilution_required"
    assert sorted(line["verdict"] for line in lines) == ["flag", "pass", "reject"]
    assert "exported 3 record(s)" in captured.err

    out = tmp_path / "records.csv"
    assert main(["export", "--db", str(db), "--format", "csv", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert [r["recordId"] for r in rows] == [line["recordId"] for line in lines]
    flagged = next(r for r in rows if r["sampleId"] == "F-1")
    assert json.loads(flagged["findings"]) == by_sample["F-1"]["findings"]
    assert flagged["rawTruncated"] == "false"
    assert not out.with_name("records.csv.partial").exists()
    assert count(db, "SELECT COUNT(*) FROM exports") == 1  # stdout here is not a file: not counted


def test_export_by_date_range_and_clear_errors_for_bad_bounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "u.db"
    run_day(tmp_path, db)
    capsys.readouterr()
    assert main(["export", "--db", str(db), "--until", "2000-01-01"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["export", "--db", str(db), "--since", "2000-01-01T00:00:00Z"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3

    assert main(["export", "--db", str(db), "--since", "yesterday"]) == 2
    assert "--since 'yesterday': expected a date" in capsys.readouterr().err
    assert main(["export", "--db", str(db), "--since", "2030-01-02", "--until", "2030-01-01"]) == 2
    assert main(["export", "--db", str(tmp_path / "none.db")]) == 2
    assert "no database" in capsys.readouterr().err


def test_prune_refuses_records_never_exported_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "u.db"
    run_day(tmp_path, db)
    capsys.readouterr()

    assert main(["prune", "--before", "2999-01-01", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "3 record(s)" in err and "never exported; nothing was dropped" in err
    assert "uvqc export --until 2999-01-01" in err and "--force" in err
    assert count(db, "SELECT COUNT(*) FROM results") == 3

    out = tmp_path / "all.jsonl"
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    assert main(["prune", "--before", "2999-01-01", "--db", str(db)]) == 0
    assert "dropped 3 record(s)" in capsys.readouterr().out
    assert count(db, "SELECT COUNT(*) FROM results") == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3  # the evidence is kept

    run_day(tmp_path, db, "day2.jsonl")  # new records: not covered by the old export
    assert main(["prune", "--before", "2999-01-01", "--db", str(db)]) == 1
    assert main(["prune", "--before", "2999-01-01", "--db", str(db), "--force"]) == 0
    assert "3 of them never exported (--force)" in capsys.readouterr().out
    assert count(db, "SELECT COUNT(*) FROM results") == 0


def test_an_export_covers_nothing_a_waiting_intake_message_may_still_add(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A result accepted by the queue but not yet checked gets its record later, with the
    queue's time as received_at: an export made meanwhile must not vouch for that time."""
    db = tmp_path / "u.db"
    run_day(tmp_path, db)
    assert main(["submit", str(day_file(tmp_path, "late.jsonl")), "--db", str(db)]) == 0
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "x.jsonl")]) == 0
    # the channel this database was bound to by run_day
    outbox = str(tmp_path / "outbox")
    assert main(["work", "--db", str(db), "--until-idle", "--outbox", outbox]) == 0
    capsys.readouterr()
    assert count(db, "SELECT COUNT(*) FROM results") == 6

    assert main(["prune", "--before", "2999-01-01", "--db", str(db)]) == 1
    assert "3 record(s)" in capsys.readouterr().err  # the late ones only


def test_a_failed_export_covers_nothing(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    run_day(tmp_path, db)

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError("reader went away")

    conn = connect(db)
    with pytest.raises(BrokenPipeError):
        housekeeping.export_records(
            conn, SqliteStore(conn), Broken(), fmt="jsonl", since=None, until=None, destination="-"
        )
    assert housekeeping.exports(conn) == []
    assert not conn.in_transaction
    conn.close()


def _age_ledger(db: Path, days: float) -> None:
    old = iso(datetime.now(UTC) - timedelta(days=days))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE notifications SET created_at = ?, sent_at = ?", (old, old))


def test_sweep_removes_only_finished_ledger_rows_older_than_the_retention(
    tmp_path: Path, make_runtime: Callable[..., Runtime]
) -> None:
    db = tmp_path / "u.db"
    run_day(tmp_path, db)
    assert count(db, "SELECT COUNT(*) FROM notifications WHERE status = 'sent'") == 2
    rt = make_runtime(db=db)
    report = housekeeping.sweep(rt.db.work_conn)
    assert report.ledger_rows_removed == 0  # sent today: kept
    assert report.wal_truncated and Path(f"{db}-wal").stat().st_size == 0

    _age_ledger(db, 91)
    with sqlite3.connect(db) as conn:  # one still retrying: never removed, however old
        conn.execute("UPDATE notifications SET status = 'retrying' WHERE sample_id = 'F-1'")
    report = housekeeping.sweep(rt.db.work_conn)
    assert report.ledger_rows_removed == 1
    assert count(db, "SELECT COUNT(*) FROM notifications") == 1
    assert count(db, "SELECT COUNT(*) FROM results") == 3  # records are never swept


def test_the_worker_sweeps_at_start_and_then_on_its_schedule(
    tmp_path: Path, make_runtime: Callable[..., Runtime]
) -> None:
    db = tmp_path / "u.db"
    run_day(tmp_path, db)
    _age_ledger(db, 2)
    rt = make_runtime(db=db, ledger_retention_days=1, housekeeping_interval_minutes=60)
    worker = Worker(rt, stages=("check",))
    worker.step()
    assert count(db, "SELECT COUNT(*) FROM notifications") == 0
    assert worker.housekeeping_due is not None

    assert Worker(rt, stages=("notify",)).housekeeping_due is None  # one sweeper per run
    off = make_runtime(housekeeping_interval_minutes=0)
    assert Worker(off).housekeeping_due is None


def test_new_files_are_incremental_auto_vacuum_and_shrink_after_a_prune(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    conn = connect(db)
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    big = "x" * 2000
    conn.executemany(
        "INSERT INTO results (record_id, verdict, findings, raw, received_at, checked_at) "
        "VALUES (?, 'pass', '[]', ?, ?, ?)",
        [
            (f"r{i:05d}", big, "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z")
            for i in range(500)
        ],
    )
    grown = housekeeping.file_bytes(conn)
    report = housekeeping.prune_records(conn, "2027-01-01T00:00:00.000Z", force=True)
    assert report.removed == 500 and report.pages_freed > 200
    assert housekeeping.file_bytes(conn) < grown / 4
    conn.close()


def test_a_version_1_file_is_migrated_to_the_exports_table(tmp_path: Path) -> None:
    from uvqc.adapters.sqlite.db import _MIGRATIONS

    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(_MIGRATIONS[1] + "; PRAGMA user_version=1;")
    conn2 = connect(db)
    assert conn2.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert housekeeping.exports(conn2) == []
    conn2.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27", "2026-11-27T00:00:00.000Z"),
        ("2026-11-27T14:30", "2026-11-27T14:30:00.000Z"),
        ("2026-11-27T14:30:00+01:00", "2026-11-27T13:30:00.000Z"),
        ("2026-11-27T14:30:00Z", "2026-11-27T14:30:00.000Z"),
    ],
)
def test_bounds_are_dates_or_date_times_in_utc(text: str, expected: str) -> None:
    assert parse_bound(text, option="--since") == expected


def test_a_bad_bound_names_the_option() -> None:
    with pytest.raises(UsageError, match=r"--until '27\.11\.2026'"):
        parse_bound("27.11.2026", option="--until")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sample=st.text(min_size=1, max_size=60), raw=st.text(max_size=200))
def test_csv_and_jsonl_round_trip_any_text(sample: str, raw: str) -> None:
    from uvqc.housekeeping.export import spreadsheet_safe

    now = datetime(2026, 11, 29, tzinfo=UTC)
    record = ResultRecord(
        record_id="r1",
        sample_id=sample,
        verdict=Verdict.PASS,
        findings=(),
        method="default",
        raw=raw,
        received_at=now,
        checked_at=now,
    )
    expected = {k: ("" if v is None else v) for k, v in record_row(record).items()}
    buffer = io.StringIO(newline="")
    write_records([record], buffer, "csv")
    (row,) = csv.DictReader(io.StringIO(buffer.getvalue(), newline=""))
    # A cell that a spreadsheet would run as a formula carries a leading ' (OWASP).
    assert row["sampleId"] == spreadsheet_safe(expected["sampleId"])
    assert row["raw"] == spreadsheet_safe(expected["raw"])

    buffer = io.StringIO()
    summary = write_records([record], buffer, "jsonl")
    assert json.loads(buffer.getvalue()) == record_row(record)
    assert summary.records == 1 and summary.bytes == len(buffer.getvalue().encode())


def test_a_reader_keeps_the_wal_from_being_truncated_without_blocking_the_sweep(
    tmp_path: Path,
) -> None:
    db = tmp_path / "u.db"
    conn = connect(db)
    conn.execute(
        "INSERT INTO exports (exported_at, format, destination, covered_from, "
        "covered_to, records, sha256) VALUES ('a', 'jsonl', '-', '', 'b', 0, '')"
    )
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM exports").fetchone()  # holds a snapshot
    conn.execute(
        "INSERT INTO exports (exported_at, format, destination, covered_from, "
        "covered_to, records, sha256) VALUES ('c', 'jsonl', '-', '', 'd', 0, '')"
    )
    assert housekeeping.truncate_wal(conn) is False
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000  # restored
    reader.execute("COMMIT")
    assert housekeeping.truncate_wal(conn) is True
    reader.close()
    conn.close()


def test_an_export_to_a_pipe_or_a_device_is_never_counted_by_prune(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh user's find: `--out /dev/null` (or a FIFO) was renamed over and noted as an
    export, so `uvqc prune` then dropped records nobody had."""
    db = tmp_path / "u.db"
    run_day(tmp_path, db)
    capsys.readouterr()
    assert main(["export", "--db", str(db), "--out", "/dev/null"]) == 2
    assert "is not a regular file" in capsys.readouterr().err
    assert Path("/dev/null").is_char_device()
    assert main(["export", "--db", str(db)]) == 0  # stdout is captured: not a file
    assert "not noted as an export" in capsys.readouterr().err
    assert main(["prune", "--before", "2999-01-01", "--db", str(db)]) == 1  # nothing counted


def test_a_csv_cell_that_would_run_as_a_formula_is_written_as_text(tmp_path: Path) -> None:
    from uvqc.housekeeping.export import spreadsheet_safe

    assert spreadsheet_safe('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert spreadsheet_safe("-1+2") == "'-1+2"
    assert spreadsheet_safe("W-1") == "W-1"
    assert spreadsheet_safe(-1.5) == -1.5


def test_export_and_prune_never_create_or_adopt_an_empty_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "zero.db"
    empty.write_bytes(b"")
    assert main(["export", "--db", str(empty)]) == 2
    assert main(["prune", "--before", "2026-01-01", "--db", str(tmp_path / "nope.db")]) == 2
    assert empty.stat().st_size == 0 and not (tmp_path / "nope.db").exists()
