"""Issue 9 cases 1, 3, 4 and 5 on real files: encodings and byte order marks, one reject per
broken document, streaming of every shape, and file discovery (pipes, devices, suffixes in
any case, gzip, skipped files reported)."""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli.test_check_cli import GeneratedStream, rows, run
from uvqc.adapters.files import iter_items, iter_messages
from uvqc.cli import main
from uvqc.core.engine import judge
from uvqc.core.methods import MethodBook

PASSING = {"sampleId": "S-1", "absorbance": 0.3}
FIFTY = [{"sampleId": f"S-{i}", "absorbance": 0.3} for i in range(1, 51)]


def check_json(capsys: pytest.CaptureFixture[str], *paths: str) -> tuple[int, list[dict[str, Any]]]:
    status, out, _ = run(capsys, "check", "-f", "json", *paths)
    return status, rows(out)


# --- case 1: byte order marks and UTF-16 ---------------------------------------------------


def test_a_bom_before_json_lines_is_not_a_reject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"sampleId":"S-1","absorbance":0.3}\n')
    status, out, _ = run(capsys, "check", str(path))
    assert status == 0
    assert out.startswith(f"PASS   S-1  ({path}:1)")


def test_a_bom_before_a_pretty_printed_file_is_one_result_not_one_reject_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(codecs.BOM_UTF8 + json.dumps(PASSING, indent=2).encode())
    assert check_json(capsys, str(path)) == (
        0,
        [{"sampleId": "S-1", "verdict": "pass", "method": "default", "findings": [],
          "source": str(path)}],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-16", b""),  # Python's utf-16 and utf-32 write their own byte order mark
        ("utf-32", b""),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-16-le", b""),  # no BOM: recognised by its zero bytes
        ("utf-16-be", b""),
    ],
)
def test_utf16_and_utf32_files_are_decoded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str, bom: bytes
) -> None:
    text = json.dumps([PASSING, {"sampleId": "Ä-2", "absorbance": 1.5}], indent=2)
    path = tmp_path / "r.json"
    path.write_bytes(bom + text.encode(encoding))
    status, got = check_json(capsys, str(path))
    assert status == 1
    assert [(r["sampleId"], r["verdict"]) for r in got] == [("S-1", "pass"), ("Ä-2", "flag")]


def test_a_broken_utf16_file_is_one_reject_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.jsonl"
    good = (json.dumps(PASSING) + "\n").encode("utf-16-le")
    path.write_bytes(codecs.BOM_UTF16_LE + good * 3 + b"\x00\xdc" + good * 100)  # a lone low half
    status, got = check_json(capsys, str(path))
    assert status == 1
    rejects = [r for r in got if r["verdict"] == "reject"]
    assert len(rejects) == 1
    assert "cannot be read: not valid UTF-16 text near byte" in rejects[0]["findings"][0]["message"]


def test_a_bom_in_a_toml_method_file_and_in_uvqc_toml_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    method = tmp_path / "m.toml"
    method.write_bytes(codecs.BOM_UTF8 + b'name = "m"\n[rules.dilution_required]\nlimit = 2\n')
    status, _out, err = run(capsys, "methods", "validate", str(method))
    assert status == 0, err  # observed: "Invalid statement"
    yaml_method = tmp_path / "y.yaml"
    yaml_method.write_bytes(codecs.BOM_UTF8 + b"name: y\nrules:\n  dilution_required: {}\n")
    assert run(capsys, "methods", "validate", str(yaml_method))[0] == 0
    (tmp_path / "uvqc.toml").write_bytes(codecs.BOM_UTF8 + f'method = "{method}"\n'.encode())
    data = tmp_path / "r.jsonl"
    data.write_text(json.dumps({"sampleId": "S", "absorbance": 1.5}) + "\n")
    status, got = check_json(capsys, str(data))
    assert (status, got[0]["method"], got[0]["verdict"]) == (0, "m", "pass")


# --- case 2 on files: duplicate keys survive the reading of arrays ---------------------------


def test_a_duplicate_key_in_an_array_element_is_a_reject_of_that_element(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.json"
    path.write_text(
        '[{"sampleId":"S","absorbance":3.2,"absorbance":0.41},\n'
        ' {"sampleId":"T","absorbance":0.3,"x":{"k":1,"k":2}},\n' + json.dumps(PASSING) + "]"
    )
    status, got = check_json(capsys, str(path))
    assert status == 1
    assert [(r["sampleId"], r["verdict"], r["findings"][0]["field"] if r["findings"] else None)
            for r in got] == [("S", "reject", "absorbance"), ("T", "reject", "x.k"),
                              ("S-1", "pass", None)]  # fmt: skip


# --- case 3: one syntax error, one reject ----------------------------------------------------


def _fifty_with_a_trailing_comma(path: Path) -> Path:
    text = json.dumps(FIFTY, indent=2)
    path.write_text(text[:-2] + ",\n]\n")
    return path


def test_a_trailing_comma_in_an_array_of_50_is_one_reject_naming_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # observed: 202 rejects, each a fragment naming no sample or file
    path = _fifty_with_a_trailing_comma(tmp_path / "batch.json")
    status, got = check_json(capsys, str(path))
    assert status == 1
    assert len(got) == 51
    assert [r["verdict"] for r in got[:50]] == ["pass"] * 50  # read before the error
    (bad,) = [r for r in got if r["verdict"] == "reject"]
    assert bad["source"] == f"{path}:202:1"
    assert bad["sampleId"] is None  # 50 candidates in the text: not unambiguous
    assert bad["findings"][0]["message"] == (
        f"Rejected: {path} is not valid JSON at line 202 column 1 (unallowed token at this "
        "point in JSON text): the 50 result(s) before it were read, nothing after it."
    )


def test_a_trailing_comma_under_run_is_one_reject_email(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # observed: 55 reject e-mails
    monkeypatch.setenv("UVQC_RETRY_BASE_SECONDS", "0.05")
    path = _fifty_with_a_trailing_comma(tmp_path / "batch.json")
    outbox = tmp_path / "outbox"
    status = main(["run", str(path), "--db", str(tmp_path / "u.db"), "--outbox", str(outbox)])
    capsys.readouterr()
    assert status == 0
    (email,) = [p.read_text() for p in outbox.glob("*.eml")]
    assert "is not valid JSON at line 202 column 1" in email.replace("=\n", "")  # the excerpt


def test_a_broken_pretty_printed_object_is_one_reject_keeping_its_sample_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "one.json"
    path.write_text('{\n  "sampleId": "S-1",\n  "absorbance": 0.3,\n}\n')
    status, got = check_json(capsys, str(path))
    assert status == 1
    assert [(r["source"], r["sampleId"], r["verdict"]) for r in got] == [
        (f"{path}:4:1", "S-1", "reject")
    ]


def test_json_lines_stay_line_by_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        "\n".join([json.dumps(PASSING), '{"sampleId": "B", "absorbance": 0.3,}', "oops",
                   json.dumps(PASSING)]) + "\n"
    )  # fmt: skip
    _, got = check_json(capsys, str(path))
    assert [(r["source"], r["verdict"]) for r in got] == [
        (f"{path}:1", "pass"), (f"{path}:2", "reject"), (f"{path}:3", "reject"),
        (f"{path}:4", "pass"),
    ]  # fmt: skip
    assert got[1]["sampleId"] == "B"


def test_a_broken_document_on_stdin_is_located_exactly_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = _fifty_with_a_trailing_comma(tmp_path / "b.json").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    _, got = check_json(capsys, "-")
    assert len(got) == 51
    # stdin cannot be read again: what was parsed is spooled to disk and read again
    assert got[-1]["source"] == "<stdin>:202:1"
    assert "<stdin> is not valid JSON at line 202 column 1" in got[-1]["findings"][0]["message"]


# --- document shapes, encodings and compression: one property ------------------------------

MESSAGES = st.lists(
    st.fixed_dictionaries(
        {
            "sampleId": st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
                                min_size=1, max_size=6),
            "absorbance": st.floats(-1, 5) | st.sampled_from(["0.4", "abc", None]),
        },
        optional={"batchId": st.sampled_from(["B-1", " B-2 "]), "x": st.lists(st.integers())},
    ),
    min_size=1,
    max_size=5,
)  # fmt: skip


def _render(messages: list[dict[str, Any]], shape: str) -> str:
    if shape == "lines":
        return "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages)
    if shape == "array":
        return json.dumps(messages, ensure_ascii=False)
    if shape == "pretty array":
        return json.dumps(messages, ensure_ascii=False, indent=2) + "\n"
    if shape == "documents":
        return "\n".join(json.dumps(m, ensure_ascii=False, indent=2) for m in messages)
    return "".join(json.dumps(m, ensure_ascii=False) for m in messages)  # back to back


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    MESSAGES,
    st.sampled_from(["lines", "array", "pretty array", "documents", "back to back"]),
    st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]),
    st.booleans(),
)
def test_every_shape_encoding_and_compression_gives_the_verdicts_of_the_messages_alone(
    messages: list[dict[str, Any]], shape: str, encoding: str, gzipped: bool
) -> None:
    data = _render(messages, shape).encode(encoding)
    if gzipped:
        data = gzip.compress(data)
    book = MethodBook()
    expected = [judge(json.dumps(m), book)[0] for m in messages]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        path.write_bytes(data)
        got = [judge(raw, book)[0] for _, raw in iter_messages([str(path)])]
    assert [(j.sample_id, j.verdict, j.findings) for j in got] == [
        (j.sample_id, j.verdict, j.findings) for j in expected
    ]


# --- case 4: memory - every shape streams ----------------------------------------------------


def _stdin_from(monkeypatch: pytest.MonkeyPatch, chunks: Iterator[bytes]) -> GeneratedStream:
    raw = GeneratedStream(chunks)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(raw, buffer_size=8192)))
    return raw


@pytest.mark.parametrize("shape", ["array", "documents", "lines with two broken first lines"])
def test_every_shape_is_streamed_the_first_result_comes_before_the_input_ends(
    monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    total = 200_000

    def chunks() -> Iterator[bytes]:
        if shape == "array":
            yield b"[\n"
        for i in range(total):
            text = json.dumps({"sampleId": f"S-{i}", "absorbance": 0.3}, indent=2 if shape ==
                              "documents" else None).encode()  # fmt: skip
            if shape.startswith("lines") and i < 2:
                text = b'{"sampleId": "cut-off", '
            yield text + (b",\n" if shape == "array" and i < total - 1 else b"\n")
        if shape == "array":
            yield b"]\n"

    raw = _stdin_from(monkeypatch, chunks())
    messages = iter_messages(["-"])
    first = next(messages)
    assert raw.produced < 20_000  # a look-ahead's worth, not 200,000 results
    assert sum(1 for _ in messages) == total - 1
    assert first[0] in ("<stdin>[1]", "<stdin>#1", "<stdin>:1")


# --- case 5: file discovery ----------------------------------------------------------------


def test_a_directory_reads_suffixes_in_any_case_and_gzip_and_reports_every_skipped_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.JSON").write_text(json.dumps(PASSING))  # observed: skipped silently
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(b'{"sampleId":"G","absorbance":1.5}\n'))
    (tmp_path / "e.NDJSON").write_text(json.dumps({"sampleId": "N", "absorbance": 0.3}))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "method.toml").write_text("x")
    status, out, err = run(capsys, "check", "-f", "json", str(tmp_path))
    assert status == 1
    assert [(r["sampleId"], r["verdict"]) for r in rows(out)] == [
        ("S-1", "pass"), ("G", "flag"), ("N", "pass")
    ]  # fmt: skip
    assert f"uvqc: skipped {tmp_path / 'method.toml'}: not a result file" in err
    assert f"uvqc: skipped {tmp_path / 'notes.txt'}: not a result file" in err


def test_a_gzipped_file_given_by_name_is_read_whatever_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "day.jsonl.gz"  # observed: one binary reject per line
    path.write_bytes(gzip.compress((json.dumps(PASSING) + "\n").encode() * 3))
    assert check_json(capsys, str(path))[0] == 0
    assert len(check_json(capsys, str(path))[1]) == 3


def test_dev_null_is_an_empty_input(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "check", os.devnull)  # observed: "no such file"
    assert (status, err) == (0, "")
    assert "0 result(s)" in out


def test_a_named_pipe_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def writer() -> None:
        with fifo.open("w") as f:
            f.write(json.dumps(PASSING) + "\n")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        status, got = check_json(capsys, str(fifo))
    finally:
        thread.join(10)
    assert (status, [r["source"] for r in got]) == (0, [f"{fifo}:1"])


def test_process_substitution_is_read(tmp_path: Path) -> None:
    # observed: `uvqc check <(cat f)` said "no such file"
    data = tmp_path / "r.jsonl"
    data.write_text(json.dumps(PASSING) + "\n")
    uvqc = Path(sys.executable).with_name("uvqc")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UVQC_")}
    proc = subprocess.run(
        ["bash", "-c", f"{uvqc} check <(cat {data})"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "PASS   S-1  (/dev/fd/" in proc.stdout


def test_a_missing_path_is_still_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "check", "nope.jsonl")
    assert status == 2
    assert "nope.jsonl: no such file or directory" in err


def test_items_of_a_broken_document_say_what_was_read(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('[{"sampleId": "A", "absorbance": 0.1}, {"sampleId": "B", oops}]')
    items = list(iter_items([str(path)]))
    assert [i.source for i in items] == [f"{path}[1]", f"{path}:1:58"]  # at "oops"
    assert items[1].error is not None and "the 1 result(s) before it were read" in items[1].error


# --- case 8: what is shown ---------------------------------------------------------------------


def test_bidirectional_overrides_are_escaped_in_text_and_json_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"sampleId": "W-1\u202eG-3", "absorbance": 1.5}) + "\n")
    _, out, _ = run(capsys, "check", str(path))
    assert "\u202e" not in out
    assert "FLAG   W-1\\u202eG-3  (" in out
    assert "Absorbance for W-1\\u202eG-3 exceeds 1" in out
    _, out, _ = run(capsys, "check", "-f", "json", str(path))
    assert "\u202e" not in out and "\\u202e" in out
    assert json.loads(out)["sampleId"] == "W-1\u202eG-3"  # the JSON still carries the value


PREFIXES = [b"", b"\x1f\x8b", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF32_BE, b"[", b"{",
            b'[{"sampleId": "S", "absorbance": 0.1},', b'{"a": "\\ud800', b"\x00{\x00"]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PREFIXES), st.binary(max_size=200))
def test_any_bytes_in_any_disguise_are_read_without_a_crash(prefix: bytes, tail: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        path.write_bytes(prefix + tail)
        items = list(iter_items([str(path)]))
    book = MethodBook()
    for item in items:
        assert item.source.startswith(str(path))
        if item.error is None:
            judge(item.raw, book)
        else:
            assert item.error


def test_a_bom_file_through_run_is_recorded_under_its_sample_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # observed: the record lost its sample ID; `trace S-1` found nothing
    path = tmp_path / "r.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + b'{"sampleId":"S-1","absorbance":1.5}\n')
    db, outbox = tmp_path / "u.db", tmp_path / "outbox"
    assert main(["run", str(path), "--db", str(db), "--outbox", str(outbox)]) == 0
    capsys.readouterr()
    assert main(["trace", "S-1", "--db", str(db)]) == 0
    assert "verdict    FLAG" in capsys.readouterr().out
    (email,) = [p.read_text() for p in outbox.glob("*.eml")]
    assert "Data Quality Issue for S-1" in email


@pytest.mark.parametrize(
    "text",
    [
        "[" + "[" * 100_000 + "]" * 100_000 + "]",  # observed: memory exhausted (ijson's paths)
        '{"a":' * 50_000 + "1" + "}" * 50_000,  # observed: RecursionError traceback
        "[" + '{"a":' * 50_000 + "1" + "}" * 50_000 + "]",
    ],
)
def test_a_document_nested_absurdly_deep_is_one_reject_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = tmp_path / "deep.json"
    path.write_text(text)
    status, got = check_json(capsys, str(path))
    assert status == 1
    (row,) = got
    assert (
        "cannot be read at line 1 (nested deeper than 128 levels" in row["findings"][0]["message"]
    )


def test_nesting_within_the_limit_and_brackets_in_strings_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = "[" * 120 + "]" * 120
    path = tmp_path / "r.json"
    path.write_text(
        f'[{{"sampleId": "S-1", "absorbance": 0.3, "x": {deep}, "note": "{"[" * 500}\\""}},\n'
        f' {{"sampleId": "S-2", "absorbance": 0.3, "note": "{"{" * 500}"}}]'
    )
    status, got = check_json(capsys, str(path))
    assert [(r["sampleId"], r["verdict"]) for r in got] == [("S-1", "pass"), ("S-2", "pass")]
    assert status == 0
