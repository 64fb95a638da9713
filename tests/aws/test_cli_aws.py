"""The operator's commands against AWS APIs (moto over HTTP), as a person types them:
`uvqc submit --queue-url`, `uvqc trace --aws`, `uvqc dlq list|show|redrive --aws`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from uvqc.adapters import boto
from uvqc.adapters.dynamodb import DynamoLedger, DynamoRecordStore
from uvqc.adapters.sqs import dead_letter
from uvqc.cli import main
from uvqc.core.engine import judge
from uvqc.core.methods import MethodBook
from uvqc.pipeline.records import Attempt, NotificationRequest, NotificationStatus, ResultRecord

from .conftest import make_ledger_table, make_queues, make_records_table

AwsFactory = Callable[[str], Any]
WHEN = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def test_submit_puts_every_result_of_a_file_on_the_sqs_intake_queue(
    aws: AwsFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = aws("sqs")
    intake = make_queues(sqs, "intake")
    data = tmp_path / "day.jsonl"
    data.write_text(
        "\n".join(json.dumps({"sampleId": f"S-{i}", "absorbance": 0.1 * i}) for i in range(12))
        + "\nnot json\n"
    )
    assert main(["submit", str(data), "--queue-url", intake.url]) == 0
    assert "13" in capsys.readouterr().out
    bodies = []
    while batch := sqs.receive_message(QueueUrl=intake.url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        bodies += [m["Body"] for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=intake.url, ReceiptHandle=m["ReceiptHandle"])
    assert len(bodies) == 13
    assert "not json" in bodies  # a broken line is submitted too: the check stage rejects it


def test_trace_aws_tells_a_samples_story_from_dynamodb(
    aws: AwsFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = aws("dynamodb")
    records, ledger_table = make_records_table(db), make_ledger_table(db)
    monkeypatch.setenv("UVQC_RECORDS_TABLE", records)
    monkeypatch.setenv("UVQC_LEDGER_TABLE", ledger_table)
    raw = b'{"sampleId": "S-AWS-1", "absorbance": 1.4, "source": {"file": "a.csv", "line": 3}}'
    judgement, _ = judge(raw, MethodBook())
    key = "a" * 40
    first, duplicate = (
        ResultRecord.create(
            record_id=record_id,
            judgement=judgement,
            raw=raw,
            received_at=WHEN,
            checked_at=WHEN,
            source="a.csv:3",
            content_digest="json:x",
            notification_key=key,
        )
        for record_id in ("msg-1", "msg-2")
    )
    DynamoRecordStore(boto.client("dynamodb"), records).save_results([first, duplicate])
    ledger = DynamoLedger(boto.client("dynamodb"), ledger_table)
    request = NotificationRequest.for_record(first)
    mid = f"<uvqc.{key}@lab.example>"
    ledger.claim(request, message_id=mid, worker="w", now=WHEN, lease=timedelta(minutes=5))
    ledger.finish(
        request.key,
        status=NotificationStatus.SENT,
        attempt=Attempt(WHEN, "sent", f"Message-ID {mid}", "w", "ses eu-west-1 to lab@lab.example"),
        delivered_to=["lab@lab.example"],
    )

    assert main(["trace", "S-AWS-1", "--aws"]) == 0
    story = capsys.readouterr().out
    assert "FLAG" in story and "dilution_required" in story and "DELIVERED" in story
    assert "source     a.csv:3" in story
    assert "went to    ses eu-west-1 to lab@lab.example" in story
    assert "covered by the e-mail for record msg-1" in story  # msg-2 was the duplicate

    # By notification key, by Message-ID (with or without <>), by record id.
    for query in (key, mid, mid.strip("<>")):
        assert main(["trace", query, "--aws", "--format", "json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["kind"] == "notification"
        assert data["notifications"][0]["coversRecords"] == ["msg-1", "msg-2"]
        assert data["notifications"][0]["channel"] == "ses eu-west-1 to lab@lab.example"
    assert main(["trace", "msg-2", "--aws", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["results"][0]["coveredBy"]["sentForRecord"] == "msg-1"
    assert data["results"][0]["coveredBy"]["duplicate"] is True

    assert main(["trace", "S-NOBODY", "--aws"]) == 1


def test_dlq_list_show_and_redrive_aws_move_a_dead_letter_back_with_its_reason(
    aws: AwsFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = aws("sqs")
    intake, notify = make_queues(sqs, "intake"), make_queues(sqs, "notify")
    monkeypatch.setenv("UVQC_INTAKE_QUEUE_URL", intake.url)
    monkeypatch.setenv("UVQC_INTAKE_DLQ_URL", intake.dlq_url)
    monkeypatch.setenv("UVQC_NOTIFY_QUEUE_URL", notify.url)
    monkeypatch.setenv("UVQC_NOTIFY_DLQ_URL", notify.dlq_url)
    dead_id = dead_letter(
        boto.client("sqs"),
        notify.dlq_url,
        body='{"key": "k1", "sampleId": "S-DEAD"}',
        reason="permanent failure: 550 5.1.1 mailbox unavailable",
        source_message_id="m-1",
        receive_count=1,
    )

    assert main(["dlq", "list", "--aws"]) == 0
    listing = capsys.readouterr().out
    assert "550 5.1.1" in listing and "notify" in listing

    assert main(["dlq", "show", dead_id, "--aws"]) == 0
    assert "S-DEAD" in capsys.readouterr().out

    assert main(["dlq", "redrive", "--aws", "--queue", "notify"]) == 0
    assert "redrove 1 message(s)" in capsys.readouterr().out
    back = sqs.receive_message(QueueUrl=notify.url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in back] == ['{"key": "k1", "sampleId": "S-DEAD"}']
    assert main(["dlq", "list", "--aws"]) == 0
    assert "no dead letters" in capsys.readouterr().out
