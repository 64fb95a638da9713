"""The SES and SNS channels against moto over HTTP, and how SDK errors are classified."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_string
from email.policy import default
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from uvqc.adapters.ses import SesChannel, delivery_error
from uvqc.adapters.sns import SnsChannel, sns_subject
from uvqc.core.verdicts import Finding, Severity, Verdict
from uvqc.errors import PermanentDeliveryError, TransientDeliveryError
from uvqc.pipeline.email import compose
from uvqc.pipeline.records import NotificationRequest

from .conftest import REGION, make_queues, unique

AwsFactory = Callable[[str], Any]
ACCOUNT = "123456789012"


def email(
    sample: str = "S-1\r\nBcc: evil@example.org", sender: str = "uvqc@lab.example.org"
) -> Any:
    request = NotificationRequest(
        key="k" * 40,
        sample_id=sample,
        record_id="rec-1",
        verdict=Verdict.FLAG,
        findings=(Finding("dilution_required", Severity.FAIL, "too high", 1.3, 1.0),),
        method="default",
        received_at=datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
        correlation_id="corr-1",
    )
    return compose(request, mail_from=sender, mail_to=["lab@example.org"])


def test_ses_sends_the_composed_email_with_its_headers(aws: AwsFactory) -> None:
    from moto.ses.models import ses_backends

    ses = aws("ses")
    ses.verify_email_identity(EmailAddress="uvqc@lab.example.org")
    sent_before = len(ses_backends[ACCOUNT][REGION].sent_messages)
    accepted = SesChannel(ses).send(email(), ["lab@example.org"])
    assert accepted == ("lab@example.org",)
    raw = ses_backends[ACCOUNT][REGION].sent_messages[sent_before]
    msg = message_from_string(raw.raw_data, policy=default)
    assert msg["X-UVQC-Sample-Id"] == "S-1\\x0d\\x0aBcc: evil@example.org"
    assert msg["Bcc"] is None
    assert msg["X-UVQC-Notification-Key"] == "k" * 40
    assert msg["Message-ID"] == "<uvqc." + "k" * 40 + "@lab.example.org>"


def test_ses_refusing_an_unverified_sender_is_permanent(aws: AwsFactory) -> None:
    with pytest.raises(PermanentDeliveryError, match="MessageRejected"):
        SesChannel(aws("ses")).send(
            email(sender=f"{unique('unverified')}@example.org"), ["lab@example.org"]
        )


def test_sns_publishes_subject_and_body_to_the_topic(aws: AwsFactory) -> None:
    sns, sqs = aws("sns"), aws("sqs")
    topic = sns.create_topic(Name=unique("notifications"))["TopicArn"]
    q = make_queues(sqs, "subscriber")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=q.arn)
    assert SnsChannel(sns, topic).send(email("S-1"), ["lab@example.org"]) == ("lab@example.org",)
    (m,) = sqs.receive_message(QueueUrl=q.url, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(m["Body"])
    assert envelope["Subject"] == "Data Quality Issue for S-1"
    assert "uvqc found a data quality issue for sample S-1." in envelope["Message"]
    assert envelope["MessageAttributes"]["sampleId"]["Value"] == "S-1"


def test_sns_to_a_missing_topic_is_permanent(aws: AwsFactory) -> None:
    missing = f"arn:aws:sns:{REGION}:{ACCOUNT}:{unique('nope')}"
    with pytest.raises(PermanentDeliveryError, match="SNS"):
        SnsChannel(aws("sns"), missing).send(email("S-1"), ["lab@example.org"])


def test_sns_subjects_are_ascii_single_line_and_short() -> None:
    subject = sns_subject("Data Quality Issue for Ünïcode\r\nsample " + "x" * 200)
    assert len(subject) < 100
    assert subject.isascii() and "\n" not in subject and "\r" not in subject


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "SendRawEmail",
    )


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (client_error("Throttling", 400), True),
        (client_error("ServiceUnavailable", 503), True),
        (client_error("InternalFailure", 500), True),
        (EndpointConnectionError(endpoint_url="https://email.eu-west-1.amazonaws.com"), True),
        (client_error("MessageRejected", 400), False),
        (client_error("MailFromDomainNotVerifiedException", 400), False),
        (client_error("AccessDenied", 403), False),
    ],
)
def test_sdk_errors_are_classified_transient_or_permanent(exc: Any, transient: bool) -> None:
    error = delivery_error(exc, "SES")
    assert isinstance(error, TransientDeliveryError if transient else PermanentDeliveryError)
