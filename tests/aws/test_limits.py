"""AWS limits (issue 8, case 5) on moto over HTTP, with the documented limits moto does not
enforce enforced by botocore hooks (tests/aws/limits.py): DynamoDB's 400 KB item, SQS's
256 KiB message (body + attributes, and per batch), SQS's character set, and the 12-hour
visibility of a received message.

Each observed case: a 150 KB message whose reject quotes a 150,000-character key made a
~450 KB record and sank its whole batch; a sample ID with U+FFFF went into an SQS attribute
and failed every receive; retry settings near 12 h asked SQS for a visibility it refuses.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from uvqc.adapters import boto
from uvqc.adapters.dynamodb import DynamoRecordStore, record_from_item
from uvqc.adapters.sqs import (
    SqsIntakeQueue,
    SqsNotificationQueue,
    dead_letter,
    delay_message,
)
from uvqc.aws import check_handler, notify_handler
from uvqc.core.verdicts import Finding, Severity, Verdict
from uvqc.errors import InfrastructureError, SettingsError, UnstorableRecords
from uvqc.pipeline import records as records_module
from uvqc.pipeline.notify import RetryPolicy
from uvqc.pipeline.records import NotificationRequest, ResultRecord

from .conftest import EVENTS, make_ledger_table, make_queues, make_records_table
from .esm import LambdaContext
from .limits import AwsLimits, item_size

AwsFactory = Callable[[str], Any]
CANONICAL = json.loads((EVENTS / "sqsEvent.json").read_text())
WHEN = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
HUGE_KEY = "k" * 150_000
# A 150 KB result whose reject finding quotes the unknown key twice (field and message).
BIG = json.dumps(
    {
        "sampleId": "S-BIG",
        "absorbance": 0.4,
        "spectrum": {"wavelengthNm": [500.0], "absorbance": [0.4], HUGE_KEY: 1},
    }
)


@pytest.fixture
def limits(aws: AwsFactory) -> Iterator[AwsLimits]:
    """The hooks on the clients the code under test uses (boto.client) and on the test's own."""
    yield AwsLimits().install(boto.client("sqs"), boto.client("dynamodb"))


def sqs_event(*bodies: str) -> dict[str, Any]:
    template = CANONICAL["Records"][0]
    records = []
    for n, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record.update(messageId=f"msg-{n}", body=body, messageAttributes={})
        records.append(record)
    return {"Records": records}


def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        found += batch
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return found


@pytest.fixture
def deployed(aws: AwsFactory, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    db, sqs = aws("dynamodb"), aws("sqs")
    intake, notify = make_queues(sqs, "intake"), make_queues(sqs, "notify")
    names = {"table": make_records_table(db), "notify": notify.url, "intake_dlq": intake.dlq_url}
    names["ledger"] = make_ledger_table(db)
    monkeypatch.setenv("UVQC_LEDGER_TABLE", names["ledger"])
    monkeypatch.setenv("UVQC_RECORDS_TABLE", names["table"])
    monkeypatch.setenv("UVQC_NOTIFY_QUEUE_URL", names["notify"])
    monkeypatch.setenv("UVQC_INTAKE_DLQ_URL", names["intake_dlq"])
    check_handler.reset()
    return names


def nine_others() -> list[str]:
    """Nine ordinary results, three of them flagged (absorbance over 1)."""
    return [
        json.dumps({"sampleId": f"S-{n}", "absorbance": 1.5 if n < 3 else 0.4}) for n in range(9)
    ]


# -- (a) DynamoDB's 400 KB item, SQS's 256 KiB message --------------------------------------


def test_a_reject_quoting_a_150000_character_key_is_stored_bounded_and_its_batch_succeeds(
    deployed: dict[str, Any], aws: AwsFactory, limits: AwsLimits, lambda_context: LambdaContext
) -> None:
    response = check_handler.handler(sqs_event(BIG, *nine_others()), lambda_context)
    assert response == {"batchItemFailures": []}
    assert limits.refused == []
    items = aws("dynamodb").scan(TableName=deployed["table"])["Items"]
    assert len(items) == 10
    big = next(i for i in items if i.get("sampleId", {}).get("S") == "S-BIG")
    assert item_size(big) < 400 * 1024
    record = record_from_item(big)
    assert record.verdict is Verdict.REJECT
    (finding,) = record.findings
    assert len(finding.message) <= 2_000 and "truncated" in finding.message
    assert finding.field is not None and len(finding.field) <= 200
    assert record.raw == BIG and not record.raw_truncated  # the payload itself is kept
    # 3 flags + the reject are queued for notification: nothing is lost.
    queued = receive_all(aws("sqs"), deployed["notify"])
    assert sorted(json.loads(m["Body"])["sampleId"] for m in queued) == [
        "S-0",
        "S-1",
        "S-2",
        "S-BIG",
    ]


def test_a_record_dynamodb_refuses_fails_alone_and_is_dead_lettered_with_the_reason(
    deployed: dict[str, Any],
    aws: AwsFactory,
    limits: AwsLimits,
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Findings unbounded and the adapter's own size check off (as on the old code): the
    450 KB item reaches DynamoDB, which refuses the whole BatchWriteItem; the chunk is
    written item by item, so only that message fails, and it goes to the intake DLQ."""
    monkeypatch.setattr(records_module, "bound_findings", tuple)
    monkeypatch.setattr("uvqc.adapters.dynamodb.ITEM_BUDGET", 10 * 1024 * 1024)
    response = check_handler.handler(sqs_event(BIG, *nine_others()), lambda_context)
    assert response == {"batchItemFailures": []}
    assert any("BatchWriteItem" in r for r in limits.refused)
    items = aws("dynamodb").scan(TableName=deployed["table"])["Items"]
    assert sorted(i["sampleId"]["S"] for i in items) == [f"S-{n}" for n in range(9)]
    (dead,) = receive_all(aws("sqs"), deployed["intake_dlq"])
    assert dead["Body"] == BIG
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert reason.startswith("record cannot be stored: DynamoDB refused the record")
    assert dead["MessageAttributes"]["sourceMessageId"]["StringValue"] == "msg-0"
    assert len(receive_all(aws("sqs"), deployed["notify"])) == 3  # the three flags


def test_a_record_too_large_even_without_its_payload_is_refused_alone(
    aws: AwsFactory, limits: AwsLimits
) -> None:
    table = make_records_table(aws("dynamodb"))
    store = DynamoRecordStore(boto.client("dynamodb"), table)
    many = tuple(
        Finding(f"rule_{n}", Severity.FAIL, "é" * 2_000, field="x") for n in range(150)
    )  # 600 KB of findings: no payload cut can make it fit
    records = [
        ResultRecord(
            f"r{n}", f"S-{n}", Verdict.FLAG, many if n == 1 else (), None, "{}", WHEN, WHEN
        )
        for n in range(3)
    ]
    with pytest.raises(UnstorableRecords) as caught:
        store.save_results(records)
    assert list(caught.value.reasons) == ["r1"]
    assert "over DynamoDB's item limit" in caught.value.reasons["r1"]
    assert [r.record_id for r in store.results_for_sample("S-0")] == ["r0"]
    assert [r.record_id for r in store.results_for_sample("S-2")] == ["r2"]
    assert limits.refused == []


def test_a_raw_payload_that_would_overflow_the_item_is_cut_and_marked(
    aws: AwsFactory, limits: AwsLimits
) -> None:
    table = make_records_table(aws("dynamodb"))
    store = DynamoRecordStore(boto.client("dynamodb"), table)
    findings = tuple(Finding(f"r{n}", Severity.FAIL, "ü" * 2_000) for n in range(40))  # 160 KB
    raw = "x" * (256 * 1024)
    record = ResultRecord(
        "r", "S-CUT", Verdict.FLAG, findings, None, raw, WHEN, WHEN, raw_bytes=len(raw)
    )
    store.save_results([record])
    (stored,) = store.results_for_sample("S-CUT")
    assert stored.raw_truncated and stored.raw_bytes == len(raw)
    assert 0 < len(stored.raw) < len(raw) and stored.findings == findings
    assert limits.refused == []


def test_notification_requests_are_batched_within_the_sqs_batch_limit(
    aws: AwsFactory, limits: AwsLimits
) -> None:
    """Ten requests of ~50 KB each: one SendMessageBatch of 10 would be 500 KB."""
    url = make_queues(aws("sqs"), "notify").url
    findings = tuple(Finding(f"r{n}", Severity.FAIL, "a" * 2_000) for n in range(25))
    requests = [
        NotificationRequest(f"k{n}", f"S-{n}", f"rec-{n}", Verdict.FLAG, findings, None, WHEN)
        for n in range(10)
    ]
    assert SqsNotificationQueue(boto.client("sqs"), url).publish(requests) == set()
    assert len(receive_all(aws("sqs"), url)) == 10
    assert limits.refused == []


# -- (b) SQS's character set ----------------------------------------------------------------


def test_a_sample_id_with_u_ffff_is_escaped_in_attributes_and_queued(
    aws: AwsFactory, limits: AwsLimits
) -> None:
    url = make_queues(aws("sqs"), "notify").url
    request = NotificationRequest(
        "k1", "S-\uffff-\x01", "rec-1", Verdict.FLAG, (), None, WHEN, correlation_id="c\ufffe"
    )
    assert SqsNotificationQueue(boto.client("sqs"), url).publish([request]) == set()
    (message,) = receive_all(aws("sqs"), url)
    assert message["MessageAttributes"]["sampleId"]["StringValue"] == "S-\\uffff-\\u0001"
    assert NotificationRequest.from_json(message["Body"]) == request  # body: ASCII JSON
    assert limits.refused == []


def test_a_flagged_result_with_u_ffff_in_its_sample_id_is_queued_for_notification(
    deployed: dict[str, Any], aws: AwsFactory, limits: AwsLimits, lambda_context: LambdaContext
) -> None:
    event = sqs_event(json.dumps({"sampleId": "S-\uffff", "absorbance": 1.5}, ensure_ascii=False))
    assert check_handler.handler(event, lambda_context) == {"batchItemFailures": []}
    assert len(receive_all(aws("sqs"), deployed["notify"])) == 1
    assert limits.refused == []


def test_a_dead_letter_reason_quoting_bad_characters_is_escaped(
    aws: AwsFactory, limits: AwsLimits
) -> None:
    q = make_queues(aws("sqs"), "notify")
    dead_letter(
        boto.client("sqs"),
        q.dlq_url,
        body="{}",
        reason="550 unknown sample S-\uffff",
        source_message_id="m",
        receive_count=1,
        attributes={"sampleId": "S-\uffff"},
    )
    (message,) = receive_all(aws("sqs"), q.dlq_url)
    assert message["MessageAttributes"]["reason"]["StringValue"].endswith("S-\\uffff")
    assert limits.refused == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"sampleId": "S-\xef\xbf\xbf", "absorbance": 1.5}',  # U+FFFF, valid UTF-8
        b'{"sampleId": "S-\xff", "absorbance": 1.5}',  # not UTF-8
        b'{"sampleId": "S-\x01"}',  # a control character
    ],
)
def test_intake_lines_sqs_cannot_carry_arrive_as_their_exact_bytes(
    aws: AwsFactory, limits: AwsLimits, raw: bytes
) -> None:
    from uvqc.adapters.sqs import read_intake, string_attributes

    url = make_queues(aws("sqs"), "intake").url
    SqsIntakeQueue(boto.client("sqs"), url).submit([raw])
    (message,) = receive_all(aws("sqs"), url)
    body, oversized = read_intake(message["Body"], string_attributes(message["MessageAttributes"]))
    assert body == raw and oversized is None
    assert limits.refused == []


# -- (c) the 12-hour visibility limit -------------------------------------------------------


@given(
    base=st.floats(0, 50_000),
    cap=st.floats(0, 43_200),
    attempt=st.integers(1, 60),
    r=st.floats(0, 1),
)
def test_a_retry_delay_never_exceeds_its_cap_whatever_the_jitter(
    base: float, cap: float, attempt: int, r: float
) -> None:
    """Old code: the jitter came after the cap (base 43,200, +12.5 %: "retry in 48600 s")."""
    assert 0 <= RetryPolicy(base, cap).delay(attempt, rng=lambda: r) <= cap


def test_delay_message_never_asks_sqs_for_more_than_12_hours_from_the_first_receive(
    aws: AwsFactory, limits: AwsLimits
) -> None:
    sqs = boto.client("sqs")
    url = make_queues(aws("sqs"), "notify").url
    sqs.send_message(QueueUrl=url, MessageBody="x")
    (m,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    assert delay_message(sqs, url, m["ReceiptHandle"], 50_000) <= 43_200 - 60
    # Received two hours ago (as the event's ApproximateFirstReceiveTimestamp says): what is
    # left of the 12 h is the most it may still be hidden.
    first = datetime.now(UTC) - timedelta(hours=2)
    sqs.send_message(QueueUrl=url, MessageBody="y")
    (m,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    limits.first_receive[m["MessageId"]] -= 7_200
    timeout = delay_message(sqs, url, m["ReceiptHandle"], 43_000, first_received_at=first)
    assert timeout <= 43_200 - 7_200
    assert limits.refused == []


def test_a_retry_schedule_longer_than_12_hours_is_refused_when_the_notifier_starts(
    aws: AwsFactory, monkeypatch: pytest.MonkeyPatch, lambda_context: LambdaContext
) -> None:
    q = make_queues(aws("sqs"), "notify")
    for name, value in {
        "UVQC_LEDGER_TABLE": "ledger",
        "UVQC_NOTIFY_DLQ_URL": q.dlq_url,
        "UVQC_RETRY_BASE_SECONDS": "30000",
        "UVQC_RETRY_MAX_SECONDS": "43200",
        "UVQC_MAX_ATTEMPTS": "3",
    }.items():
        monkeypatch.setenv(name, value)
    notify_handler.reset()
    with pytest.raises(SettingsError, match="at most 12 h"):
        notify_handler.wiring()
    monkeypatch.setenv("UVQC_MAX_ATTEMPTS", "2")  # one retry of at most 11.5 h: fine
    monkeypatch.setenv("UVQC_RETRY_MAX_SECONDS", "41000")
    notify_handler.reset()
    assert notify_handler.wiring().policy.max_attempts == 2


def test_the_default_retry_schedule_fits_easily() -> None:
    assert RetryPolicy().longest_schedule() < 900 * 4


def test_an_unreachable_queue_is_still_an_infrastructure_error() -> None:
    import boto3
    from botocore.config import Config

    sqs = boto3.client(
        "sqs",
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(InfrastructureError, match="ChangeMessageVisibility"):
        delay_message(sqs, "http://127.0.0.1:9/1/q", "r", 10)


def test_the_largest_intake_message_can_still_be_dead_lettered_with_its_reason(
    aws: AwsFactory, limits: AwsLimits
) -> None:
    from uvqc.adapters.sqs import intake_entry, string_attributes

    q = make_queues(aws("sqs"), "intake")
    sqs = boto.client("sqs")
    n = 262_144
    while (
        "standIn"
        in (entry := intake_entry(b"x" * n, source="f:1", submission_id="a" * 64))[
            "MessageAttributes"
        ]
    ):
        n -= 64  # the largest line that still goes as it is
    sqs.send_message(QueueUrl=q.url, **entry)
    (received,) = receive_all(aws("sqs"), q.url)
    dead_letter(
        sqs,
        q.dlq_url,
        body=received["Body"],
        reason="record cannot be stored: " + "ü" * 5_000,
        source_message_id=received["MessageId"],
        receive_count=1,
        attributes=string_attributes(received["MessageAttributes"]),
    )
    (dead,) = receive_all(aws("sqs"), q.dlq_url)
    assert dead["Body"] == received["Body"]
    assert dead["MessageAttributes"]["reason"]["StringValue"].startswith("record cannot be stored")
    assert limits.refused == []


def test_ledger_texts_from_relays_are_bounded(aws: AwsFactory, limits: AwsLimits) -> None:
    from uvqc.adapters.dynamodb import DynamoLedger
    from uvqc.pipeline.records import Attempt, NotificationStatus

    from .conftest import make_ledger_table

    ledger = DynamoLedger(boto.client("dynamodb"), make_ledger_table(aws("dynamodb")))
    request = NotificationRequest("k", "S-1", "rec", Verdict.FLAG, (), None, WHEN)
    ledger.claim(request, message_id="<m>", worker="w", now=WHEN, lease=timedelta(minutes=1))
    echo = "451 " + "x" * 300_000  # a relay that echoes what it was sent
    for n in range(3):
        ledger.finish(
            "k",
            status=NotificationStatus.RETRYING,
            attempt=Attempt(WHEN, "transient", echo, f"w{n}"),
            delivered_to=[],
            error=echo,
        )
    (row,) = ledger.notifications_for_sample("S-1")
    assert len(row.attempts) == 3 and all(len(a.detail) <= 1_000 for a in row.attempts)
    assert row.last_error is not None and len(row.last_error) <= 1_000
    assert limits.refused == []


def test_a_huge_correlation_id_from_the_submitter_cannot_sink_the_notification(
    deployed: dict[str, Any], aws: AwsFactory, limits: AwsLimits, lambda_context: LambdaContext
) -> None:
    event = sqs_event(json.dumps({"sampleId": "S-C", "absorbance": 1.5}))
    event["Records"][0]["messageAttributes"] = {
        "correlationId": {"stringValue": "c" * 200_000, "dataType": "String"}
    }
    assert check_handler.handler(event, lambda_context) == {"batchItemFailures": []}
    (queued,) = receive_all(aws("sqs"), deployed["notify"])
    assert len(queued["MessageAttributes"]["correlationId"]["StringValue"]) <= 256
    assert limits.refused == []
