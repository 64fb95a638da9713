"""The SQS adapters against moto over HTTP: batched sends, attributes, delays, DLQ peek and
redrive (the receive/send/delete fallback: moto has no StartMessageMoveTask)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config

from uvqc.adapters.sqs import (
    DeadLetterQueue,
    SqsDeadLetters,
    SqsIntakeQueue,
    SqsNotificationQueue,
    dead_letter,
    delay_message,
    queue_url_from_arn,
)
from uvqc.core.verdicts import Verdict
from uvqc.errors import InfrastructureError, UsageError
from uvqc.pipeline.records import NotificationRequest

from .conftest import make_queues

AwsFactory = Callable[[str], Any]


def request(n: int) -> NotificationRequest:
    return NotificationRequest(
        key=f"key-{n}",
        sample_id=f"S-{n}",
        record_id=f"rec-{n}",
        verdict=Verdict.FLAG,
        findings=(),
        method="default",
        received_at=datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
        correlation_id=f"corr-{n}",
    )


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages.extend(batch)
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def test_publish_sends_every_request_in_batches_with_sample_and_correlation_attributes(
    aws: AwsFactory,
) -> None:
    sqs = aws("sqs")
    q = make_queues(sqs, "notify")
    failed = SqsNotificationQueue(sqs, q.url).publish([request(n) for n in range(23)])
    assert failed == set()
    messages = drain(sqs, q.url)
    assert len(messages) == 23
    first = next(m for m in messages if json.loads(m["Body"])["recordId"] == "rec-0")
    assert NotificationRequest.from_json(first["Body"]) == request(0)
    attrs = first["MessageAttributes"]
    assert attrs["sampleId"]["StringValue"] == "S-0"
    assert attrs["correlationId"]["StringValue"] == "corr-0"


def test_publish_to_a_missing_queue_reports_every_record_as_failed(aws: AwsFactory) -> None:
    sqs = aws("sqs")
    url = make_queues(sqs, "gone").url
    sqs.delete_queue(QueueUrl=url)
    failed = SqsNotificationQueue(sqs, url).publish([request(1), request(2)])
    assert failed == {"rec-1", "rec-2"}


def test_submit_returns_one_message_id_per_body_in_order(aws: AwsFactory) -> None:
    sqs = aws("sqs")
    q = make_queues(sqs, "intake")
    bodies = [json.dumps({"sampleId": f"S-{n}", "absorbance": 0.4}).encode() for n in range(12)]
    ids = SqsIntakeQueue(sqs, q.url).submit(bodies)
    assert len(ids) == len(set(ids)) == 12
    by_id = {m["MessageId"]: m["Body"].encode() for m in drain(sqs, q.url)}
    assert [by_id[i] for i in ids] == bodies


def test_submit_sends_bytes_that_are_not_text_as_a_base64_stand_in(aws: AwsFactory) -> None:
    sqs = aws("sqs")
    url = make_queues(sqs, "intake").url
    SqsIntakeQueue(sqs, url).submit([b"\xff\xfe"])
    (message,) = drain(sqs, url)
    assert message["MessageAttributes"]["standIn"]["StringValue"] == "base64"
    assert message["Body"] == "//4="


def test_submit_to_an_unreachable_endpoint_is_an_infrastructure_error() -> None:
    sqs = boto3.client(
        "sqs",
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(InfrastructureError, match="could not submit"):
        SqsIntakeQueue(sqs, "http://127.0.0.1:9/123456789012/q").submit([b"{}"])


def test_delay_message_hides_it_for_the_delay(aws: AwsFactory) -> None:
    sqs = aws("sqs")
    q = make_queues(sqs, "notify")
    sqs.send_message(QueueUrl=q.url, MessageBody="x")
    (m,) = sqs.receive_message(QueueUrl=q.url, VisibilityTimeout=0)["Messages"]
    delay_message(sqs, q.url, m["ReceiptHandle"], 60)
    assert "Messages" not in sqs.receive_message(QueueUrl=q.url)
    attrs = sqs.get_queue_attributes(QueueUrl=q.url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_queue_url_from_arn_names_the_same_queue(aws: AwsFactory) -> None:
    sqs = aws("sqs")
    q = make_queues(sqs, "notify")
    url = queue_url_from_arn(q.arn)
    assert url.startswith("https://sqs.eu-west-1.amazonaws.com/")
    assert url.rsplit("/", 1)[1] == q.url.rsplit("/", 1)[1]
    sqs.send_message(QueueUrl=q.url, MessageBody="x")
    (m,) = sqs.receive_message(QueueUrl=q.url)["Messages"]
    delay_message(sqs, url, m["ReceiptHandle"], 0)  # moto resolves the queue by name too


def test_dead_letters_are_listed_with_reason_without_being_consumed_then_redriven(
    aws: AwsFactory,
) -> None:
    sqs = aws("sqs")
    q = make_queues(sqs, "notify")
    new_id = dead_letter(
        sqs,
        q.dlq_url,
        body=request(7).to_json(),
        reason="permanent failure: 550 5.7.1 rejected",
        source_message_id="orig-1",
        receive_count=3,
        attributes={"sampleId": "S-7", "correlationId": "corr-7"},
    )
    fail_fast = boto3.client("sqs", config=Config(retries={"max_attempts": 1}))
    letters = SqsDeadLetters(
        sqs, [DeadLetterQueue("notify", q.dlq_url, q.url)], move_client=fail_fast
    )
    (letter,) = letters.list()
    assert letter.message_id == new_id
    assert letter.reason == "permanent failure: 550 5.7.1 rejected"
    assert letter.sample_id == "S-7"
    assert letter.receive_count == 3
    assert letter.dead_at is not None
    assert letters.show(new_id) == letter  # listing released it: still there

    assert letters.redrive() == 1
    assert letters.list() == []
    (back,) = drain(sqs, q.url)
    assert NotificationRequest.from_json(back["Body"]) == request(7)
    assert back["MessageAttributes"]["correlationId"]["StringValue"] == "corr-7"
    assert "reason" not in back["MessageAttributes"]


def test_messages_moved_by_the_redrive_policy_say_so(aws: AwsFactory) -> None:
    sqs = aws("sqs")
    q = make_queues(sqs, "intake", max_receive=1)
    sqs.send_message(QueueUrl=q.url, MessageBody='{"sampleId": "S-9"}')
    sqs.receive_message(QueueUrl=q.url, VisibilityTimeout=0)
    sqs.receive_message(QueueUrl=q.url)  # over maxReceiveCount: moved to the DLQ
    (letter,) = SqsDeadLetters(sqs, [DeadLetterQueue("intake", q.dlq_url, q.url)]).list()
    assert "maxReceiveCount" in letter.reason
    assert letter.queue == "intake"


def test_redrive_of_an_unknown_queue_is_a_usage_error(aws: AwsFactory) -> None:
    sqs = aws("sqs")
    q = make_queues(sqs, "notify")
    with pytest.raises(UsageError, match="unknown dead-letter queue"):
        SqsDeadLetters(sqs, [DeadLetterQueue("notify", q.dlq_url, q.url)]).redrive("other")
