"""The daily digest on AWS (moto over HTTP): the scheduled function reads the day from the
runs and records tables and queues one request; the notify function sends it through the
SMTP relay as multipart text + HTML (parsed back), SES sends the same raw message, SNS the
text; an unchanged day queues nothing, a late result queues an update, and the notify
ledger sends a repeated key once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, message_from_string, policy
from email.message import EmailMessage
from typing import Any, cast

import pytest

from tests.support.relay import FaultyRelay
from uvqc.adapters.ses import SesChannel
from uvqc.adapters.sns import SnsChannel
from uvqc.aws import check_handler, daily_handler, notify_handler
from uvqc.pipeline.email import compose
from uvqc.pipeline.records import NotificationRequest

from .conftest import (
    REGION,
    make_ledger_table,
    make_queues,
    make_records_table,
    make_runs_table,
    unique,
)
from .esm import EventSourceMapping, LambdaContext
from .test_runs import BATCH, METHOD, lines
from .test_runs import event as sqs_event

AwsFactory = Callable[[str], Any]
ACCOUNT = "123456789012"
HOSTILE = ["<script>alert(1)</script>", "W-1\u202eG-3", "Probe-ä-µ"]


@pytest.fixture
def relay() -> Iterator[FaultyRelay]:
    with FaultyRelay(seed=7) as r:
        yield r


@pytest.fixture(autouse=True)
def _fresh_wiring() -> Iterator[None]:
    daily_handler.reset()
    yield
    daily_handler.reset()


@pytest.fixture
def deployed(aws: AwsFactory, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    db, sqs = aws("dynamodb"), aws("sqs")
    queues = make_queues(sqs, "notify", max_receive=10)
    names = {
        "records": make_records_table(db),
        "runs": make_runs_table(db),
        "ledger": make_ledger_table(db),
        "queues": queues,
    }
    for name, value in {
        "UVQC_LEDGER_TABLE": names["ledger"],
        "UVQC_RECORDS_TABLE": names["records"],
        "UVQC_RUNS_TABLE": names["runs"],
        "UVQC_NOTIFY_QUEUE_URL": queues.url,
        "UVQC_NOTIFY_DLQ_URL": queues.dlq_url,
        "UVQC_METHOD": str(METHOD),
        "UVQC_DAILY_DIGEST_LAB": "lab",
    }.items():
        monkeypatch.setenv(name, value)
    return names


def event(bodies: list[tuple[str, str]]) -> dict[str, Any]:
    """An SQS event of messages sent now (the canonical event's SentTimestamp is 2018)."""
    made = sqs_event(bodies)
    now_ms = str(int(datetime.now(UTC).timestamp() * 1000))
    for record in made["Records"]:
        record["attributes"] = {**record["attributes"], "SentTimestamp": now_ms}
    return made


def loose(sample: str) -> str:
    return json.dumps({"sampleId": sample, "absorbance": 3.5})  # flagged: dilution required


def notify(aws: AwsFactory, deployed: dict[str, Any], relay: FaultyRelay) -> None:
    env = {
        "UVQC_CHANNEL": "smtp",
        "UVQC_SMTP_HOST": relay.host,
        "UVQC_SMTP_PORT": str(relay.port),
        "UVQC_MAIL_FROM": "uvqc@lab.example.org",
        "UVQC_MAIL_TO": "lab@example.org",
    }
    notify_handler.reset()
    esm = EventSourceMapping(
        aws("sqs"), deployed["queues"].url, notify_handler.handler, batch_size=10, environment=env
    )
    while esm.poll_once():
        pass
    assert esm.stats.reported_failures == 0 and esm.stats.batch_failures == 0


def daily_mails(relay: FaultyRelay) -> list[EmailMessage]:
    found = [
        cast(EmailMessage, message_from_bytes(m.data, policy=policy.default))
        for m in relay.messages()
    ]
    return [m for m in found if m["X-UVQC-Digest-Date"]]


def test_the_daily_function_queues_the_day_and_the_notify_function_sends_it_once(
    deployed: dict[str, Any], aws: AwsFactory, relay: FaultyRelay, lambda_context: LambdaContext
) -> None:
    bodies = [(f"m-{i}", b) for i, b in enumerate(lines())]
    bodies += [(f"x-{i}", loose(s)) for i, s in enumerate(HOSTILE)]
    for start in range(0, len(bodies), 10):
        assert check_handler.handler(event(bodies[start : start + 10]), lambda_context) == {
            "batchItemFailures": []
        }
    day = datetime.now(UTC).date().isoformat()
    first = daily_handler.handler({"date": day}, lambda_context)
    assert first["key"] and first["update"] is False
    again = daily_handler.handler({"date": day}, lambda_context)
    assert again["key"] is None  # unchanged: nothing queued
    notify(aws, deployed, relay)
    (mail,) = daily_mails(relay)
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["X-UVQC-Notification-Key"] == first["key"]
    assert mail["Subject"] == f"Daily digest lab {day}: needs attention"
    text = cast(EmailMessage, mail.get_body(("plain",))).get_content()
    html = cast(EmailMessage, mail.get_body(("html",))).get_content()
    assert "Runs of the day (1):" in text and BATCH in text and "flagged: 3" in text
    assert "Notify dead-letter queue (now): empty" in text
    assert "Probe-ä-µ" in text and "Probe-ä-µ" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "\u202e" not in text + html

    check_handler.handler(event([("late", loose("late-ä"))]), lambda_context)
    update = daily_handler.handler({"date": day}, lambda_context)
    assert update["update"] is True and update["key"] not in (None, first["key"])
    notify(aws, deployed, relay)
    sent = daily_mails(relay)
    assert [str(m["Subject"]).endswith("(update)") for m in sent] == [False, True]
    assert sent[1]["X-UVQC-Digest-Update"] == "true"
    assert "flagged: 4" in cast(EmailMessage, sent[1].get_body(("plain",))).get_content()


def test_a_scheduled_invocation_reports_yesterday_and_a_quiet_day_says_so(
    deployed: dict[str, Any], aws: AwsFactory, lambda_context: LambdaContext
) -> None:
    queued = daily_handler.handler({}, lambda_context)  # the schedule's (empty) event
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert queued["date"] == yesterday and queued["key"]
    (message,) = aws("sqs").receive_message(QueueUrl=deployed["queues"].url)["Messages"]
    request = json.loads(message["Body"])
    assert request["run"]["subject"] == f"Daily digest lab {yesterday}: nothing to report"
    marks = aws("dynamodb").get_item(
        TableName=deployed["ledger"], Key={"notificationKey": {"S": f"daily#lab#{yesterday}"}}
    )["Item"]
    assert marks["contentHash"]["S"] == request["run"]["contentHash"]
    assert int(marks["expiration"]["N"]) > datetime.now(UTC).timestamp() + 80 * 86400


def test_a_missing_table_fails_the_invocation_loudly(
    deployed: dict[str, Any], lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from uvqc.errors import InfrastructureError

    monkeypatch.setenv("UVQC_RUNS_TABLE", unique("gone"))
    with pytest.raises(InfrastructureError, match="runs table Scan failed"):
        daily_handler.handler({"date": "2026-11-28"}, lambda_context)


def request_of(queued_body: str) -> NotificationRequest:
    return NotificationRequest.from_json(queued_body)


def test_ses_sends_the_multipart_message_and_sns_the_complete_text(
    deployed: dict[str, Any], aws: AwsFactory, lambda_context: LambdaContext
) -> None:
    from moto.ses.models import ses_backends

    check_handler.handler(event([("x", loose("Probe-ä-µ"))]), lambda_context)
    daily_handler.handler({"date": datetime.now(UTC).date().isoformat()}, lambda_context)
    messages = aws("sqs").receive_message(QueueUrl=deployed["queues"].url, MaxNumberOfMessages=10)
    requests = [request_of(m["Body"]) for m in messages["Messages"]]
    (request,) = [r for r in requests if (r.run or {}).get("kind") == "daily"]
    email = compose(request, mail_from="uvqc@lab.example.org", mail_to=["lab@example.org"])

    ses = aws("ses")
    ses.verify_email_identity(EmailAddress="uvqc@lab.example.org")
    before = len(ses_backends[ACCOUNT][REGION].sent_messages)
    assert SesChannel(ses).send(email, ["lab@example.org"]) == ("lab@example.org",)
    raw = ses_backends[ACCOUNT][REGION].sent_messages[before].raw_data
    msg = cast(EmailMessage, message_from_string(raw, policy=policy.default))
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]

    sns, sqs = aws("sns"), aws("sqs")
    topic = sns.create_topic(Name=unique("notifications"))["TopicArn"]
    subscriber = make_queues(sqs, "subscriber")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=subscriber.arn)
    SnsChannel(sns, topic).send(email, ["lab@example.org"])
    (got,) = sqs.receive_message(QueueUrl=subscriber.url, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(got["Body"])
    assert envelope["Message"] == email.body  # the text part, complete on its own
    assert "Probe-ä-µ" in envelope["Message"] and "<html" not in envelope["Message"]
    assert len(envelope["Message"].encode()) < 256 * 1024


def test_a_future_or_out_of_range_date_fails_the_invocation_with_a_clear_error(
    deployed: dict[str, Any], aws: AwsFactory, lambda_context: LambdaContext
) -> None:
    from uvqc.daily.digest import DailyDigestError

    future = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    for day in (future, "9999-12-31"):
        with pytest.raises(DailyDigestError, match=f"{day} is in the future"):
            daily_handler.handler({"date": day}, lambda_context)
    assert "Messages" not in aws("sqs").receive_message(QueueUrl=deployed["queues"].url)
