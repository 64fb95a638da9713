"""The AWS path end to end: the *packaged* CloudFormation stack on moto, the real handlers
driven by an event-source-mapping emulator, a fault-injecting SMTP relay behind them.

Queue URLs, table names, function environments and batch sizes all come from the stack, so
this proves the IaC and the code agree. Overrides, for test speed and the local relay only:
queue visibility timeouts 180/360 s -> 10 s (set on the queues after creation); on the
notify function, channel ses -> smtp pointed at the relay, STARTTLS off (the relay speaks
plain SMTP), retry backoff 30 s -> 1-2 s and max attempts 5 -> 8 (so random transient faults
never exhaust a notification; exhaustion is covered in test_notify_handler). The SMTP
password comes from the SSM parameter the template names, created here as a deployer would.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.relay import FaultyRelay
from uvqc.aws import check_handler, notify_handler, ops
from uvqc.pipeline.records import NotificationStatus

from .esm import EventSourceMapping, queue_depth
from .stack import Stack, deployed, mapping_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]

# Its own stage: moto's state is per process, and tests/iac deploys `lab` on moto too.
STAGE = "e2e"
STACK = f"uvqc-{STAGE}"
SMTP_USER, SMTP_PASSWORD = "uvqc", "relay-password-from-ssm"
PERMANENT_SAMPLE = "S-E2E-PERM"

AwsFactory = Callable[[str], Any]


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`python -m uvqc.aws.build` + `osls package --stage e2e` (the default parameters, as
    for `lab`), built once per session alongside the stages tests/iac packages."""
    from tests.iac.conftest import ROOT, _package, _shared_dir

    if not (ROOT / "serverless.yml").exists():
        pytest.skip("serverless.yml does not exist yet: nothing to deploy")
    return _package(_shared_dir(tmp_path_factory), STAGE)


@pytest.fixture(scope="module")
def stack(moto_endpoint: str, packaged: Any) -> Iterator[Stack]:
    with deployed(moto_endpoint, packaged, STAGE) as deployed_stack:
        yield deployed_stack


@pytest.fixture
def relay() -> Iterator[FaultyRelay]:
    relay = FaultyRelay(
        transient_rate=0.15,
        drop_rate=0.05,
        reject_sample=PERMANENT_SAMPLE,
        auth=(SMTP_USER, SMTP_PASSWORD),
        seed=11,
    )
    with relay:
        yield relay


def results() -> list[bytes]:
    """84 results: passes, flags, rejects (broken JSON, no absorbance), one flagged result
    the relay refuses for good, and four duplicate submissions of flagged ones."""
    bodies: list[bytes] = []
    for n in range(72):
        absorbance = 1.3 if n % 4 == 0 else 0.45
        bodies.append(json.dumps({"sampleId": f"S-E2E-{n:03d}", "absorbance": absorbance}).encode())
    bodies += [b'{"sampleId": "S-E2E-BROKEN", "absorbance": ', b'{"sampleId": "S-E2E-NOABS"}']
    bodies += [json.dumps({"sampleId": PERMANENT_SAMPLE, "absorbance": 1.7}).encode()]
    bodies += [bodies[0], bodies[4], bodies[8], bodies[72]]  # the instrument sent again
    return bodies


def drive(check: EventSourceMapping, notify: EventSourceMapping, sqs: Any, timeout: float) -> None:
    """Poll both queues until both are empty (nothing visible, nothing in flight)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = check.poll_once() + notify.poll_once()
        if not busy:
            if queue_depth(sqs, check.queue_url) == queue_depth(sqs, notify.queue_url) == (0, 0):
                return
            time.sleep(0.25)
    raise AssertionError(
        f"queues not drained in {timeout} s: intake {queue_depth(sqs, check.queue_url)}, "
        f"notify {queue_depth(sqs, notify.queue_url)}; {check.stats} {notify.stats}"
    )


def test_every_result_is_recorded_and_every_issue_emailed_exactly_once(
    stack: Stack, relay: FaultyRelay, aws: AwsFactory
) -> None:
    sqs, db = aws("sqs"), aws("dynamodb")
    notify_env = stack.functions["NotifyLambdaFunction"]["Environment"]["Variables"]
    aws("ssm").put_parameter(
        Name=notify_env["UVQC_SMTP_PASSWORD_PARAMETER"], Value=SMTP_PASSWORD, Type="SecureString"
    )
    check = mapping_for(stack, "CheckLambdaFunction", check_handler.handler, sqs)
    notify = mapping_for(
        stack,
        "NotifyLambdaFunction",
        notify_handler.handler,
        sqs,
        UVQC_CHANNEL="smtp",
        UVQC_SMTP_HOST=relay.host,
        UVQC_SMTP_PORT=str(relay.port),
        UVQC_SMTP_STARTTLS="false",
        UVQC_RETRY_BASE_SECONDS="1",
        UVQC_RETRY_MAX_SECONDS="2",
        UVQC_MAX_ATTEMPTS="8",
    )
    assert check.batch_size == 100 and notify.batch_size == 10
    settings = stack.settings()

    bodies = results()
    submitted = ops.intake_queue(settings, stack.outputs["IntakeQueueUrl"]).submit(bodies)
    assert len(submitted) == len(bodies)
    drive(check, notify, sqs, timeout=90)

    # Records for all: one per submitted message, as the ESM delivered them.
    records = db.scan(TableName=stack.outputs["RecordsTableName"], Select="COUNT")
    assert records["Count"] == len(bodies)
    assert check.stats.batch_failures == notify.stats.batch_failures == 0

    # Each flagged or rejected result e-mailed exactly once (by Message-ID), except the one
    # the relay refuses for good, which waits in the notify DLQ with its reason.
    keys = {
        i["notificationKey"]["S"]
        for i in db.scan(TableName=stack.outputs["RecordsTableName"])["Items"]
        if "notificationKey" in i
    }
    assert len(keys) == 18 + 2 + 1  # 72/4 flagged, 2 rejects, the refused one
    sent = Counter(relay.message_ids())
    assert set(sent.values()) == {1}
    assert len(sent) == len(keys) - 1
    assert PERMANENT_SAMPLE not in {r.sample_id for r in relay.messages()}
    assert relay.counters.transient + relay.counters.dropped > 0  # the faults did fire

    letters = ops.dead_letters(settings)
    (letter,) = letters.list()
    assert (letter.queue, letter.sample_id) == ("notify", PERMANENT_SAMPLE)
    assert letter.reason.startswith("permanent failure:") and "550" in letter.reason

    # The fault is fixed; the operator redrives (moto: the receive/send/delete fallback).
    relay.reject_sample = None
    assert letters.redrive() == 1
    drive(check, notify, sqs, timeout=30)
    assert letters.list() == []
    sent = Counter(relay.message_ids())
    assert len(sent) == len(keys) and set(sent.values()) == {1}
    assert [r.sample_id for r in relay.by_sample(PERMANENT_SAMPLE)] == [PERMANENT_SAMPLE]

    # The trace shows the story: one result, a permanent failure, then the redriven send.
    trace = ops.trace_source(settings)
    (result,) = trace.results_for_sample(PERMANENT_SAMPLE)
    assert result.verdict.value == "flag"
    (notification,) = trace.notifications_for_sample(PERMANENT_SAMPLE)
    assert notification.status is NotificationStatus.SENT
    assert [a.outcome for a in notification.attempts][-2:] == ["permanent", "sent"]
    # Duplicate submissions: two records, one notification, one e-mail.
    assert len(trace.results_for_sample("S-E2E-000")) == 2
    assert len(relay.by_sample("S-E2E-000")) == 1
