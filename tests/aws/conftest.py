"""A moto server over real HTTP for the AWS adapter, handler and end-to-end tests.

One ThreadedMotoServer per test session (per xdist worker); boto3 reaches it through
AWS_ENDPOINT_URL with fake credentials in eu-west-1, exactly as it reaches AWS. Every test
creates its own uniquely named queues and tables.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from uvqc.adapters import boto, ssm
from uvqc.aws import check_handler, digest_handler, notify_handler, runs_handler

from .esm import LambdaContext

REGION = "eu-west-1"
EVENTS = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _isolated(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    """boto3 talks to moto with fake credentials; no AWS_*/UVQC_* variable or uvqc.toml of
    the developer's leaks in; no wiring, client or cached password survives a test."""
    for name in list(os.environ):
        if name.upper().startswith(("UVQC_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.chdir(tmp_path)
    _forget()
    yield
    _forget()


def _forget() -> None:
    boto.reset()
    ssm.forget()
    check_handler.reset()
    notify_handler.reset()
    runs_handler.reset()
    digest_handler.reset()


@pytest.fixture
def aws(moto_endpoint: str) -> Callable[[str], Any]:
    """A fresh boto3 client for a service, on the moto server (for arranging and asserting)."""

    def make(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=moto_endpoint)

    return make


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Queues:
    url: str
    arn: str
    dlq_url: str
    dlq_arn: str


def make_queues(sqs: Any, prefix: str, *, max_receive: int = 5, visibility: int = 30) -> Queues:
    """A queue with a DLQ on its RedrivePolicy, as the template declares them."""
    name = unique(prefix)
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}
            ),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return Queues(url, arn, dlq_url, dlq_arn)


def make_runs_table(db: Any) -> str:
    """The runs table as serverless.yml declares it (batchId + sk, sparse GSI openRuns)."""
    name = unique("runs")
    db.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "batchId", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "runStatus", "AttributeType": "S"},
            {"AttributeName": "lastAt", "AttributeType": "N"},
            {"AttributeName": "sampleId", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "batchId", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "openRuns",
                "KeySchema": [
                    {"AttributeName": "runStatus", "KeyType": "HASH"},
                    {"AttributeName": "lastAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "bySample",
                "KeySchema": [
                    {"AttributeName": "sampleId", "KeyType": "HASH"},
                    {"AttributeName": "at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    )
    return name


def make_records_table(db: Any) -> str:
    """The records table as serverless.yml declares it (key, bySample GSI)."""
    name = unique("records")
    db.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "recordId", "AttributeType": "S"},
            {"AttributeName": "sampleId", "AttributeType": "S"},
            {"AttributeName": "receivedAt", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "recordId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "bySample",
                "KeySchema": [
                    {"AttributeName": "sampleId", "KeyType": "HASH"},
                    {"AttributeName": "receivedAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    return name


def make_ledger_table(db: Any) -> str:
    """The ledger table as serverless.yml declares it (key, bySample GSI, TTL)."""
    name = unique("ledger")
    db.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "notificationKey", "AttributeType": "S"},
            {"AttributeName": "sampleId", "AttributeType": "S"},
            {"AttributeName": "createdAt", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "notificationKey", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "bySample",
                "KeySchema": [
                    {"AttributeName": "sampleId", "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    db.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
    )
    return name


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


def result(sample_id: str, absorbance: float = 0.45) -> str:
    """A result message as an instrument sends it (0.45 passes, >= 1.0 is flagged)."""
    return json.dumps({"sampleId": sample_id, "absorbance": absorbance})


@pytest.fixture
def json_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON log lines the handlers write (Powertools binds its stream at import, so it
    is redirected here rather than captured by capsys)."""
    import io

    from uvqc.aws.observability import logger

    buffer = io.StringIO()
    stream_handler = logger.registered_handler
    assert isinstance(stream_handler, logging.StreamHandler)
    previous = stream_handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        stream_handler.setStream(previous)
