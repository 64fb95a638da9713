"""A refused sample keeps its tray position: later samples keep theirs, and run QC sees the
position missing (run_incomplete) instead of a renumbered run."""

from __future__ import annotations

from tests.runs.builder import config, result
from uvqc.ingest.naming import IngestConfig
from uvqc.ingest.results import Options, ingest_bytes
from uvqc.runs.evaluate import evaluate_run

from .conftest import messages

# Eleven positions; position 8 (P3) holds a NaN and is refused at ingest.
NAMES = ["STD 0", "STD 0.5", "STD 1", "STD 2", "STD 5", "P1", "P2", "P3", "P4", "P5", "CCV"]
VALUES = ["0.0100", "0.0600", "0.1100", "0.2100", "0.5100"] + ["0.1100"] * 5 + ["0.2100"]
VALUES[7] = "NaN"


def cary() -> bytes:
    names = "".join(f"{n},," for n in NAMES)
    labels = "Wavelength (nm),Abs," * len(NAMES)
    row = "".join(f"220,{v}," for v in VALUES)
    return f"{names}\r\n{labels}\r\n{row}\r\n\r\n".encode()


def ingest():  # type: ignore[no-untyped-def]
    rules = IngestConfig.from_mapping(
        {"naming": [{"pattern": "^CCV", "sampleType": "check_standard", "nominal": 2.0}]}, "lab"
    )
    return ingest_bytes(cary(), "tray.csv", options=Options(wavelength_nm=220.0, config=rules))


def test_a_refused_sample_leaves_its_position_unused_and_the_rest_keep_theirs() -> None:
    out = ingest()
    msgs = messages(out.messages)
    assert [(m["sampleId"], m["sequence"]) for m in msgs] == [
        (n, i) for i, n in enumerate(NAMES, 1) if n != "P3"
    ]
    assert {m["batchSize"] for m in msgs} == {11}
    (refused,) = out.refused
    assert (refused.name, refused.position) == ("P3", 8)


def test_run_qc_reports_the_refused_position_as_missing() -> None:
    msgs = messages(ingest().messages)
    batch = msgs[0]["batchId"]
    runs = [result(m) for m in msgs]
    open_run = evaluate_run(runs, config(), batch_id=batch)
    assert open_run.status == "open" and open_run.prefix == 7  # never complete by itself
    final = evaluate_run(runs, config(), batch_id=batch, final=True)
    (incomplete,) = [f for f in final.findings if f.code == "run_incomplete"]
    assert final.missing == (8,)
    assert "position(s) 8 of 11 never arrived" in incomplete.message
    assert "send (or re-measure) them" in incomplete.message
    p4 = next(line for line in final.results if line.sample_id == "P4")
    assert p4.sequence == 9


def test_refusals_after_reading_keep_their_position_too() -> None:
    # No analytical wavelength reached for the second scan: refused in to_messages.
    data = (
        b"A,,B,,C,,\r\nWavelength (nm),Abs,Wavelength (nm),Abs,Wavelength (nm),Abs,\r\n"
        b"220,0.1,300,0.2,220,0.3,\r\n\r\n"
    )
    out = ingest_bytes(data, "t.csv", options=Options(wavelength_nm=220.0))
    assert [(m["sampleId"], m["sequence"], m["batchSize"]) for m in messages(out.messages)] == [
        ("A", 1, 3),
        ("C", 3, 3),
    ]
    assert out.refused[0].position == 2
