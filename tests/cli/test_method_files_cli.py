"""Issue 9 case 6 from the command line: every command that loads a method file exits 2
with the reason (methods validate, check -m, methods list -m, UVQC_METHOD)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.test_method_files_hostile import laughs
from uvqc.cli import main

BAD = {
    "bomb.yaml": (laughs(7), "YAML aliases"),
    "nan.toml": ('name = "m"\n[rules.dilution_required]\nlimit = nan\n', "finite number"),
    "inf.toml": ('name = "m"\n[rules.over_range]\nceiling = inf\n', "finite number"),
    "order.toml": (
        'name = "m"\n[rules.outside_calibration_range]\nlow = 0.8\nhigh = 0.2\n',
        "low (0.8) must be below high (0.2)",
    ),
    "noise.toml": ('name = "m"\n[rules.negative_absorbance]\nnoise = -1\n', "greater than or"),
    "dup.yaml": ("name: m\nname: n\nrules: {over_range: }\n", "duplicate key 'name'"),
    "default.toml": ('name = "default"\n[rules.over_range]\n', "reserved"),
}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    path = tmp_path / "r.jsonl"
    path.write_text('{"sampleId": "S-1", "absorbance": 0.3}\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(BAD))
def test_every_command_refuses_a_bad_method_file_with_exit_2(
    name: str,
    tmp_path: Path,
    results: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text, reason = BAD[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    for argv in (
        ["methods", "validate", str(path)],
        ["check", str(results), "-m", str(path)],
        ["methods", "list", "-m", str(path)],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert reason in err and "uvqc: error:" in err
        assert len(err) < 400
    monkeypatch.setenv("UVQC_METHOD", str(path))
    assert main(["check", str(results)]) == 2
    assert reason in capsys.readouterr().err


def test_methods_list_shows_what_each_rule_applies_to(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods", "list"]) == 0
    out = capsys.readouterr().out
    assert "blank_limit(limit=0.01)  applies to: blank" in out
    assert "constraints: limit: finite, > 0" in out
