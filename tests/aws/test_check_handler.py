"""The check Lambda handler on moto: canonical SQS events in, records and notification
requests out, a partial batch response only for infrastructure failures."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider.cold_start import reset_cold_start_flag

from uvqc.adapters import boto
from uvqc.aws.check_handler import handler
from uvqc.errors import SettingsError

from .conftest import EVENTS, make_ledger_table, make_queues, make_records_table
from .esm import LambdaContext

AwsFactory = Callable[[str], Any]
CANONICAL = json.loads((EVENTS / "sqsEvent.json").read_text())


def sqs_event(*bodies: str) -> dict[str, Any]:
    """Variants of the canonical event: one record per body, ids msg-0, msg-1, ..."""
    template = CANONICAL["Records"][0]
    records = []
    for n, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record.update(messageId=f"msg-{n}", body=body)
        records.append(record)
    return {"Records": records}


@pytest.fixture
def deployed(aws: AwsFactory, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    db, sqs = aws("dynamodb"), aws("sqs")
    names = {
        "table": make_records_table(db),
        "queue": make_queues(sqs, "notify").url,
        "ledger": make_ledger_table(db),
    }
    monkeypatch.setenv("UVQC_RECORDS_TABLE", names["table"])
    monkeypatch.setenv("UVQC_NOTIFY_QUEUE_URL", names["queue"])
    monkeypatch.setenv("UVQC_LEDGER_TABLE", names["ledger"])
    return names


def stdout_json(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def notify_messages(sqs: Any, url: str) -> list[dict[str, Any]]:
    return sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])


def test_the_canonical_event_is_recorded_and_the_flagged_result_queued_for_notification(
    deployed: dict[str, str],
    aws: AwsFactory,
    lambda_context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
    json_logs: Callable[[], list[dict[str, Any]]],
) -> None:
    reset_cold_start_flag()
    assert handler(CANONICAL, lambda_context) == {"batchItemFailures": []}

    db, sqs = aws("dynamodb"), aws("sqs")
    items = db.scan(TableName=deployed["table"])["Items"]
    verdicts = {i["sampleId"]["S"]: i["verdict"]["S"] for i in items}
    assert verdicts == {"S-2026-0001": "pass", "S-2026-0002": "flag"}
    (queued,) = notify_messages(sqs, deployed["queue"])
    assert json.loads(queued["Body"])["sampleId"] == "S-2026-0002"
    # The submitter's correlation id travels to the notify stage.
    assert queued["MessageAttributes"]["correlationId"]["StringValue"] == "instrument-batch-7"

    results = [line for line in json_logs() if line.get("message", "").startswith("result ")]
    # Flagged/rejected results at INFO; passes at DEBUG (log cost: docs/PERFORMANCE.md).
    assert {(r["sampleId"], r["messageId"]) for r in results} == {
        ("S-2026-0002", "2e1424d4-f796-459a-8184-9c92662be6da"),
    }
    assert all(r["service"] == "uvqc" and r["function_request_id"] for r in results)
    lines = stdout_json(capsys.readouterr().out)
    (emf,) = [line for line in lines if "_aws" in line and "ResultsChecked" in line]
    counts = (emf["ResultsChecked"], emf["ResultsFlagged"], emf["ResultsRejected"])
    assert counts == ([2.0], [1.0], [0.0])
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "uvqc"
    assert any("ColdStart" in line for line in lines)


def test_a_reject_is_a_verdict_not_a_failure(
    deployed: dict[str, str], aws: AwsFactory, lambda_context: LambdaContext
) -> None:
    response = handler(sqs_event("this is not json {"), lambda_context)
    assert response == {"batchItemFailures": []}
    (item,) = aws("dynamodb").scan(TableName=deployed["table"])["Items"]
    assert item["verdict"]["S"] == "reject"
    (queued,) = notify_messages(aws("sqs"), deployed["queue"])
    assert json.loads(queued["Body"])["verdict"] == "reject"


def test_when_the_notify_queue_is_gone_only_flagged_results_are_retried(
    deployed: dict[str, str], aws: AwsFactory, lambda_context: LambdaContext
) -> None:
    aws("sqs").delete_queue(QueueUrl=deployed["queue"])
    event = sqs_event(
        json.dumps({"sampleId": "S-1", "absorbance": 0.4}),
        json.dumps({"sampleId": "S-2", "absorbance": 1.4}),
    )
    assert handler(event, lambda_context) == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}
    # Both records are stored; the redelivery of msg-1 overwrites its record.
    assert aws("dynamodb").scan(TableName=deployed["table"])["Count"] == 2


def test_when_the_records_table_is_gone_the_whole_batch_is_retried(
    deployed: dict[str, str], aws: AwsFactory, lambda_context: LambdaContext
) -> None:
    aws("dynamodb").delete_table(TableName=deployed["table"])
    event = sqs_event(*(json.dumps({"sampleId": f"S-{n}", "absorbance": 0.4}) for n in range(3)))
    response = handler(event, lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": f"msg-{n}"} for n in range(3)]}


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_missing_configuration_fails_the_invocation_loudly(
    moto_endpoint: str, lambda_context: LambdaContext
) -> None:
    with pytest.raises(SettingsError, match="UVQC_RECORDS_TABLE"):
        handler(CANONICAL, lambda_context)


def test_one_hundred_results_cost_a_handful_of_aws_calls(
    deployed: dict[str, str], lambda_context: LambdaContext
) -> None:
    calls: list[str] = []
    for service in ("dynamodb", "sqs"):
        boto.client(service).meta.events.register(
            "before-call.*.*", lambda model, **_: calls.append(model.name)
        )
    bodies = [
        json.dumps({"sampleId": f"S-{n}", "absorbance": 1.3 if n % 5 == 0 else 0.4})
        for n in range(100)
    ]
    assert handler(sqs_event(*bodies), lambda_context) == {"batchItemFailures": []}
    # Plus one UpdateItem per flagged result (20): its deduplication window (issue 8, case 1).
    assert sorted(calls) == ["BatchWriteItem"] * 4 + ["SendMessageBatch"] * 2 + ["UpdateItem"] * 20


def test_case_1_distinct_results_get_distinct_keys_and_a_redelivered_batch_the_same_ones(
    deployed: dict[str, str], aws: AwsFactory, lambda_context: LambdaContext
) -> None:
    """Issue 8, case 1 on AWS: the five lines are five results (five notification keys); the
    batch delivered again (SQS at-least-once: same messageIds and SentTimestamps) and the
    same content submitted again (a new message, other key order) map to the same keys."""
    case_1 = [
        '{"sampleId":"W-9","absorbance":"abc"}',
        '{"sampleId":"W-9","absorbance":0.3,"sampleType":"standard"}',
        '{"sampleId":"W-9","absorbance":0.3,"measuredAt":"yesterday"}',
        '{"sampleId":"BLANK","absorbance":-0.02,"sampleType":"blank","batchId":"2026-11-27-01"}',
        '{"sampleId":"BLANK","absorbance":-0.02,"sampleType":"blank","batchId":"2026-11-28-01"}',
    ]
    sqs = aws("sqs")

    def keys() -> list[str]:
        found = []
        while batch := notify_messages(sqs, deployed["queue"]):
            for m in batch:
                found.append(json.loads(m["Body"])["key"])
                sqs.delete_message(QueueUrl=deployed["queue"], ReceiptHandle=m["ReceiptHandle"])
        return found

    assert handler(sqs_event(*case_1), lambda_context) == {"batchItemFailures": []}
    first = keys()
    assert len(set(first)) == 5
    assert handler(sqs_event(*case_1), lambda_context) == {"batchItemFailures": []}
    assert sorted(keys()) == sorted(first)
    again = sqs_event(
        '{"batchId":"2026-11-28-01","sampleType":"blank","absorbance":-0.02,"sampleId":"BLANK"}'
    )
    again["Records"][0]["messageId"] = "resubmitted"
    assert handler(again, lambda_context) == {"batchItemFailures": []}
    assert keys() == [first[4]]
