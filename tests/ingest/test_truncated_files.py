"""A file cut short (a copy interrupted, an export that died) never gives a wrong absorbance:
the samples whose last value was cut are refused, naming the line."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uvqc.ingest.formats.table import ColumnMap
from uvqc.ingest.results import FileOutcome, Options, ingest_bytes

from .conftest import messages

CARY_HEAD = "S1,,S2,,\r\nWavelength (nm),Abs,Wavelength (nm),Abs,\r\n270,0.3000,270,0.3100,\r\n"


def at(data: bytes, nm: float = 260.0, name: str = "run.csv") -> FileOutcome:
    return ingest_bytes(data, name, options=Options(wavelength_nm=nm))


def absorbances(out: FileOutcome) -> dict[str, float]:
    return {m["sampleId"]: m["absorbance"] for m in messages(out.messages)}


def test_a_cary_file_cut_mid_number_refuses_the_cut_sample_naming_the_line() -> None:
    out = at((CARY_HEAD + "260,0.2500,260,0.2").encode())
    assert absorbances(out) == {"S1": 0.25}  # S2 is never read as 0.2
    (refusal,) = out.refused
    assert refusal.name == "S2" and refusal.line == 4
    assert "line 4: the file ends inside a data row" in refusal.reason
    assert "truncated export? re-export the file" in refusal.reason


def test_a_cary_file_cut_inside_the_first_pair_refuses_every_sample_it_cut() -> None:
    out = at((CARY_HEAD + "254,0.").encode(), nm=254.0)
    assert out.messages == []
    assert [r.name for r in out.refused] == ["S1", "S2"]
    assert all("ends inside a data row" in r.reason for r in out.refused)


def test_a_last_row_without_the_trailing_delimiter_is_cut_even_with_a_line_end() -> None:
    out = at((CARY_HEAD + "260,0.2500,260,0.2\r\n").encode())
    assert absorbances(out) == {"S1": 0.25}
    assert "lacks the delimiter every other row ends with" in out.refused[0].reason


def test_a_ragged_pair_that_ended_earlier_is_not_refused_for_the_cut() -> None:
    head = "S1,,S2,,\r\nWavelength (nm),Abs,Wavelength (nm),Abs,\r\n"
    rows = "270,0.3000,270,0.3100,\r\n265,0.2800,,,\r\n260,0.25"
    out = at((head + rows).encode(), nm=270.0)
    assert absorbances(out) == {"S2": 0.31}
    assert [r.name for r in out.refused] == ["S1"]


def test_a_cary_file_ending_after_a_whole_row_without_line_end_is_read_with_a_note() -> None:
    out = at((CARY_HEAD + "260,0.2500,260,0.2600,").encode())
    assert absorbances(out) == {"S1": 0.25, "S2": 0.26}
    assert any("truncated export?" in n for n in out.notes)


def test_a_whole_cary_file_with_its_line_ends_gives_no_refusal_and_no_note() -> None:
    out = at((CARY_HEAD + "260,0.2500,260,0.2600,\r\n\r\nS1\r\n").encode())
    assert absorbances(out) == {"S1": 0.25, "S2": 0.26} and out.notes == []


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_cut_inside_the_last_cary_row_never_gives_a_wrong_absorbance(
    data: st.DataObject,
) -> None:
    last = "260,0.2573,260,0.2681,"
    whole = absorbances(at((CARY_HEAD + last + "\r\n").encode()))
    cut = data.draw(st.integers(1, len(last)))
    out = at((CARY_HEAD + last[:cut]).encode())
    for sample, value in absorbances(out).items():
        assert value == whole[sample]
    assert {m["sampleId"] for m in messages(out.messages)} | {r.name for r in out.refused} == {
        "S1",
        "S2",
    }


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("two.txt", "nm\tA\r\n270\t0.3000\r\n265\t0.2800\r\n"),
        ("pe.csv", "Created as New Dataset,\r\nnm,A\r\n270.00,0.3000\r\n265.00,0.2800\r\n"),
    ],
)
def test_other_scan_readers_refuse_a_last_row_cut_mid_number(name: str, head: str) -> None:
    delim = "\t" if "\t" in head else ","
    first = "260" if "\t" in head else "260.00"
    out = at((head + f"{first}{delim}0.2").encode(), name=name)
    assert out.messages == []
    (refusal,) = out.refused
    assert "ends inside a data row" in refusal.reason and "re-export" in refusal.reason
    assert refusal.line == head.count("\n") + 1


def test_a_short_number_in_a_file_without_a_fixed_format_is_read() -> None:
    out = at(b"nm\tA\r\n270\t0.3\r\n265\t0.28\r\n260\t0.2", name="two.txt")
    assert absorbances(out) == {"two": 0.2}


def test_a_result_table_whose_last_row_is_cut_refuses_that_row_only() -> None:
    data = b"Sample Name,Ordinate [A]\r\nP1,0.1234\r\nP2,0.2345\r\nP3,0.3"
    out = at(data, name="quant.csv")
    assert absorbances(out) == {"P1": 0.1234, "P2": 0.2345}
    assert out.refused[0].name == "P3" and "ends inside a data row" in out.refused[0].reason


def test_a_mapped_table_whose_last_row_is_cut_refuses_that_row_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    m = tmp_path / "m.toml"
    m.write_text('sampleName = "ID"\nabsorbance = "Abs"\nwavelengthNm = 220\n')
    data = b"ID;Abs;Dil\r\nL1;0,1230;1\r\nL2;0,4560;1\r\nL3;0,4"
    out = ingest_bytes(data, "lims.csv", options=Options(), mapping=ColumnMap.load(m))
    assert absorbances(out) == {"L1": 0.123, "L2": 0.456}
    assert [r.name for r in out.refused] == ["L3"]


def test_a_cut_utf16_file_says_so() -> None:
    body = "nm\tA\r\n270\t0.3000\r\n260\t0.2500\r\n".encode("utf-16-le")
    out = at(codecs.BOM_UTF16_LE + body + b"2", name="g.txt")
    assert absorbances(out) == {"g": 0.25}
    assert any("odd number of bytes" in n and "cut" in n for n in out.notes)


def test_a_utf16_file_cut_mid_number_refuses_the_cut_row() -> None:
    body = "nm\tA\r\n270\t0.3000\r\n265\t0.2800\r\n260\t0.25".encode("utf-16-le")
    out = at(codecs.BOM_UTF16_LE + body + b"0", name="g.txt")
    assert out.messages == [] and "ends inside a data row" in out.refused[0].reason
    assert any("odd number of bytes" in n for n in out.notes)
