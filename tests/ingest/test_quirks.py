"""Each quirk of real exports as a test: encodings, line ends, quoting, decimation, baseline."""

from __future__ import annotations

import codecs
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uvqc.core.models import MAX_PAYLOAD_BYTES
from uvqc.ingest.results import Options, ingest_bytes
from uvqc.ingest.text import json_numbers, numbers

from .conftest import fixture, messages

SCAN = "Wavelength (nm),Abs,\n230.0,0.2,\n220.0,0.3,\n210.0,0.4,\n"


def one(data: bytes, name: str = "x.csv", **kw: object) -> dict:  # type: ignore[type-arg]
    out = ingest_bytes(data, name, options=Options(wavelength_nm=220.0, **kw))  # type: ignore[arg-type]
    assert out.file_refusal is None, out.file_refusal
    (msg,) = messages(out.messages)
    return msg


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-8", codecs.BOM_UTF8),
    ],
)
def test_boms_decide_the_encoding(encoding: str, bom: bytes) -> None:
    data = bom + ("Probe ä,,\r\n" + SCAN.replace("\n", "\r\n")).encode(encoding)
    assert one(data)["sampleId"] == "Probe ä"


def test_utf16_without_a_bom_is_recognised_by_its_nul_bytes() -> None:
    assert one(("Probe,,\n" + SCAN).encode("utf-16-le"))["absorbance"] == 0.3


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_every_line_end(newline: str) -> None:
    assert one(("Probe,,\n" + SCAN).replace("\n", newline).encode())["absorbance"] == 0.3


def test_a_quoted_newline_in_a_header_cell_is_one_cell() -> None:
    msg = one(('"Probe\n7",,\n' + SCAN).encode())
    assert msg["sampleId"] in {"Probe 7", "Probe7"}
    assert msg["absorbance"] == 0.3


def test_stray_spaces_in_header_cells() -> None:
    assert (
        one(b"  Probe  ,,\n Wavelength (nm) , Abs ,\n230,0.2,\n220,0.3,\n")["sampleId"] == "Probe"
    )


def test_interpolation_between_unevenly_spaced_neighbours() -> None:
    msg = one(b"nm,A\n230,0.2\n221.5,0.29\n217.25,0.5\n")
    expected = 0.29 + (0.5 - 0.29) * (220 - 221.5) / (217.25 - 221.5)
    assert msg["absorbance"] == pytest.approx(expected)
    assert "interpolated between 217.25 and 221.5 nm" in msg["ingest"]["notes"][0]


def test_baseline_correction_at_a_reference_wavelength() -> None:
    msg = one(b"nm,A\n700,0.05\n230,0.2\n220,0.3\n", baseline_nm=700.0)
    assert msg["absorbance"] == pytest.approx(0.25)
    assert any("baseline-corrected at 700 nm" in n for n in msg["ingest"]["notes"])


def test_a_huge_scan_is_decimated_to_fit_and_says_so() -> None:
    n = 30_000
    body = "\n".join(f"{200 + i * 0.02:.4f},{math.sin(i) / 3 + 0.5:.12f}" for i in range(n))
    out = ingest_bytes(("nm,A\n" + body).encode(), "big.txt", options=Options(wavelength_nm=220.0))
    (raw,) = out.messages
    assert len(raw) <= MAX_PAYLOAD_BYTES
    msg = json.loads(raw)
    kept = msg["spectrumDecimated"]
    assert kept["fromPoints"] == n and kept["toPoints"] == len(msg["spectrum"]["wavelengthNm"])
    assert msg["spectrum"]["wavelengthNm"][-1] == pytest.approx(200 + (n - 1) * 0.02)
    assert any("decimated" in note for note in msg["ingest"]["notes"])


def test_quant_percent_t_converted_and_zero_percent_t_refused() -> None:
    data = b"Sample Name,Ordinate [%T]\nA,10\nB,0\n"
    out = ingest_bytes(data, "q.csv", options=Options())
    (msg,) = messages(out.messages)
    assert msg["absorbance"] == pytest.approx(1.0)
    assert out.refused[0].name == "B" and "%T 0.0 <= 0" in out.refused[0].reason


def test_a_forced_format_reads_its_layout_and_refuses_others_saying_what_it_looks_like() -> None:
    forced = ingest_bytes(
        fixture("genesys30.tsv").read_bytes(),
        "g.tsv",
        options=Options(wavelength_nm=220.0),
        fmt="genesys",
    )
    assert len(forced.messages) == 1
    out = ingest_bytes(
        fixture("genesys30.tsv").read_bytes(),
        "g.tsv",
        options=Options(wavelength_nm=220.0),
        fmt="cary",
    )
    assert out.file_refusal is not None
    assert "not in the Agilent Cary WinUV CSV layout" in out.file_refusal
    assert "looks like Thermo Genesys 30/150" in out.file_refusal


def test_a_non_number_inside_the_data_refuses_that_sample_naming_line_and_column() -> None:
    data = b"A,,B,,\nWavelength (nm),Abs,Wavelength (nm),Abs,\n230,0.2,230,0.2,\n220,abc,220,0.3,\n"
    out = ingest_bytes(data, "c.csv", options=Options(wavelength_nm=220.0))
    assert [m["sampleId"] for m in messages(out.messages)] == ["B"]
    (refused,) = out.refused
    assert (refused.name, refused.line, refused.column) == ("A", 4, 2)
    assert "'abc'" in refused.reason


def test_nan_and_infinity_text_are_never_numbers() -> None:
    for bad in (b"NaN", b"inf", b"-Infinity", b"1e400", b"1_0"):
        out = ingest_bytes(
            b"nm,A\n230,0.2\n220," + bad + b"\n", "n.txt", options=Options(wavelength_nm=230.0)
        )
        assert out.messages == [] and out.refused, bad


def test_the_example_jcamp_fixture_shows_no_jcamp_prints_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ingest_bytes(
        fixture("jcamp_link.jdx").read_bytes(), "j.jdx", options=Options(wavelength_nm=220.0)
    )
    assert capsys.readouterr().out == ""


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=30),
    st.data(),
)
def test_numbers_written_as_in_the_file_parse_back_to_the_same_floats(
    values: list[float], data: st.DataObject
) -> None:
    styles = [
        repr,
        lambda v: f"{v:.6e}",
        lambda v: f"{v:E}",
        lambda v: f"{v:+.3f}",
        lambda v: f"{v:.0f}.",
    ]
    cells = [data.draw(st.sampled_from(styles))(v) for v in values]
    parsed = numbers(cells)
    if parsed is None:
        return
    text = json_numbers(cells)
    if text is not None:
        assert json.loads("[" + ",".join(text) + "]") == parsed


def test_a_preamble_before_two_columns_is_skipped_unless_it_says_what_the_file_is() -> None:
    assert one(b"River 7\nUV-1800 export\nnm\tAbs\n230\t0.2\n220\t0.3\n")["absorbance"] == 0.3
    for preamble, kind in [(b"Emission scan", "fluorescence"), (b"Kinetics run", "kinetics")]:
        out = ingest_bytes(
            preamble + b"\n400\t10\n410\t12\n", "p.txt", options=Options(wavelength_nm=400.0)
        )
        assert out.refusal_kind == kind


def test_a_cary_file_re_saved_by_a_spreadsheet_with_semicolons_and_decimal_commas() -> None:
    data = (
        "STD 1;;W-1;;\nWavelength (nm);Abs;Wavelength (nm);Abs;\n"
        "230,0;0,2;230,0;0,1;\n220,0;0,3;220,0;-0,000;\n\n"
    )
    out = ingest_bytes(data.encode("cp1252"), "c.csv", options=Options(wavelength_nm=220.0))
    assert out.format == "cary"
    assert [(m["sampleId"], m["absorbance"]) for m in messages(out.messages)] == [
        ("STD 1", 0.3),
        ("W-1", 0.0),
    ]


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"230,NaN\n220,0.3\n210,0.4\n", 1),  # bare: the first data row is not a header
        (b"nm,A\n230,NaN\n220,0.3\n", 2),  # under a header
        (b"230\tabc\r\n220\t0.3\r\n210\t0.4\r\n", 1),  # tab, CRLF, text for a value
    ],
)
def test_a_bad_value_in_the_first_data_row_is_refused_by_cell_not_taken_for_a_header(
    data: bytes, line: int
) -> None:
    out = ingest_bytes(data, "n.txt", options=Options(wavelength_nm=220.0))
    assert out.file_refusal is None
    (refused,) = out.refused
    assert (refused.line, refused.column) == (line, 2)
    assert "not a finite number" in refused.reason and "y axis" not in refused.reason


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Europe/Berlin", "2026-11-27T08:41:07+01:00"),
        ("America/New_York", "2026-11-27T08:41:07-05:00"),
    ],
)
def test_a_collection_time_without_an_offset_is_read_on_the_instruments_clock(
    zone: str, expected: str
) -> None:
    """Cary writes its PC's local time with no offset: read in UVQC_INGEST_TIMEZONE (not as
    UTC), and the notes say so."""
    from zoneinfo import ZoneInfo

    out = ingest_bytes(
        fixture("cary_scan.csv").read_bytes(),
        "cary_scan.csv",
        options=Options(wavelength_nm=230.0, timezone=ZoneInfo(zone)),
    )
    assert json.loads(out.messages[0])["measuredAt"] == expected
    assert any(f"read as {zone}" in n for n in out.notes)


def test_the_instruments_time_zone_setting_is_an_iana_name() -> None:
    from uvqc.errors import SettingsError
    from uvqc.settings import load_settings

    assert str(load_settings(ingest_timezone="Europe/Berlin").ingest_zone) == "Europe/Berlin"
    with pytest.raises(SettingsError, match="unknown time zone 'Mars/Olympus'"):
        load_settings(ingest_timezone="Mars/Olympus")


@pytest.mark.parametrize(
    ("when", "expected", "said"),
    [
        ("3/29/2026 2:30:00 AM", "2026-03-29T02:30:00+01:00", "does not exist"),
        ("10/25/2026 2:30:00 AM", "2026-10-25T02:30:00+02:00", "happened twice"),
    ],
)
def test_a_collection_time_in_a_daylight_saving_change_is_read_and_said(
    when: str, expected: str, said: str
) -> None:
    from zoneinfo import ZoneInfo

    data = fixture("cary_scan.csv").read_bytes().replace(b"11/27/2026 8:41:07 AM", when.encode())
    assert when.encode() in data
    out = ingest_bytes(
        data, "c.csv", options=Options(wavelength_nm=230.0, timezone=ZoneInfo("Europe/Berlin"))
    )
    assert json.loads(out.messages[0])["measuredAt"] == expected
    assert any(said in n for n in out.notes)
