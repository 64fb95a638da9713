"""SES and SNS with any sample ID and address (issue 8, cases 3 and 4), on moto over HTTP.

moto does not enforce SES's documented rules for SendRawEmail (Source: ASCII, a non-ASCII
display name as RFC 2047 encoded-words, punycode domains, no non-ASCII local part; raw
message headers 7-bit), so a botocore hook on the client enforces them here, the way SES
does, and keeps what was sent for the RFC 5322 checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.rfc5322 import (
    LONG_NON_ASCII,
    SAMPLE_IDS,
    assert_valid,
    expected_addresses,
    mailboxes,
    read_addresses,
)
from uvqc.adapters.ses import SesChannel
from uvqc.adapters.sns import SnsChannel, sns_subject
from uvqc.core.verdicts import Finding, Severity, Verdict
from uvqc.errors import PermanentDeliveryError
from uvqc.pipeline.addresses import idna_domain, parse_addresses
from uvqc.pipeline.email import compose, header_safe
from uvqc.pipeline.records import NotificationRequest

from .conftest import make_queues, unique

AwsFactory = Callable[[str], Any]
PROPS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
DOMAINS = ["lab.example", "x.example", "bücher.example", "labor-qualität.example"]


def request(sample_id: str) -> NotificationRequest:
    return NotificationRequest(
        key="e" * 40,
        sample_id=sample_id,
        record_id="rec-1",
        verdict=Verdict.FLAG,
        findings=(Finding("dilution_required", Severity.FAIL, "too high", 1.3, 1.0),),
        method="default",
        received_at=datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
    )


class SesRules:
    """SendRawEmail as SES checks it (botocore hook: moto does not)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        source = params.get("Source", "")
        problems = []
        if not source.isascii():
            problems.append("Source must be ASCII (RFC 2047 for display names, punycode)")
        problems += [f"{d}: not ASCII" for d in params.get("Destinations", []) if not d.isascii()]
        data: bytes = params["RawMessage"]["Data"]
        if not data.split(b"\r\n\r\n", 1)[0].isascii():
            problems.append("message headers must be 7-bit ASCII")
        if problems:
            raise ClientError(
                {"Error": {"Code": "InvalidParameterValue", "Message": "; ".join(problems)}},
                "SendRawEmail",
            )
        self.sent.append(params)


@pytest.fixture
def ses(aws: AwsFactory) -> tuple[Any, SesRules]:
    client = aws("ses")
    for domain in DOMAINS:
        client.verify_domain_identity(Domain=idna_domain(domain))
    rules = SesRules()
    client.meta.events.register("provide-client-params.ses.SendRawEmail", rules)
    return client, rules


@PROPS
@given(
    sample_id=SAMPLE_IDS | LONG_NON_ASCII,
    sender=mailboxes(),
    recipients=st.lists(mailboxes(), min_size=1, max_size=3),
)
def test_every_ses_raw_message_is_valid_rfc5322_and_passes_ses_rules(
    ses: tuple[Any, SesRules], sample_id: str, sender: str, recipients: list[str]
) -> None:
    client, rules = ses
    mail = compose(request(sample_id), mail_from=sender, mail_to=recipients)
    envelope = [m.addr_spec for m in parse_addresses(recipients)]
    assert set(SesChannel(client).send(mail, envelope)) == set(envelope)
    params = rules.sent[-1]
    msg = assert_valid(params["RawMessage"]["Data"])
    assert read_addresses(msg, "From") == expected_addresses([sender], smtputf8=False)
    assert read_addresses(msg, "To") == expected_addresses(recipients, smtputf8=False)
    assert msg["X-UVQC-Sample-Id"] == header_safe(sample_id)


def test_a_non_ascii_display_name_in_source_is_encoded(ses: tuple[Any, SesRules]) -> None:
    client, rules = ses
    mail = compose(
        request("S-1"), mail_from="Labor Qualität <qc@bücher.example>", mail_to=["a@x.example"]
    )
    SesChannel(client).send(mail, ["a@x.example"])
    assert rules.sent[-1]["Source"] == (
        "=?utf-8?b?TGFib3IgUXVhbGl0w6R0?= <qc@xn--bcher-kva.example>"
    )


def test_ses_takes_no_non_ascii_local_part_a_permanent_failure_with_the_reason(
    ses: tuple[Any, SesRules],
) -> None:
    client, rules = ses
    mail = compose(
        request("S-1"), mail_from="qc@lab.example", mail_to=["jürgen@lab.example", "a@x.example"]
    )
    with pytest.raises(PermanentDeliveryError, match="non-ASCII local part") as err:
        SesChannel(client).send(mail, ["jürgen@lab.example", "a@x.example"])
    assert err.value.accepted == ("a@x.example",)  # the other recipient got it
    assert rules.sent[-1]["Destinations"] == ["a@x.example"]
    with pytest.raises(PermanentDeliveryError, match="jürgen"):
        SesChannel(client).send(mail, ["jürgen@lab.example"])


@settings(max_examples=200, deadline=None)
@given(sample_id=SAMPLE_IDS | LONG_NON_ASCII, prefix=st.sampled_from(["", "[Qualität] "]))
def test_every_sns_subject_follows_the_sns_rules(sample_id: str, prefix: str) -> None:
    mail = compose(request(sample_id), mail_from="qc@lab.example", mail_to=["a@x.example"])
    subject = sns_subject(prefix + str(mail["Subject"]))
    assert 0 < len(subject) < 100
    assert subject.isascii() and subject.isprintable()
    assert subject[0] != " " and subject[-1] != " "


def test_sns_gets_an_ascii_subject_and_the_exact_sample_id_in_the_body(aws: AwsFactory) -> None:
    sns, sqs = aws("sns"), aws("sqs")
    topic = sns.create_topic(Name=unique("notifications"))["TopicArn"]
    q = make_queues(sqs, "subscriber")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=q.arn)
    long_id = "Zürichsee Süd Entnahmestelle 4 Tiefe 12 m"
    mail = compose(request(long_id), mail_from="qc@lab.example", mail_to=["a@x.example"])
    SnsChannel(sns, topic).send(mail, ["a@x.example"])
    (m,) = sqs.receive_message(QueueUrl=q.url, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(m["Body"])
    assert envelope["Subject"] == f"Data Quality Issue for {long_id}".replace("ü", "u")
    assert long_id in envelope["Message"]
