"""The check stage with records a store cannot take, and with submitted lines (pure, in
memory): a record that can never be stored fails alone and is reported `dead` by message
id; a submission id gives the record id, the source reaches the record."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from uvqc.core.methods import MethodBook
from uvqc.errors import UnstorableRecords
from uvqc.pipeline.check import Incoming, check_batch
from uvqc.pipeline.records import ResultRecord
from uvqc.pipeline.submission import START, Oversized, record_id_for, submission_id
from uvqc.testing import MemoryNotifyQueue, MemoryStore, MemoryWindows

WHEN = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


class RefusingStore(MemoryStore):
    """Stores every record except those of the refused sample IDs (as DynamoDB refuses an
    item over its size limit)."""

    def __init__(self, refused: set[str]) -> None:
        super().__init__()
        self.refused = refused

    def save_results(self, records: Sequence[ResultRecord]) -> None:
        bad = {r.record_id: "too large" for r in records if r.sample_id in self.refused}
        super().save_results([r for r in records if r.record_id not in bad])
        if bad:
            raise UnstorableRecords(bad)


def body(sample: str, absorbance: float) -> str:
    return json.dumps({"sampleId": sample, "absorbance": absorbance})


def test_a_record_that_cannot_be_stored_is_dead_alone_by_its_message_id() -> None:
    store, notify = RefusingStore({"S-BAD"}), MemoryNotifyQueue()
    sid = submission_id(START, ":2", b"{}")
    messages = [
        Incoming("m1", body("S-1", 1.5), WHEN, source="f.jsonl:1"),
        Incoming("m2", body("S-BAD", 1.5), WHEN, source="f.jsonl:2", submission_id=sid),
        Incoming("m3", body("S-3", 0.4), WHEN),
    ]
    outcome = check_batch(
        messages, methods=MethodBook(), store=store, notify=notify, windows=MemoryWindows()
    )
    assert outcome.dead == {"m2": "too large"}
    assert outcome.failed == []
    assert sorted(store.results) == ["m1", "m3"]
    assert store.results["m1"].source == "f.jsonl:1"
    assert [r.sample_id for r in notify.requests] == ["S-1"]


def test_a_submitted_line_is_recorded_under_its_submission_id_whatever_its_message_id() -> None:
    store, notify = MemoryStore(), MemoryNotifyQueue()
    sid = submission_id(START, ":7", b"[]")
    for message_id in ("first-delivery", "second-copy"):
        check_batch(
            [Incoming(message_id, body("S-7", 0.4), WHEN, submission_id=sid, source="d:7")],
            methods=MethodBook(),
            store=store,
            notify=notify,
            windows=MemoryWindows(),
        )
    assert list(store.results) == [record_id_for("x", sid)] == [sid[:32]]


def test_an_oversized_stand_in_is_the_reject_the_core_gives_with_the_excerpt_kept() -> None:
    raw = b'{"sampleId": "S-HUGE", "note": "' + b"x" * 300_000 + b'"}'
    store, notify = MemoryStore(), MemoryNotifyQueue()
    stand_in = Oversized.of(raw, 262_144)
    check_batch(
        [Incoming("m", stand_in.to_json(), WHEN, oversized=stand_in, source="big.jsonl:3")],
        methods=MethodBook(),
        store=store,
        notify=notify,
        windows=MemoryWindows(),
    )
    (record,) = store.results.values()
    assert record.sample_id == "S-HUGE" and record.verdict.value == "reject"
    assert (
        record.findings[0].message
        == f"Rejected: payload is {len(raw)} bytes, over the 262144 limit."
    )
    assert record.raw_truncated and record.raw_bytes == len(raw) and len(record.raw) == 4096
    assert record.source == "big.jsonl:3"
