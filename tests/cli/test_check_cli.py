"""`uvqc check`, `uvqc schema` and `uvqc methods`, as a user runs them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import EXAMPLES, ROOT
from uvqc.adapters.files import iter_messages
from uvqc.cli import main
from uvqc.core.engine import judge
from uvqc.core.methods import MethodBook

DAY = EXAMPLES / "day-2026-11-27.jsonl"
SINGLE = EXAMPLES / "single-original.json"
NITRATE = EXAMPLES / "methods" / "nitrate-uv.toml"
STRICT = EXAMPLES / "methods" / "strict.yaml"

PASSING = {"sampleId": "S-1", "absorbanceResult": "0.45"}
DILUTE = {"sampleId": "S-2", "absorbance": 1.2}
OUTSIDE = {"sampleId": "S-3", "absorbance": 0.67}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def rows(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def write(path: Path, *lines: str | dict[str, Any]) -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def feed_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


# --- inputs -------------------------------------------------------------------------------


def test_a_single_passing_original_message_exits_0_with_a_text_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "check", str(SINGLE))
    assert status == 0
    assert out.splitlines()[0] == f"PASS   7030d623-5d4b-4a8a-9d1e-3c1f2b8e6a41  ({SINGLE}:1)"
    assert out.endswith("\n1 result(s): 1 passed, 0 flagged, 0 rejected\n")


def test_a_text_report_shows_each_finding_under_its_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "r.jsonl", PASSING, DILUTE, OUTSIDE, "not json")
    status, out, _ = run(capsys, "check", str(path))
    assert status == 1
    assert out == (
        f"PASS   S-1  ({path}:1)\n"
        f"FLAG   S-2  ({path}:2)\n"
        "         fail: dilution_required: Absorbance for S-2 exceeds 1. "
        "Consider diluting the sample.\n"
        f"FLAG   S-3  ({path}:3)\n"
        "         suspect: outside_calibration_range: Absorbance for S-3 with a measured "
        "value of 0.67 does not fall within the calibration curve.\n"
        f"REJECT -  ({path}:4)\n"
        "         fail: invalid_message: Rejected: not valid JSON "
        "(expected ident at line 1 column 2).\n"
        "\n4 result(s): 1 passed, 2 flagged, 1 rejected\n"
    )


def test_json_lines_with_broken_lines_reject_only_those_lines_and_reading_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path / "r.jsonl",
        PASSING,
        '{"sampleId": "cut-off", "absorbance": 0.3',
        "",
        '{"absorbanceResult": "0.5"}',
        '{"sampleId": "S-9", "absorbanceResult": "NaN"}',
        '{"sampleId": "W\\r\\n1", "absorbance": 0.2}',
        "[1, 2]",
        DILUTE,
    )
    status, out, _ = run(capsys, "check", "-f", "json", str(path))
    assert status == 1
    got = [(r["source"].rsplit(":", 1)[1], r["sampleId"], r["verdict"]) for r in rows(out)]
    assert got == [
        ("1", "S-1", "pass"),
        ("2", "cut-off", "reject"),  # the sample ID is salvaged from the text
        ("4", None, "reject"),
        ("5", "S-9", "reject"),
        ("6", None, "reject"),
        ("7", None, "reject"),
        ("8", "S-2", "flag"),
    ]


def test_a_broken_first_line_does_not_stop_the_lines_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "r.jsonl", '{"sampleId": "x", ', PASSING, DILUTE)
    status, out, _ = run(capsys, "check", "-f", "json", str(path))
    assert status == 1
    assert [r["verdict"] for r in rows(out)] == ["reject", "pass", "flag"]
    assert [r["source"] for r in rows(out)] == [f"{path}:{n}" for n in (1, 2, 3)]


def test_a_json_array_yields_one_result_per_element(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "batch.json"
    path.write_text(json.dumps([PASSING, DILUTE, 42, OUTSIDE], indent=2))
    status, out, _ = run(capsys, "check", "--format", "json", str(path))
    assert status == 1
    assert [(r["source"], r["sampleId"], r["verdict"]) for r in rows(out)] == [
        (f"{path}[1]", "S-1", "pass"),
        (f"{path}[2]", "S-2", "flag"),
        (f"{path}[3]", None, "reject"),
        (f"{path}[4]", "S-3", "flag"),
    ]


def test_a_pretty_printed_object_is_one_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps({**PASSING, "batchId": "B-1", "extra": {"x": [1]}}, indent=4))
    status, out, _ = run(capsys, "check", "-f", "json", str(path))
    assert status == 0
    assert rows(out) == [
        {"sampleId": "S-1", "verdict": "pass", "method": "default", "findings": [],
         "source": str(path)}
    ]  # fmt: skip


def test_an_empty_file_yields_no_results_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    status, out, _ = run(capsys, "check", str(path))
    assert status == 0
    assert "0 result(s)" in out


def test_stdin_is_read_when_the_path_is_a_dash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_stdin(monkeypatch, (json.dumps(PASSING) + "\n" + json.dumps(DILUTE) + "\n").encode())
    status, out, _ = run(capsys, "check", "-f", "json", "-")
    assert status == 1
    assert [(r["source"], r["verdict"]) for r in rows(out)] == [
        ("<stdin>:1", "pass"),
        ("<stdin>:2", "flag"),
    ]


def test_stdin_is_read_when_no_path_is_given(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_stdin(monkeypatch, json.dumps(PASSING, indent=2).encode())
    status, out, _ = run(capsys, "check")
    assert status == 0
    assert "PASS   S-1  (<stdin>)" in out


def test_a_directory_is_read_recursively_for_result_files_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "b.jsonl", DILUTE)
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "a.json", PASSING)
    write(tmp_path / "sub" / "c.ndjson", OUTSIDE)
    write(tmp_path / "method.toml", "not a result")
    write(tmp_path / "notes.txt", "not a result")
    status, out, _ = run(capsys, "check", "-f", "json", str(tmp_path))
    assert status == 1
    assert [r["sampleId"] for r in rows(out)] == ["S-2", "S-1", "S-3"]  # sorted paths


def test_several_paths_are_read_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = write(tmp_path / "1.json", DILUTE), write(tmp_path / "2.json", PASSING)
    _, out, _ = run(capsys, "check", "-f", "json", str(second), str(first))
    assert [r["sampleId"] for r in rows(out)] == ["S-1", "S-2"]


def test_the_examples_give_the_verdicts_a_chemist_expects(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # examples/runs/ holds an analytical run for its own method (checked below)
    status, out, _ = run(capsys, "check", "-f", "json", str(DAY), str(SINGLE))
    results = rows(out)
    assert status == 1
    assert len(results) >= 201
    by_verdict = {v: [r for r in results if r["verdict"] == v] for v in ("pass", "flag", "reject")}
    assert len(by_verdict["pass"]) > 0.8 * len(results)
    assert 4 <= len(by_verdict["reject"]) <= 6
    codes = [f["code"] for r in by_verdict["flag"] for f in r["findings"]]
    assert 0.05 < codes.count("dilution_required") / len(results) < 0.11
    assert 0.03 < codes.count("outside_calibration_range") / len(results) < 0.09
    assert all(len(r["findings"]) == 1 for r in by_verdict["flag"])
    blanks = [r for r in results if str(r["sampleId"]).startswith(("BLK-", "CCV-"))]
    assert blanks and all(r["verdict"] == "pass" for r in blanks)


# --- the json format ----------------------------------------------------------------------


def test_the_example_run_passes_result_level_qc_with_its_method(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_file = EXAMPLES / "runs" / "nitrate-run-2026-11-28.jsonl"
    method = EXAMPLES / "methods" / "nitrate-run.toml"
    status, out, _ = run(capsys, "check", "-f", "json", "--method", str(method), str(run_file))
    assert status == 0
    assert {r["verdict"] for r in rows(out)} == {"pass"} and len(rows(out)) == 64


def test_json_output_has_one_object_per_result_with_every_finding_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "r.jsonl", DILUTE, "{oops", '{"sampleId": "S-4", "absorbance": "x"}')
    _, out, _ = run(capsys, "check", "-f", "json", str(path))
    flagged, unreadable, rejected = rows(out)
    assert flagged == {
        "sampleId": "S-2",
        "verdict": "flag",
        "method": "default",
        "findings": [
            {
                "code": "dilution_required",
                "severity": "fail",
                "message": "Absorbance for S-2 exceeds 1. Consider diluting the sample.",
                "value": 1.2,
                "limit": 1.0,
            }
        ],
        "source": f"{path}:1",
    }
    assert unreadable["sampleId"] is None
    assert unreadable["verdict"] == "reject"
    assert unreadable["method"] is None
    assert unreadable["findings"][0]["code"] == "invalid_message"
    assert unreadable["findings"][0]["message"].startswith("Rejected: not valid JSON")
    assert rejected["sampleId"] == "S-4"
    assert rejected["findings"][0] == {
        "code": "invalid_message",
        "severity": "fail",
        "message": "Rejected: field `absorbance` must be a finite number, got the text 'x'.",
        "value": None,
        "limit": None,
        "field": "absorbance",
    }


def test_the_fast_json_path_writes_the_same_bytes_as_the_general_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Results without findings take a hand-written path; it must equal json.dumps exactly.
    tricky = {"sampleId": 'quote " back \\ é ☃ \U0001f9ea', "absorbance": 0.3}
    path = write(tmp_path / "r.jsonl", tricky)
    _, out, _ = run(capsys, "check", "-f", "json", str(path))
    book = MethodBook()
    judgement, _ = judge(json.dumps(tricky).encode(), book)
    expected = {**judgement.to_dict(), "source": f"{path}:1"}
    assert out == json.dumps(expected, ensure_ascii=False, separators=(",", ":")) + "\n"


# --- methods and settings -----------------------------------------------------------------


def test_a_method_file_given_with_method_is_the_default_for_results_naming_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "r.jsonl", {"sampleId": "S", "absorbance": 0.6})
    status, out, _ = run(capsys, "check", "-f", "json", "--method", str(STRICT), str(path))
    (row,) = rows(out)
    assert status == 1
    assert row["method"] == "strict"
    assert [(f["code"], f["severity"], f["limit"]) for f in row["findings"]] == [
        ("outside_calibration_range", "fail", "(0.01, 0.5)")
    ]


def test_uvqc_method_in_the_environment_selects_the_method_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "r.jsonl", {"sampleId": "S", "absorbance": -0.02})
    monkeypatch.setenv("UVQC_METHOD", str(NITRATE))
    _, out, _ = run(capsys, "check", "-f", "json", str(path))
    (row,) = rows(out)
    assert row["method"] == "nitrate-uv"
    assert [f["code"] for f in row["findings"]] == ["negative_absorbance"]


def test_the_method_flag_wins_over_uvqc_method(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "r.jsonl", PASSING)
    monkeypatch.setenv("UVQC_METHOD", str(NITRATE))
    _, out, _ = run(capsys, "check", "-f", "json", "-m", str(STRICT), str(path))
    assert rows(out)[0]["method"] == "strict"


def test_a_result_naming_an_unknown_method_is_rejected_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "r.jsonl", {**PASSING, "method": "nitrate-uv"})
    status, out, _ = run(capsys, "check", "-f", "json", str(path))
    (row,) = rows(out)
    assert status == 1
    assert row["verdict"] == "reject"
    assert row["sampleId"] == "S-1"
    assert "unknown QC method 'nitrate-uv'" in row["findings"][0]["message"]
    status, out, _ = run(capsys, "check", "-f", "json", "-m", str(NITRATE), str(path))
    assert (status, rows(out)[0]["verdict"]) == (0, "pass")


# --- exit status 2 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "missing.jsonl"], "uvqc: error: missing.jsonl: no such file or directory"),
        (["check", "--method", "nope.toml", str(SINGLE)], "cannot read method file nope.toml"),
    ],
)
def test_an_unreadable_input_is_a_usage_error_with_exit_status_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    status, out, err = run(capsys, *args)
    assert status == 2
    assert out == ""
    assert message in err


def test_a_directory_without_result_files_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    status, _, err = run(capsys, "check", str(tmp_path / "empty"))
    assert status == 2
    assert "directory holds no .json/.jsonl/.ndjson files" in err


def test_a_bad_method_file_is_a_usage_error_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "m"\n[rules.dilution_required]\nlimt = 2\n')
    status, out, err = run(capsys, "check", "-m", str(bad), str(SINGLE))
    assert (status, out) == (2, "")
    assert "rule 'dilution_required' has no parameter 'limt'" in err


def test_bad_settings_are_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UVQC_CONFIG", "nowhere.toml")
    status, _, err = run(capsys, "check", str(SINGLE))
    assert status == 2
    assert "UVQC_CONFIG=nowhere.toml: no such settings file" in err


@pytest.mark.parametrize(
    "args", [["check", "--format", "xml", str(SINGLE)], ["check", "--bogus"], ["nonsense"]]
)
def test_a_bad_option_exits_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    status, _, err = run(capsys, *args)
    assert status == 2
    assert err


# --- uvqc schema --------------------------------------------------------------------------


def test_uvqc_schema_prints_a_valid_json_schema_that_accepts_the_examples(
    capsys: pytest.CaptureFixture[str],
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    status, out, _ = run(capsys, "schema")
    assert status == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    book = MethodBook()
    checked = 0
    for line in [*DAY.read_text().splitlines(), SINGLE.read_text()]:
        judgement, _ = judge(line.encode(), book)
        try:
            document = json.loads(line)
        except ValueError:
            assert judgement.verdict == "reject"
            continue
        # the schema and the validator agree on every example, valid or not
        assert validator.is_valid(document) == (judgement.verdict != "reject"), line
        checked += 1
    assert checked > 200


@pytest.mark.parametrize(
    "document",
    [
        {"sampleId": "x"},
        {"sampleId": "", "absorbance": 0.1},
        {"sampleId": " ", "absorbance": 0.1},
        {"sampleId": "a\nb", "absorbance": 0.1},
        {"sampleId": "a", "absorbanceResult": "abc"},
        {"sampleId": "a", "absorbance": True},
        {"sampleId": "a", "absorbance": 0.1, "wavelengthNm": 0},
        {"sampleId": "a", "absorbance": 0.1, "sampleType": "standard"},
    ],
)
def test_the_schema_rejects_what_the_validator_rejects(
    capsys: pytest.CaptureFixture[str], document: dict[str, Any]
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(run(capsys, "schema")[1])
    assert not jsonschema.Draft202012Validator(schema).is_valid(document)
    assert judge(json.dumps(document), MethodBook())[0].verdict == "reject"


# --- uvqc methods -------------------------------------------------------------------------


def test_methods_validate_accepts_good_files_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "methods", "validate", str(NITRATE), str(STRICT))
    assert status == 0
    assert f"{NITRATE}: method 'nitrate-uv' is valid (7 rule(s): dilution_required" in out
    assert f"{STRICT}: method 'strict' is valid (3 rule(s)" in out


def test_methods_validate_exits_2_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: m\nrules:\n  dilute_now: {}\n")
    status, _, err = run(capsys, "methods", "validate", str(NITRATE), str(bad))
    assert status == 2
    assert "uvqc: error: method 'm': unknown rule 'dilute_now' (known rules:" in err


def test_methods_list_shows_the_methods_and_every_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "methods", "list", "-m", str(NITRATE))
    assert status == 0
    assert "  nitrate-uv (default): Nitrate screening" in out
    assert "  default: The original system's two rules" in out
    assert "outside_calibration_range(low=0.0, high=0.67, severity='suspect')" in out
    assert "spectrum_saturation(" in out


# --- streaming ----------------------------------------------------------------------------


class GeneratedStream(io.RawIOBase):
    """A binary stream whose lines are produced on demand; `produced` counts them."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines
        self._pending = b""
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while len(self._pending) < len(buffer):
            line = next(self._lines, None)
            if line is None:
                break
            self.produced += 1
            self._pending += line
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def test_json_lines_are_streamed_the_first_result_comes_before_the_input_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    total = 200_000
    lines = (
        json.dumps({"sampleId": f"S-{i}", "absorbanceResult": "0.45"}).encode() + b"\n"
        for i in range(total)
    )
    raw = GeneratedStream(lines)
    stdin = io.TextIOWrapper(io.BufferedReader(raw, buffer_size=8192))
    monkeypatch.setattr(sys, "stdin", stdin)
    messages = iter_messages(["-"])
    source, first = next(messages)
    assert source == "<stdin>:1"
    assert judge(first, MethodBook())[0].sample_id == "S-0"
    assert raw.produced < 1000  # only a buffer's worth was read, not 200k lines
    for _ in range(999):
        next(messages)
    assert raw.produced < 2000
    assert sum(1 for _ in messages) == total - 1000  # and the rest still follows, in order


# --- real processes -----------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("UVQC_")}


def test_the_installed_uvqc_command_checks_a_file(tmp_path: Path) -> None:
    uvqc = Path(sys.executable).with_name("uvqc")
    proc = subprocess.run(
        [str(uvqc), "check", "-f", "json", str(DAY)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    results = rows(proc.stdout)
    assert len(results) == len([line for line in DAY.read_text().splitlines() if line.strip()])


def test_python_dash_m_uvqc_reads_stdin_and_exits_0_when_all_pass(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "uvqc", "check", "-"],
        input=(json.dumps(PASSING) + "\n").encode(),
        capture_output=True,
        env=_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert b"PASS   S-1  (<stdin>:1)" in proc.stdout


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    proc = subprocess.run(
        f"{sys.executable} -m uvqc check {DAY} | head -1",
        shell=True,
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.stdout.startswith("PASS")
    assert "Traceback" not in proc.stderr
    assert ROOT.exists()


def test_an_array_element_with_a_lone_surrogate_is_a_reject_for_that_element_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "batch.json"
    path.write_text('[{"sampleId": "A\\ud800", "absorbance": 0.1}, ' + json.dumps(PASSING) + "]")
    status, out, _ = run(capsys, "check", "-f", "json", str(path))
    assert status == 1
    assert [(r["sampleId"], r["verdict"]) for r in rows(out)] == [(None, "reject"), ("S-1", "pass")]


def test_json_lines_with_a_broken_first_line_are_still_streamed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    total = 200_000
    lines = (
        b'{"sampleId": "cut-off", \n'
        if i == 0
        else json.dumps({"sampleId": f"S-{i}", "absorbance": 0.3}).encode() + b"\n"
        for i in range(total)
    )
    raw = GeneratedStream(lines)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(raw, buffer_size=8192)))
    messages = iter_messages(["-"])
    book = MethodBook()
    first, second = next(messages), next(messages)
    assert first[0] == "<stdin>:1"
    assert judge(first[1], book)[0].verdict == "reject"
    assert (second[0], judge(second[1], book)[0].sample_id) == ("<stdin>:2", "S-1")
    assert raw.produced < 1000
    assert sum(1 for _ in messages) == total - 2


def test_a_pretty_printed_object_starting_with_a_nested_line_is_still_one_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "one.json"
    path.write_text('{"sampleId": "S-1",\n\n  "absorbance": 0.3,\n  "x": {"a": 1}\n}\n')
    status, out, _ = run(capsys, "check", "-f", "json", str(path))
    assert status == 0
    assert [(r["source"], r["sampleId"]) for r in rows(out)] == [(str(path), "S-1")]
