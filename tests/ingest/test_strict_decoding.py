"""Bytes that are not text in the file's encoding never become U+FFFD: two different sample
names must never be read as one."""

from __future__ import annotations

import codecs

from hypothesis import given, settings
from hypothesis import strategies as st

from uvqc.ingest.results import Options, ingest_bytes

from .conftest import messages

SCAN = "Wavelength (nm),Abs,Wavelength (nm),Abs,\r\n260,0.1000,260,0.2000,\r\n\r\n"


def ingest(data: bytes):  # type: ignore[no-untyped-def]
    return ingest_bytes(data, "run.csv", options=Options(wavelength_nm=260.0))


def test_cp1252_bytes_after_a_utf8_bom_refuse_the_file_naming_the_line_and_the_fix() -> None:
    names = "Probe Müll µg,,Probe Möll µg,,\r\n"
    out = ingest(codecs.BOM_UTF8 + (names + SCAN).encode("cp1252"))
    assert out.messages == [] and out.refusal_kind == "encoding"
    reason = out.file_refusal or ""
    assert reason.startswith("line 1: bytes fc ")
    assert "byte-order mark" in reason and "re-export the file as UTF-8" in reason
    assert "\ufffd" not in reason


def test_the_same_cp1252_file_without_the_bom_reads_both_names_apart() -> None:
    out = ingest(("Probe Müll µg,,Probe Möll µg,,\r\n" + SCAN).encode("cp1252"))
    assert [m["sampleId"] for m in messages(out.messages)] == ["Probe Müll µg", "Probe Möll µg"]


def test_a_byte_undefined_in_cp1252_refuses_the_file() -> None:
    out = ingest(b"Probe \x81,,\r\n" + b"Wavelength (nm),Abs,\r\n260,0.1,\r\n")
    assert out.refusal_kind == "encoding" and (out.file_refusal or "").startswith("line 1:")


def test_a_lone_utf16_surrogate_refuses_the_file_naming_its_line() -> None:
    body = "S1,,\r\n".encode("utf-16-le") + b"\x00\xd8" + ",,\r\n".encode("utf-16-le")
    out = ingest(codecs.BOM_UTF16_LE + body + SCAN.encode("utf-16-le"))
    assert out.refusal_kind == "encoding" and (out.file_refusal or "").startswith("line 2:")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=6), min_size=2, max_size=2, unique=True))
def test_no_sample_id_ever_holds_a_replacement_character(raw: list[bytes]) -> None:
    names = b",,".join(
        b"P" + r.replace(b",", b"").replace(b"\r", b"").replace(b"\n", b"") for r in raw
    )
    for prefix in (b"", codecs.BOM_UTF8):
        out = ingest(prefix + names + b",,\r\n" + SCAN.encode())
        for m in messages(out.messages):
            assert "\ufffd" not in m["sampleId"] or "\ufffd".encode() in names
