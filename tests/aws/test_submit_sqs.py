"""`uvqc submit --queue-url` (issue 8 case 7, issue 9 case 11) on moto over HTTP, with SQS's
size and character limits enforced by hooks (tests/aws/limits.py; moto checks neither the
character set nor attributes in the size): one bad line no longer refuses the whole file
after earlier chunks were sent; every line is sent, with its exact source; lines SQS cannot
carry go as stand-ins that the check stage turns into the embedded runtime's verdict; a
re-run sends nothing twice."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from uvqc.adapters import boto
from uvqc.adapters.dynamodb import record_from_item
from uvqc.aws import check_handler
from uvqc.cli import main

from .conftest import make_ledger_table, make_queues, make_records_table
from .esm import EventSourceMapping
from .limits import AwsLimits

AwsFactory = Callable[[str], Any]
BIG_LINE = json.dumps({"sampleId": "S-HUGE", "absorbance": 0.4, "note": "x" * 300_000}).encode()


@pytest.fixture
def limits(aws: AwsFactory) -> Iterator[AwsLimits]:
    yield AwsLimits().install(boto.client("sqs"))


def day_file(tmp_path: Path) -> Path:
    """Twelve lines: ordinary results, one not UTF-8 (line 4), one of 300 KB (line 7), one
    with U+FFFF in its sample ID (line 9), one that is not JSON (line 12)."""
    lines = [json.dumps({"sampleId": f"S-{n}", "absorbance": 0.4}).encode() for n in range(1, 13)]
    lines[3] = b'{"sampleId": "S-4", "absorbance": 0.4, "note": "caf\xe9"}'
    lines[6] = BIG_LINE
    lines[8] = '{"sampleId": "S-9\uffff", "absorbance": 1.5}'.encode()
    lines[11] = b"not json"
    path = tmp_path / "day.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        found += batch
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return found


def test_every_line_is_sent_with_its_exact_source_even_lines_sqs_cannot_carry(
    aws: AwsFactory,
    tmp_path: Path,
    limits: AwsLimits,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("uvqc.adapters.submissions.CHUNK", 5)  # lines 1-5, 6-10, 11-12
    intake = make_queues(aws("sqs"), "intake")
    data = day_file(tmp_path)
    assert main(["submit", str(data), "--queue-url", intake.url]) == 0
    assert f"submitted 12 message(s) to {intake.url}" in capsys.readouterr().out
    assert limits.refused == []
    messages = drain(aws("sqs"), intake.url)
    by_source = {m["MessageAttributes"]["source"]["StringValue"]: m for m in messages}
    assert sorted(by_source) == sorted(f"{data}:{n}" for n in range(1, 13))
    stand_ins = {
        s: m["MessageAttributes"]["standIn"]["StringValue"]
        for s, m in by_source.items()
        if "standIn" in m["MessageAttributes"]
    }
    # Line 7 (300 KB) is refused by the file reader already: its explanation and an excerpt
    # travel as an ordinary message (adapters.files.iter_messages).
    assert stand_ins == {f"{data}:4": "base64", f"{data}:9": "base64"}
    assert len({m["MessageAttributes"]["submissionId"]["StringValue"] for m in messages}) == 12


def test_the_check_stage_gives_each_line_its_verdict_and_source(
    aws: AwsFactory, tmp_path: Path, limits: AwsLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs, db = aws("sqs"), aws("dynamodb")
    intake, notify = make_queues(sqs, "intake"), make_queues(sqs, "notify")
    table = make_records_table(db)
    data = day_file(tmp_path)
    assert main(["submit", str(data), "--queue-url", intake.url]) == 0
    env = {
        "UVQC_RECORDS_TABLE": table,
        "UVQC_NOTIFY_QUEUE_URL": notify.url,
        "UVQC_LEDGER_TABLE": make_ledger_table(db),
    }
    esm = EventSourceMapping(sqs, intake.url, check_handler.handler, batch_size=10, environment=env)
    while esm.poll_once():
        pass
    records = {
        r.source: r for r in map(record_from_item, db.scan(TableName=table)["Items"]) if r.source
    }
    assert len(records) == 12
    huge = records[f"{data}:7"]
    assert huge.verdict.value == "reject" and huge.sample_id == "S-HUGE"
    assert f"payload is {len(BIG_LINE)} bytes" in huge.findings[0].message
    assert huge.raw.startswith(f"uvqc: payload is {len(BIG_LINE)} bytes")  # the reader's word
    assert '{"sampleId": "S-HUGE"' in huge.raw  # and the kept excerpt
    assert records[f"{data}:4"].verdict.value == "reject"  # not UTF-8, as embedded
    # U+FFFF arrived intact (base64), and the validator refuses it in a sample ID: SQS and
    # XML cannot carry it in an attribute or an e-mail header.
    assert records[f"{data}:9"].verdict.value == "reject"
    assert records[f"{data}:12"].verdict.value == "reject"
    assert records[f"{data}:1"].verdict.value == "pass"
    assert limits.refused == []


def test_a_rerun_sends_nothing_twice_and_says_so(
    aws: AwsFactory, tmp_path: Path, limits: AwsLimits, capsys: pytest.CaptureFixture[str]
) -> None:
    intake = make_queues(aws("sqs"), "intake")
    data = day_file(tmp_path)
    assert main(["submit", str(data), "--queue-url", intake.url]) == 0
    assert main(["submit", str(data), "--queue-url", intake.url]) == 0
    out = capsys.readouterr().out
    assert "submitted 0 message(s), 12 already submitted, skipped" in out
    assert len(drain(aws("sqs"), intake.url)) == 12
    assert (tmp_path / "var" / "sqs-submissions.db").exists()  # UVQC_SUBMIT_JOURNAL


def test_an_interrupted_submit_resumes_where_it_stopped(
    aws: AwsFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQS fails on the third SendMessageBatch: the first two are journaled, the re-run
    sends only the rest."""
    intake = make_queues(aws("sqs"), "intake")
    data = tmp_path / "many.jsonl"
    data.write_text(
        "\n".join(json.dumps({"sampleId": f"S-{n}", "absorbance": 0.4}) for n in range(35))
    )
    calls = {"n": 0}

    def flaky(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url=intake.url)

    boto.client("sqs").meta.events.register("before-call.sqs.SendMessageBatch", flaky)
    assert main(["submit", str(data), "--queue-url", intake.url]) != 0
    err = capsys.readouterr().err
    assert "after 20 message(s)" in err and "run the same command again" in err
    assert main(["submit", str(data), "--queue-url", intake.url]) == 0
    assert "submitted 15 message(s), 20 already submitted, skipped" in capsys.readouterr().out
    bodies = [json.loads(m["Body"])["sampleId"] for m in drain(aws("sqs"), intake.url)]
    assert sorted(bodies) == sorted(f"S-{n}" for n in range(35))


def test_a_line_delivered_twice_is_one_record(
    aws: AwsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal can lose its last rows in a power cut: the line is sent again, and the
    check stage records it under the same record id (derived from its submission id)."""
    sqs, db = aws("sqs"), aws("dynamodb")
    intake, notify = make_queues(sqs, "intake"), make_queues(sqs, "notify")
    table = make_records_table(db)
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"sampleId": "S-1", "absorbance": 1.5}) + "\n")
    for n in range(2):
        monkeypatch.setenv("UVQC_SUBMIT_JOURNAL", str(tmp_path / f"journal-{n}.db"))
        assert main(["submit", str(data), "--queue-url", intake.url]) == 0
    env = {
        "UVQC_RECORDS_TABLE": table,
        "UVQC_NOTIFY_QUEUE_URL": notify.url,
        "UVQC_LEDGER_TABLE": make_ledger_table(db),
    }
    esm = EventSourceMapping(sqs, intake.url, check_handler.handler, batch_size=1, environment=env)
    while esm.poll_once():
        pass
    (item,) = db.scan(TableName=table)["Items"]
    assert record_from_item(item).source == f"{data}:1"
