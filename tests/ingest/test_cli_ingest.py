"""`uvqc ingest` from the command line: round trip into `uvqc check -`, exit codes, db."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from uvqc.cli import main

from .conftest import fixture

UVQC = [sys.executable, "-m", "uvqc"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UVQC_")}
    return env


def test_round_trip_ingest_jsonl_into_check(tmp_path: Path) -> None:
    files = [str(fixture(n)) for n in ("cary_scan.csv", "visionlite_quant.csv", "jcamp_link.jdx")]
    ingest = subprocess.run(
        [*UVQC, "ingest", *files, "--jsonl", "--wavelength", "220"],
        capture_output=True,
        cwd=tmp_path,
        env=_env(tmp_path),
        check=False,
    )
    assert ingest.returncode == 1  # W-12 and S-1-MS are refused
    lines = ingest.stdout.decode().splitlines()
    assert len(lines) == 2 + 6 + 2
    assert all(json.loads(line)["sampleId"] for line in lines)  # stdout holds only messages
    assert "REFUSED" in ingest.stderr.decode() and "S-1-MS" in ingest.stderr.decode()
    check = subprocess.run(
        [*UVQC, "check", "-", "--format", "json"],
        input=ingest.stdout,
        capture_output=True,
        cwd=tmp_path,
        env=_env(tmp_path),
        check=False,
    )
    verdicts = [json.loads(line) for line in check.stdout.decode().splitlines()]
    assert len(verdicts) == 10
    assert not [v for v in verdicts if v["verdict"] == "reject"]
    assert {v["sampleId"] for v in verdicts} >= {"STD 0.5", "S-1-DUP", "W-9"}


def test_exit_0_when_everything_parsed_and_2_for_a_missing_path(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    os.chdir(tmp_path)
    assert main(["ingest", str(fixture("genesys30.tsv")), "--jsonl", "--wavelength", "220"]) == 0
    assert main(["ingest", str(tmp_path / "nope.csv"), "--jsonl"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["ingest", str(fixture("genesys30.tsv")), "--format", "bogus", "--jsonl"]) == 2
    assert main(["ingest", str(fixture("genesys30.tsv")), "--bogus"]) == 2


def test_refused_file_exits_1_with_its_reason(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    os.chdir(tmp_path)
    assert main(["ingest", str(fixture("native.spc")), "--jsonl"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "OLE2" in captured.err


def test_ingest_to_the_database_queues_every_result(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    db = tmp_path / "u.db"
    code = main(["ingest", str(fixture("visionlite_quant.csv")), "--db", str(db)])
    assert code == 1
    with sqlite3.connect(db) as conn:
        (n,) = conn.execute("SELECT count(*) FROM messages WHERE queue = 'intake'").fetchone()
    assert n == 6


def test_ingesting_a_file_again_or_a_renamed_copy_queues_nothing_twice(
    tmp_path: Path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    """A fresh user's find: `ingest --db` twice, or a renamed copy, queued every result again
    (and a renamed copy, a new batch, sent a second e-mail for the same measurement)."""
    os.chdir(tmp_path)
    db = tmp_path / "u.db"
    source = fixture("visionlite_quant.csv")
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(source.read_bytes())
    for path in (source, source, copy):
        main(["ingest", str(path), "--db", str(db)])
    assert "6 already ingested before: skipped" in capsys.readouterr().err
    with sqlite3.connect(db) as conn:
        (n,) = conn.execute("SELECT count(*) FROM messages WHERE queue = 'intake'").fetchone()
    assert n == 6


def test_naming_rules_from_the_lab_config(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    config = tmp_path / "lab.toml"
    config.write_text(
        '[ingest]\nwavelengthNm = 221\n[[ingest.naming]]\npattern = "^GW-(?P<nominal>[0-9]+)$"\n'
        'sampleType = "check_standard"\n',
        encoding="utf-8",
    )
    out = subprocess.run(
        [*UVQC, "ingest", str(fixture("genesys30.tsv")), "--jsonl", "--config", str(config)],
        capture_output=True,
        cwd=tmp_path,
        env=_env(tmp_path),
        check=True,
    )
    msg = json.loads(out.stdout)
    assert msg["sampleType"] == "check_standard" and msg["nominal"] == 3.0
    assert msg["absorbance"] == 0.42
    config.write_text('[ingest]\nwavelengthNm = 221\n[[ingest.naming]]\npattern = "(?P<bad>x)"\n')
    bad = subprocess.run(
        [*UVQC, "ingest", str(fixture("genesys30.tsv")), "--jsonl", "--config", str(config)],
        capture_output=True,
        cwd=tmp_path,
        env=_env(tmp_path),
        check=False,
    )
    assert bad.returncode == 2 and b"unknown group" in bad.stderr


def test_the_method_file_gives_the_analytical_wavelength(tmp_path: Path) -> None:
    method = tmp_path / "nitrate.toml"
    method.write_text(
        'name = "nitrate-uv"\nwavelength_nm = 221\n[rules.dilution_required]\nlimit = 1.0\n',
        encoding="utf-8",
    )
    env = {**_env(tmp_path), "UVQC_METHOD": str(method)}
    out = subprocess.run(
        [*UVQC, "ingest", str(fixture("genesys30.tsv")), "--jsonl"],
        capture_output=True, cwd=tmp_path, env=env, check=True,
    )  # fmt: skip
    msg = json.loads(out.stdout)
    assert msg["wavelengthNm"] == 221 and msg["absorbance"] == 0.42
    method.write_text('name = "x"\nwavelength_nm = -3\n[rules.dilution_required]\n')
    bad = subprocess.run(
        [*UVQC, "ingest", str(fixture("genesys30.tsv")), "--jsonl"],
        capture_output=True, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and b"wavelength_nm" in bad.stderr


def test_a_truncated_cary_file_exits_1_naming_the_line_and_the_unused_position(
    tmp_path: Path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    os.chdir(tmp_path)
    cut = tmp_path / "cut.csv"
    cut.write_bytes(
        b"S1,,S2,,\r\nWavelength (nm),Abs,Wavelength (nm),Abs,\r\n"
        b"270,0.3000,270,0.3100,\r\n260,0.2500,260,0.2"
    )
    assert main(["ingest", str(cut), "--jsonl", "--wavelength", "260"]) == 1
    captured = capsys.readouterr()
    assert [json.loads(line)["sampleId"] for line in captured.out.splitlines()] == ["S1"]
    assert "line 4 sample S2 (position 2, left unused): line 4: the file ends inside" in (
        captured.err.replace("\n", " ")
    )
