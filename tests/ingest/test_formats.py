"""Each fixture reproduces one export layout or quirk; each test states what a lab would see."""

from __future__ import annotations

import math

import pytest

from uvqc.ingest.formats.table import ColumnMap
from uvqc.ingest.results import Options, ingest_bytes

from .conftest import fixture, messages


def run(name: str, wavelength: float | None = 220.0, **kw: object):  # type: ignore[no-untyped-def]
    path = fixture(name)
    return ingest_bytes(path.read_bytes(), name, options=Options(wavelength_nm=wavelength), **kw)  # type: ignore[arg-type]


def test_cary_pairs_columns_skips_baselines_keeps_over_range_and_refuses_only_the_bad_sample() -> (
    None
):
    out = run("cary_scan.csv")
    assert out.format == "cary"
    assert out.skipped == ["Baseline 100%T"]
    msgs = messages(out.messages)
    assert [m["sampleId"] for m in msgs] == ["STD 0.5", "W-12-DUP"]
    std, dup = msgs
    assert std["absorbance"] == pytest.approx(0.7002, abs=1e-3)  # interpolated next to 220.005
    assert std["sampleType"] == "calibration_standard" and std["nominal"] == 0.5
    assert std["measuredAt"] == "2026-11-27T08:41:07"
    assert std["instrumentId"] == "Cary 60"
    assert dup["sampleType"] == "duplicate" and dup["duplicateOf"] == "W-12"
    # Its metadata block has no collection time: no measuredAt, never another sample's
    # (a fresh user saw the baseline's time given to such a sample).
    assert "measuredAt" not in dup
    assert 10.0 in dup["spectrum"]["absorbance"]  # over-range marker kept as written
    # W-12 (refused) keeps its tray position 2: the DUP stays at 3, as on the instrument
    assert [m["sequence"] for m in msgs] == [1, 3] and {m["batchSize"] for m in msgs} == {3}
    assert msgs[0]["batchId"] == msgs[1]["batchId"]
    assert std["source"]["file"] == "cary_scan.csv" and len(std["source"]["sha256"]) == 64
    (refused,) = out.refused
    assert refused.name == "W-12" and "%T <= 0 at 220 nm" in refused.reason
    assert refused.position == 2


def test_cary_percent_t_is_converted_before_interpolation() -> None:
    out = run("cary_scan.csv", wavelength=235.0)
    w12 = next(m for m in messages(out.messages) if m["sampleId"] == "W-12")
    a240, a230 = 2 - math.log10(10.0), 2 - math.log10(25.1)
    assert w12["absorbance"] == pytest.approx((a240 + a230) / 2)
    assert w12["spectrum"]["wavelengthNm"] == [240.0, 230.0]  # %T 0 point left out, ragged end
    assert any("%T <= 0" in n for n in w12["ingest"]["notes"])


def test_kinetics_fluorescence_reflectance_units_binary_and_unknown_are_refused_by_kind() -> None:
    kinds = {
        "cary_kinetics.csv": "kinetics",
        "visionlite_rate.csv": "kinetics",
        "jasco_fluorescence.txt": "fluorescence",
        "shimadzu_reflectance.txt": "reflectance",
        "jcamp_logeps.jdx": "units",
        "jcamp_infrared.jdx": "unknown",
        "native.spc": "binary",
        "zipped.csv": "binary",
        "unknown.csv": "unknown",
    }
    for name, kind in kinds.items():
        out = run(name)
        assert out.messages == [], name
        assert out.refusal_kind == kind, (name, out.file_refusal)
    assert "--map" in (run("unknown.csv").file_refusal or "")
    assert "OLE2" in (run("native.spc").file_refusal or "")


def test_cp1252_sample_name_survives() -> None:
    (msg,) = messages(run("cary_cp1252.csv").messages)
    assert msg["sampleId"] == "Échantillon µ 3"


def test_shimadzu_decimal_commas_inside_exponents_and_cr_line_ends() -> None:
    out = run("shimadzu_comma.txt", wavelength=225.0)
    (msg,) = messages(out.messages)
    assert msg["sampleId"] == "Nitrate 5"
    assert msg["absorbance"] == 0.0
    assert msg["spectrum"]["wavelengthNm"] == [230.0, 225.0, 220.0, 215.0]
    assert msg["spectrum"]["absorbance"] == [0.25, 0.0, 0.4, -0.0]


def test_headerless_decimal_comma_columns_are_a_scan_named_by_the_stem() -> None:
    (msg,) = messages(run("shimadzu_headerless.txt").messages)
    assert msg["sampleId"] == "shimadzu_headerless"
    assert msg["absorbance"] == 0.4


def test_visionlite_scan_metadata_and_percent_t() -> None:
    out = run("visionlite_scan.csv", wavelength=221.0)
    (msg,) = messages(out.messages)
    assert msg["sampleId"] == "S-7"
    assert msg["absorbance"] == pytest.approx(2 - math.log10(31.62))
    assert msg["instrumentId"] == "Evolution 201 A1B2C3"
    assert msg["measuredAt"] == "2026-11-27T09:02:11"
    assert "-0.5" not in str(msg["spectrum"])


def test_visionlite_quant_needs_no_wavelength_and_maps_names_to_qc_fields() -> None:
    out = run("visionlite_quant.csv", wavelength=None)
    msgs = messages(out.messages)
    by = {m["sampleId"]: m for m in msgs}
    assert list(by) == ["STD 0.5", "CCV 2", "Blank", "S-1", "S-1-DUP", "S-2"]
    assert by["CCV 2"]["sampleType"] == "check_standard"
    assert by["Blank"]["sampleType"] == "blank"
    assert by["S-1"]["dilutionFactor"] == 2.0 and by["S-1"]["units"] == "mg/L"
    assert "spectrum" not in by["S-1"]
    (refused,) = out.refused
    assert refused.name == "S-1-MS" and refused.line == 9 and "'----'" in refused.reason


def test_visionlite_fixed_semicolons_decimal_commas_and_wavelength_from_the_header() -> None:
    msgs = messages(run("visionlite_fixed_semicolon.csv", wavelength=None).messages)
    assert [(m["sampleId"], m["absorbance"], m["wavelengthNm"]) for m in msgs] == [
        ("W 1", 0.312, 220.0),
        ("W 2", -0.004, 220.0),
    ]


@pytest.mark.parametrize("name", ["genesys30.tsv", "genesys150_utf16.csv"])
def test_genesys_takes_the_a_column_in_any_encoding(name: str) -> None:
    (msg,) = messages(run(name).messages)
    assert msg["sampleId"] == "GW-3"
    assert msg["absorbance"] == 0.43
    assert msg["ingest"]["format"] == "genesys"


def test_perkinelmer_bom_percent_t_aborted_scan_without_final_newline() -> None:
    (msg,) = messages(run("perkinelmer_aborted.csv").messages)
    assert msg["sampleId"] == "perkinelmer_aborted"  # the file names no sample
    assert msg["absorbance"] == pytest.approx(3.0)  # %T 0.1
    assert msg["spectrum"]["wavelengthNm"] == [240.0, 230.0, 220.0]


def test_jasco_header_and_cp932_trailer() -> None:
    (msg,) = messages(run("jasco_cp932.txt").messages)
    assert msg["sampleId"] == "River 4"
    assert msg["absorbance"] == 0.205
    assert msg["measuredAt"] == "2026-11-27T10:15:00"
    assert msg["spectrum"]["wavelengthNm"] == [230.0, 220.0, 210.0]


def test_jcamp_link_gives_one_result_per_block_affn_and_difdup() -> None:
    out = run("jcamp_link.jdx")
    msgs = messages(out.messages)
    assert [m["sampleId"] for m in msgs] == ["STD 1.0", "W-9"]
    assert msgs[0]["absorbance"] == pytest.approx(0.2)
    assert msgs[1]["spectrum"]["absorbance"] == pytest.approx([0.1, 0.11, 0.12, 0.13])
    assert msgs[1]["absorbance"] == pytest.approx(0.12)
    assert msgs[0]["nominal"] == 1.0


def test_two_column_text_with_duplicate_and_uneven_wavelengths() -> None:
    (msg,) = messages(run("two_column.txt").messages)
    assert msg["absorbance"] == 0.3
    assert "mean of 2 points" in " ".join(msg["ingest"]["notes"])


def test_generic_table_through_a_column_map() -> None:
    mapping = ColumnMap.load(fixture("lims.map.toml"))
    out = run("lims_table.csv", wavelength=None, mapping=mapping)
    msgs = messages(out.messages)
    assert [(m["sampleId"], m["absorbance"], m["dilutionFactor"]) for m in msgs] == [
        ("L-1", 0.123, 1.0),
        ("L-3", 0.456, 2.0),
    ]
    (refused,) = out.refused
    assert refused.name == "L-2" and "'n/a'" in refused.reason


def test_xlsx_through_a_column_map(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Sample ID", "Abs 220", "Dil"])
    sheet.append(["X-1", 0.25, 1])
    sheet.append(["X-1-MS", 0.5, 1])
    path = tmp_path / "hach.xlsx"
    book.save(path)
    mapping = ColumnMap.from_mapping(
        {"sampleName": "Sample ID", "absorbance": "Abs 220", "wavelengthNm": 220}
    )
    out = ingest_bytes(path.read_bytes(), "hach.xlsx", options=Options(), mapping=mapping)
    msgs = messages(out.messages)
    assert [(m["sampleId"], m["absorbance"]) for m in msgs] == [("X-1", 0.25), ("X-1-MS", 0.5)]
    assert msgs[1]["spikeOf"] == "X-1"
    assert out.format == "xlsx"


def test_a_scan_without_a_wavelength_is_refused_naming_the_option() -> None:
    out = run("jasco_cp932.txt", wavelength=None)
    assert out.messages == []
    assert "--wavelength" in out.refused[0].reason


def test_a_scan_that_does_not_reach_the_wavelength_is_refused_alone() -> None:
    out = run("jcamp_link.jdx", wavelength=221.5)
    assert [m["sampleId"] for m in messages(out.messages)] == ["STD 1.0"]
    assert "does not reach 221.5 nm" in out.refused[0].reason
