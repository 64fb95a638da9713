"""The notify Lambda handler on moto with a real (fault-injecting) SMTP relay: exactly one
e-mail per notification, retries delayed with ChangeMessageVisibility, permanent failures
dead-lettered with their reason, the SMTP password read from SSM."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.relay import FaultyRelay
from uvqc.adapters.dynamodb import DynamoLedger
from uvqc.adapters.sqs import SqsNotificationQueue
from uvqc.aws.notify_handler import handler
from uvqc.core.verdicts import Finding, Severity, Verdict
from uvqc.errors import SettingsError
from uvqc.pipeline.records import NotificationRequest, NotificationStatus

from .conftest import Queues, make_ledger_table, make_queues, unique
from .esm import EventSourceMapping, queue_depth

AwsFactory = Callable[[str], Any]


def request(n: int, sample: str | None = None) -> NotificationRequest:
    return NotificationRequest(
        key=f"{n:040d}",
        sample_id=sample or f"S-{n}",
        record_id=f"rec-{n}",
        verdict=Verdict.FLAG,
        findings=(Finding("dilution_required", Severity.FAIL, "too high", 1.3, 1.0),),
        method="default",
        received_at=datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
        correlation_id=f"corr-{n}",
    )


@pytest.fixture
def relay() -> Iterator[FaultyRelay]:
    with FaultyRelay(seed=3) as r:
        yield r


class Setup:
    def __init__(self, aws: AwsFactory, relay: FaultyRelay, mp: pytest.MonkeyPatch) -> None:
        self.sqs, self.db = aws("sqs"), aws("dynamodb")
        self.queues: Queues = make_queues(self.sqs, "notify", max_receive=10)
        self.table = make_ledger_table(self.db)
        self.relay = relay
        self.env = {
            "UVQC_CHANNEL": "smtp",
            "UVQC_SMTP_HOST": relay.host,
            "UVQC_SMTP_PORT": str(relay.port),
            "UVQC_MAIL_FROM": "uvqc@lab.example.org",
            "UVQC_MAIL_TO": "lab@example.org",
            "UVQC_LEDGER_TABLE": self.table,
            "UVQC_NOTIFY_DLQ_URL": self.queues.dlq_url,
            "UVQC_RETRY_BASE_SECONDS": "1",
            "UVQC_RETRY_MAX_SECONDS": "2",
        }
        self.esm = EventSourceMapping(
            self.sqs, self.queues.url, handler, batch_size=10, environment=self.env
        )
        self.env = self.esm.environment  # changes before the first poll take effect

    def publish(self, *requests: NotificationRequest) -> None:
        assert SqsNotificationQueue(self.sqs, self.queues.url).publish(requests) == set()

    def status(self, sample: str) -> NotificationStatus:
        (row,) = DynamoLedger(self.db, self.table).notifications_for_sample(sample)
        return row.status


@pytest.fixture
def setup(aws: AwsFactory, relay: FaultyRelay, monkeypatch: pytest.MonkeyPatch) -> Setup:
    return Setup(aws, relay, monkeypatch)


def test_each_notification_is_sent_once_even_when_queued_twice(setup: Setup) -> None:
    setup.publish(request(1), request(2), request(1))
    assert setup.esm.poll_once() == 3
    assert setup.esm.stats.reported_failures == 0
    ids = setup.relay.message_ids()
    assert sorted(ids) == [
        f"<uvqc.{1:040d}@lab.example.org>",
        f"<uvqc.{2:040d}@lab.example.org>",
    ]
    assert queue_depth(setup.sqs, setup.queues.url) == (0, 0)
    assert setup.status("S-1") is NotificationStatus.SENT


def test_a_transient_failure_is_delayed_then_delivered(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.relay.set_faults(transient_rate=1.0)
    setup.publish(request(3))
    setup.esm.poll_once()
    assert setup.esm.stats.reported_failures == 1
    assert setup.status("S-3") is NotificationStatus.RETRYING
    assert queue_depth(setup.sqs, setup.queues.url) == (0, 1)  # hidden for the backoff
    assert "NotificationsRetried" in capsys.readouterr().out

    setup.relay.clear_faults()
    deadline = time.monotonic() + 10
    while setup.relay.message_ids() == [] and time.monotonic() < deadline:
        setup.esm.poll_once()
        time.sleep(0.3)
    assert setup.relay.message_ids() == [f"<uvqc.{3:040d}@lab.example.org>"]
    assert setup.status("S-3") is NotificationStatus.SENT


def test_a_permanent_failure_goes_to_the_dlq_with_its_reason(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.relay.reject_sample = "S-4"
    setup.publish(request(4), request(5))
    setup.esm.poll_once()
    assert setup.esm.stats.reported_failures == 0  # dead-lettered by us, so deleted
    assert queue_depth(setup.sqs, setup.queues.url) == (0, 0)
    (dead,) = setup.sqs.receive_message(
        QueueUrl=setup.queues.dlq_url, MessageAttributeNames=["All"]
    )["Messages"]
    attrs = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attrs["sampleId"] == "S-4"
    assert attrs["correlationId"] == "corr-4"
    assert attrs["reason"].startswith("permanent failure:")
    assert "550" in attrs["reason"]
    assert setup.status("S-4") is NotificationStatus.DEAD
    assert [r.sample_id for r in setup.relay.messages()] == ["S-5"]
    assert "NotificationsDeadLettered" in capsys.readouterr().out


def test_retries_are_exhausted_after_max_attempts(setup: Setup) -> None:
    setup.env["UVQC_MAX_ATTEMPTS"] = "1"
    setup.relay.set_faults(transient_rate=1.0)
    setup.publish(request(6))
    setup.esm.poll_once()
    (dead,) = setup.sqs.receive_message(
        QueueUrl=setup.queues.dlq_url, MessageAttributeNames=["All"]
    )["Messages"]
    assert dead["MessageAttributes"]["reason"]["StringValue"].startswith("gave up after 1")


def test_the_smtp_password_is_read_from_ssm(aws: AwsFactory, setup: Setup) -> None:
    with FaultyRelay(auth=("uvqc", "s3cret-from-ssm")) as secured:
        name = f"/uvqc/test/{unique('smtp')}"
        aws("ssm").put_parameter(Name=name, Value="s3cret-from-ssm", Type="SecureString")
        setup.env.update(
            UVQC_SMTP_PORT=str(secured.port),
            UVQC_SMTP_USERNAME="uvqc",
            UVQC_SMTP_PASSWORD_PARAMETER=name,
        )
        setup.publish(request(7))
        setup.esm.poll_once()
        assert setup.esm.stats.errors == []
        assert [r.sample_id for r in secured.messages()] == ["S-7"]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_missing_password_parameter_fails_loudly(setup: Setup) -> None:
    setup.env.update(UVQC_SMTP_USERNAME="uvqc", UVQC_SMTP_PASSWORD_PARAMETER="/uvqc/nope")
    setup.publish(request(8))
    setup.esm.poll_once()
    assert setup.esm.stats.batch_failures == 1
    assert "does not exist" in setup.esm.stats.errors[0]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_missing_configuration_is_a_settings_error(moto_endpoint: str) -> None:
    from .esm import LambdaContext

    with pytest.raises(SettingsError, match="UVQC_LEDGER_TABLE"):
        handler({"Records": []}, LambdaContext())


def test_a_down_relay_defers_the_batch_without_using_up_receives_then_it_drains(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 8 case 6 on AWS: after the breaker's threshold, the rest of the batch is not
    tried; each is re-sent as a delayed copy (receive count 0 again), so a long outage
    cannot reach the queue's maxReceiveCount; when the relay answers, all are delivered."""
    setup.env.update(
        {
            "UVQC_BREAKER_THRESHOLD": "1",
            "UVQC_BREAKER_PROBE_SECONDS": "1",
            "UVQC_BREAKER_MAX_PROBE_SECONDS": "1",
            "UVQC_SMTP_TIMEOUT_SECONDS": "2",
        }
    )
    setup.relay.set_outage("refuse")
    # Results that just arrived: deferral lasts the retry schedule from their arrival.
    now = datetime.now(UTC)
    setup.publish(*(replace(request(n), received_at=now) for n in range(20, 25)))
    setup.esm.poll_once()
    out = capsys.readouterr().out
    assert "NotificationsDeferred" in out
    ledger = DynamoLedger(setup.db, setup.table)
    tried = [n for n in range(20, 25) if ledger.notifications_for_sample(f"S-{n}")]
    assert len(tried) == 1  # one try opened the breaker; the other four were not claimed
    setup.relay.set_outage(None)
    deadline = time.monotonic() + 20
    while len(setup.relay.messages()) < 5 and time.monotonic() < deadline:
        setup.esm.poll_once()
        time.sleep(0.3)
    assert sorted(m.sample_id or "" for m in setup.relay.messages()) == [
        f"S-{n}" for n in range(20, 25)
    ]
    assert queue_depth(setup.sqs, setup.queues.dlq_url) == (0, 0)


def test_a_non_ascii_recipient_is_dead_lettered_with_the_reason_not_an_exception(
    setup: Setup,
) -> None:
    """Issue 8 case 3 on AWS: UVQC_MAIL_TO='jürgen@lab.example' made every invocation raise
    (UnicodeEncodeError), and the queue dead-lettered the message without a reason."""
    with FaultyRelay(smtputf8=False) as plain:
        setup.env.update(
            {
                "UVQC_SMTP_PORT": str(plain.port),
                "UVQC_MAIL_TO": "jürgen@lab.example, lab@example.org",
            }
        )
        setup.publish(request(30))
        setup.esm.poll_once()
        assert setup.esm.stats.errors == []  # handled, not raised
        assert setup.esm.stats.reported_failures == 0
        assert [m.recipients for m in plain.messages()] == [("lab@example.org",)]
    (dead,) = setup.sqs.receive_message(
        QueueUrl=setup.queues.dlq_url, MessageAttributeNames=["All"]
    )["Messages"]
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert "jürgen@lab.example" in reason and "SMTPUTF8" in reason
    assert setup.status("S-30") is NotificationStatus.DEAD
