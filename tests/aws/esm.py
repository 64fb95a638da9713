"""An SQS -> Lambda event source mapping emulator, for driving the real handlers on moto.

moto's own mapping ignores ReportBatchItemFailures (and would try to run the function in
Docker), so the end-to-end tests disable it and poll with this instead. It does what the
Lambda poller does: receive up to the batch size (AttributeNames=All), build the SQS event
exactly as Lambda shapes it, invoke the handler with a Lambda context and the function's
environment, then delete every message except those named in `batchItemFailures`. A handler
exception or an invalid response fails the whole batch (nothing deleted). Visibility
timeouts and the queue's RedrivePolicy are SQS's own (moto's), so they are honoured as is.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[Mapping[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The LambdaContext attributes the handlers and Powertools read."""

    function_name: str = "uvqc-test-fn"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:uvqc-test-fn"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/uvqc-test-fn"
    log_stream_name: str = "2026/11/27/[$LATEST]0123456789abcdef"
    timeout_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


def event_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of a Lambda SQS event, from a ReceiveMessage message (Lambda's casing)."""
    attributes = {
        k: v
        for k, v in message.get("Attributes", {}).items()
        if k
        in {
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
            "AWSTraceHeader",
            "MessageGroupId",
            "MessageDeduplicationId",
            "SequenceNumber",
        }
    }
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


@contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """The function's environment, for the duration of one invocation."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Stats:
    invocations: int = 0
    received: int = 0
    deleted: int = 0
    reported_failures: int = 0
    batch_failures: int = 0  # invocations that raised or answered something invalid
    errors: list[str] = field(default_factory=list)


class EventSourceMapping:
    """Poll one queue into one handler, like Lambda's SQS poller."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler,
        *,
        batch_size: int = 10,
        function_name: str = "uvqc-test-fn",
        timeout_seconds: int = 30,
        environment: Mapping[str, str] | None = None,
        region: str = "eu-west-1",
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.batch_size = batch_size
        self.function_name = function_name
        self.timeout_ms = timeout_seconds * 1000
        self.environment = dict(environment or {})
        self.region = region
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.stats = Stats()

    def receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.batch_size:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not batch:
                break
            messages.extend(batch)
        return messages

    def poll_once(self) -> int:
        """One receive + invoke + delete cycle; returns how many messages were received."""
        messages = self.receive()
        if not messages:
            return 0
        self.stats.received += len(messages)
        event = {"Records": [event_record(m, self.queue_arn, self.region) for m in messages]}
        context = LambdaContext(
            function_name=self.function_name,
            invoked_function_arn=f"arn:aws:lambda:{self.region}:123456789012:function:"
            f"{self.function_name}",
            timeout_ms=self.timeout_ms,
        )
        self.stats.invocations += 1
        try:
            with environment(self.environment):
                response = self.handler(event, context)
            failed = self._failed_ids(response, {m["MessageId"] for m in messages})
        except Exception as exc:
            # A failed invocation: Lambda deletes nothing; visibility expiry brings them back.
            self.stats.batch_failures += 1
            self.stats.errors.append(f"{type(exc).__name__}: {exc}")
            return len(messages)
        self.stats.reported_failures += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            response = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
                ],
            )
            assert not response.get("Failed"), response["Failed"]
            self.stats.deleted += len(chunk)
        return len(messages)

    @staticmethod
    def _failed_ids(response: Any, batch_ids: set[str]) -> set[str]:
        """Lambda's rules for a partial batch response (ReportBatchItemFailures)."""
        if response is None or response == {}:
            return set()
        if not isinstance(response, Mapping) or "batchItemFailures" not in response:
            raise ValueError(f"invalid partial batch response: {response!r}")
        failed: set[str] = set()
        for item in response["batchItemFailures"] or []:
            identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
            if not identifier or identifier not in batch_ids:
                raise ValueError(f"invalid itemIdentifier in {item!r}: whole batch fails")
            failed.add(identifier)
        return failed


def queue_depth(sqs: Any, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )
