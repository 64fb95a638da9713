"""Indices travel with the record: SQLite store, DynamoDB item, `uvqc trace`, `uvqc check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uvqc.adapters.dynamodb import record_from_item, record_item
from uvqc.adapters.sqlite import SqliteLedger, SqliteStore, connect
from uvqc.adapters.sqlite.trace import SqliteTrace
from uvqc.cli import main
from uvqc.cli.story import gather, story_dict, story_text
from uvqc.core.methods import MethodBook
from uvqc.pipeline.check import Incoming, judge_batch
from uvqc.pipeline.records import utcnow

SCANNED = json.dumps(
    {
        "sampleId": "Zürichsee Süd 4",
        "absorbance": 0.4,
        "pathLengthCm": 1,
        "docMgL": 4,
        "spectrum": {"wavelengthNm": [250, 254, 365], "absorbance": [0.5, 0.4, 0.1]},
    }
)


def test_indices_are_stored_with_the_record_and_shown_by_trace(tmp_path: Path) -> None:
    (record,) = judge_batch([Incoming("m-1", SCANNED, utcnow())], methods=MethodBook())
    assert record.indices is not None and record.indices["suva254"] == pytest.approx(10.0)
    conn = connect(tmp_path / "u.db")
    store = SqliteStore(conn)
    store.save_results([record])
    (back,) = store.results_for_sample("Zürichsee Süd 4")
    assert back.indices == record.indices
    story = gather(SqliteTrace(store, SqliteLedger(conn)), "Zürichsee Süd 4")
    assert "indices    uv254 0.4, a254PerM 92.12, suva254 10, e2e3 5" in story_text(story)
    assert story_dict(story)["results"][0]["indices"]["e2e3"] == pytest.approx(5.0)
    assert record_from_item(record_item(record)).indices == record.indices


def test_check_json_writes_indices_for_scanned_results_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(SCANNED + "\n" + json.dumps({"sampleId": "B", "absorbance": 0.3}) + "\n")
    main(["check", str(path), "--format", "json"])
    scanned, plain = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert scanned["indices"]["uv254"] == pytest.approx(0.4)
    assert scanned["indices"]["s275to295"] is None
    assert "indices" not in plain
