"""Amazon SQS adapters: the notify queue (check stage), the intake queue (`uvqc submit`),
retry delays and dead-lettering for the notify handler, and the DLQs for `uvqc dlq --aws`.

SDK errors become InfrastructureError here, at the boundary. Sends are batched
(SendMessageBatch, 10 entries); per-entry failures are reported per record, never dropped.
"""

from __future__ import annotations

import builtins
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from uvqc.adapters.boto import describe, error_code, http_status
from uvqc.errors import InfrastructureError, UsageError
from uvqc.pipeline.ports import DeadLetter
from uvqc.pipeline.records import NotificationRequest, iso, parse_iso, utcnow

log = logging.getLogger("uvqc.adapters.sqs")

SDK_ERRORS = (BotoCoreError, ClientError)
BATCH_ENTRIES = 10  # SendMessageBatch / DeleteMessageBatch limit
BATCH_BYTES = 256 * 1024  # total payload of one SendMessageBatch
MAX_VISIBILITY_SECONDS = 43_200  # 12 h
REASON_CHARS = 1000

# Message attributes uvqc sets; they survive a move to the DLQ and back.
SAMPLE_ID = "sampleId"
CORRELATION_ID = "correlationId"
NOTIFICATION_KEY = "notificationKey"
REASON = "reason"
DEAD_AT = "deadAt"
SOURCE_MESSAGE_ID = "sourceMessageId"
RECEIVE_COUNT = "receiveCount"
# Attributes that describe a death: dropped when the message is redriven.
_DEATH_ATTRIBUTES = frozenset({REASON, DEAD_AT, SOURCE_MESSAGE_ID, RECEIVE_COUNT})


def _text(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def _chunks(entries: Sequence[Any], size: int = BATCH_ENTRIES) -> Iterator[Sequence[Any]]:
    for start in range(0, len(entries), size):
        yield entries[start : start + size]


def queue_url_from_arn(arn: str) -> str:
    """The URL of a queue from its ARN (the event source of an SQS record)."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"not an SQS queue ARN: {arn!r}")
    _, partition, _, region, account, name = parts
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"


class SqsNotificationQueue:
    """NotificationQueue on SQS: one message per request, sampleId/correlationId attributes."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def publish(self, requests: Sequence[NotificationRequest]) -> set[str]:
        failed: set[str] = set()
        for chunk in _chunks(requests):
            entries = []
            for i, request in enumerate(chunk):
                attributes = {NOTIFICATION_KEY: _text(request.key)}
                if request.sample_id:
                    attributes[SAMPLE_ID] = _text(request.sample_id)
                if request.correlation_id:
                    attributes[CORRELATION_ID] = _text(request.correlation_id)
                entries.append(
                    {
                        "Id": str(i),
                        "MessageBody": request.to_json(),
                        "MessageAttributes": attributes,
                    }
                )
            try:
                response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            except SDK_ERRORS as exc:
                # This chunk failed as a whole; later chunks may still go through.
                log.error("SendMessageBatch to the notify queue failed: %s", describe(exc))  # noqa: TRY400
                failed.update(r.record_id for r in chunk)
                continue
            for entry in response.get("Failed", []):
                request = chunk[int(entry["Id"])]
                log.error(
                    "notification request not enqueued: %s %s",
                    entry.get("Code"),
                    entry.get("Message", ""),
                    extra={"sampleId": request.sample_id, "messageId": request.record_id},
                )
                failed.add(request.record_id)
        return failed


class SqsIntakeQueue:
    """IntakeQueue on SQS, for `uvqc submit --queue-url` on the instrument side."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def submit(self, bodies: Sequence[bytes]) -> list[str]:
        texts = []
        for n, body in enumerate(bodies, 1):
            try:
                texts.append(body.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise UsageError(f"message {n} is not UTF-8 text; SQS carries text only") from exc
            if len(body) > BATCH_BYTES:
                raise UsageError(f"message {n} is {len(body)} bytes; SQS takes at most 256 KiB")
        ids: list[str] = []
        for batch in self._batches(texts):
            entries = [{"Id": str(i), "MessageBody": text} for i, text in enumerate(batch)]
            try:
                response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            except SDK_ERRORS as exc:
                raise InfrastructureError(
                    f"could not submit to {self._url} after {len(ids)} message(s): {describe(exc)}"
                ) from exc
            if response.get("Failed"):
                problems = "; ".join(
                    f"{e.get('Code')}: {e.get('Message', '')}" for e in response["Failed"]
                )
                raise InfrastructureError(
                    f"SQS refused {len(response['Failed'])} of {len(batch)} message(s) after "
                    f"{len(ids)} were submitted: {problems}"
                )
            by_index = {int(e["Id"]): e["MessageId"] for e in response.get("Successful", [])}
            ids.extend(by_index[i] for i in range(len(batch)))
        return ids

    @staticmethod
    def _batches(texts: Sequence[str]) -> Iterator[list[str]]:
        batch: list[str] = []
        size = 0
        for text in texts:
            n = len(text.encode("utf-8"))
            if batch and (len(batch) == BATCH_ENTRIES or size + n > BATCH_BYTES):
                yield batch
                batch, size = [], 0
            batch.append(text)
            size += n
        if batch:
            yield batch


def delay_message(client: Any, queue_url: str, receipt_handle: str, seconds: float) -> None:
    """Make a received message visible again after `seconds` (the retry backoff)."""
    timeout = max(0, min(MAX_VISIBILITY_SECONDS, round(seconds)))
    try:
        client.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=timeout
        )
    except SDK_ERRORS as exc:
        raise InfrastructureError(f"ChangeMessageVisibility failed: {describe(exc)}") from exc


MAX_DELAY_SECONDS = 900  # SendMessage DelaySeconds limit


def requeue(
    client: Any,
    queue_url: str,
    *,
    body: str,
    delay_seconds: float,
    attributes: Mapping[str, str] | None = None,
) -> str:
    """Send a copy of a message to its queue, delayed (at most 900 s), so that it starts
    over with receive count 0: how a deferred notification (circuit breaker open) is put
    back on SQS without using up the queue's maxReceiveCount. Returns the new message id."""
    delay = max(1, min(MAX_DELAY_SECONDS, math.ceil(delay_seconds)))
    message_attributes = {
        k: _text(v) for k, v in (attributes or {}).items() if v and k not in _DEATH_ATTRIBUTES
    }
    kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": body, "DelaySeconds": delay}
    if message_attributes:
        kwargs["MessageAttributes"] = message_attributes
    try:
        response = client.send_message(**kwargs)
    except SDK_ERRORS as exc:
        raise InfrastructureError(f"could not requeue to {queue_url}: {describe(exc)}") from exc
    return str(response["MessageId"])


def dead_letter(
    client: Any,
    dlq_url: str,
    *,
    body: str,
    reason: str,
    source_message_id: str,
    receive_count: int,
    attributes: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """Send a message to a dead-letter queue with why it is there; return the new message id."""
    message_attributes = {
        k: _text(v) for k, v in (attributes or {}).items() if v and k not in _DEATH_ATTRIBUTES
    }
    message_attributes[REASON] = _text(reason[:REASON_CHARS])
    message_attributes[DEAD_AT] = _text(iso(now or utcnow()))
    message_attributes[SOURCE_MESSAGE_ID] = _text(source_message_id)
    message_attributes[RECEIVE_COUNT] = {"DataType": "Number", "StringValue": str(receive_count)}
    try:
        response = client.send_message(
            QueueUrl=dlq_url, MessageBody=body, MessageAttributes=message_attributes
        )
    except SDK_ERRORS as exc:
        raise InfrastructureError(f"could not dead-letter to {dlq_url}: {describe(exc)}") from exc
    return str(response["MessageId"])


def string_attributes(message_attributes: Mapping[str, Any]) -> dict[str, str]:
    """String message attributes of a received message or an SQS event record."""
    found: dict[str, str] = {}
    for name, value in message_attributes.items():
        text = value.get("StringValue", value.get("stringValue"))
        if isinstance(text, str):
            found[name] = text
    return found


@dataclass(frozen=True, slots=True)
class DeadLetterQueue:
    """A DLQ and the source queue its messages are redriven to."""

    name: str  # "intake" | "notify"
    url: str
    source_url: str


class SqsDeadLetters:
    """DeadLetters on SQS: list/show without consuming, redrive with StartMessageMoveTask or,
    where that API is unavailable (moto, some endpoints), receive/send/delete."""

    PEEK_SECONDS = 30  # how long a listed message stays hidden before it is released

    def __init__(
        self, client: Any, queues: Sequence[DeadLetterQueue], *, move_client: Any = None
    ) -> None:
        self._sqs = client
        # StartMessageMoveTask goes through a client that fails fast (no retries), so an
        # endpoint without the API falls back at once instead of after a retry budget.
        self._move = move_client or client
        self._queues = {q.name: q for q in queues}

    def list(self, limit: int = 100) -> builtins.list[DeadLetter]:
        letters: builtins.list[DeadLetter] = []
        for queue in self._queues.values():
            letters.extend(self._peek(queue, limit - len(letters)))
            if len(letters) >= limit:
                break
        return letters

    def show(self, message_id: str) -> DeadLetter | None:
        return next((d for d in self.list(limit=10_000) if d.message_id == message_id), None)

    def redrive(self, queue: str | None = None) -> int:
        if queue is not None and queue not in self._queues:
            known = ", ".join(self._queues) or "none configured"
            raise UsageError(f"unknown dead-letter queue {queue!r} (known: {known})")
        targets = [self._queues[queue]] if queue else builtins.list(self._queues.values())
        return sum(self._redrive(q) for q in targets)

    # -- internals ------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._sqs, operation)(**kwargs)
        except SDK_ERRORS as exc:
            raise InfrastructureError(f"SQS {operation} failed: {describe(exc)}") from exc

    def _receive(self, url: str, visibility: int) -> builtins.list[dict[str, Any]]:
        response = self._call(
            "receive_message",
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        return builtins.list(response.get("Messages", []))

    def _peek(self, queue: DeadLetterQueue, limit: int) -> builtins.list[DeadLetter]:
        seen: dict[str, DeadLetter] = {}
        receipts: builtins.list[str] = []
        while len(seen) < limit:
            batch = self._receive(queue.url, self.PEEK_SECONDS)
            fresh = [m for m in batch if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen[message["MessageId"]] = self._letter(queue.name, message)
                receipts.append(message["ReceiptHandle"])
        # Release what we looked at: visible again at once, for the next list or a redrive.
        for chunk in _chunks(receipts):
            self._call(
                "change_message_visibility_batch",
                QueueUrl=queue.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                    for i, r in enumerate(chunk)
                ],
            )
        return builtins.list(seen.values())[:limit]

    @staticmethod
    def _letter(queue: str, message: Mapping[str, Any]) -> DeadLetter:
        attrs = string_attributes(message.get("MessageAttributes", {}))
        system = message.get("Attributes", {})
        receives = int(attrs.get(RECEIVE_COUNT) or system.get("ApproximateReceiveCount", 0))
        reason = attrs.get(REASON) or (
            f"the {queue} queue's RedrivePolicy moved it after repeated failed receives "
            "(maxReceiveCount); see the function's logs for its messageId"
        )
        # Moved by a RedrivePolicy: SQS keeps only the original enqueue time, no death time.
        dead_at = parse_iso(attrs[DEAD_AT]) if DEAD_AT in attrs else None
        sample_id = attrs.get(SAMPLE_ID)
        return DeadLetter(
            message_id=str(message["MessageId"]),
            queue=queue,
            body=str(message.get("Body", "")),
            reason=reason,
            sample_id=sample_id,
            dead_at=dead_at,
            receive_count=receives,
        )

    def _redrive(self, queue: DeadLetterQueue) -> int:
        dlq_attrs = self._call(
            "get_queue_attributes",
            QueueUrl=queue.url,
            AttributeNames=["QueueArn", "ApproximateNumberOfMessages"],
        )["Attributes"]
        waiting = int(dlq_attrs.get("ApproximateNumberOfMessages", 0))
        if waiting == 0:
            return 0
        source_arn = self._call(
            "get_queue_attributes", QueueUrl=queue.source_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        try:
            self._move.start_message_move_task(
                SourceArn=dlq_attrs["QueueArn"], DestinationArn=source_arn
            )
        except SDK_ERRORS as exc:
            if not _move_task_unavailable(exc):
                raise InfrastructureError(
                    f"StartMessageMoveTask from {queue.name} DLQ failed: {describe(exc)}"
                ) from exc
            log.info("StartMessageMoveTask unavailable (%s); moving messages one by one", exc)
            return self._move_by_hand(queue)
        log.info("started a message move task for %d message(s) from the %s DLQ", waiting, queue)
        return waiting

    def _move_by_hand(self, queue: DeadLetterQueue) -> int:
        """Receive, send to the source queue, delete: at-least-once (a crash between send
        and delete redrives a message twice; the notification ledger absorbs that)."""
        moved = 0
        while True:
            batch = self._receive(queue.url, 60)
            if not batch:
                return moved
            entries = []
            for i, message in enumerate(batch):
                attributes = {
                    k: v
                    for k, v in message.get("MessageAttributes", {}).items()
                    if k not in _DEATH_ATTRIBUTES
                }
                entry: dict[str, Any] = {"Id": str(i), "MessageBody": message["Body"]}
                if attributes:
                    entry["MessageAttributes"] = attributes
                entries.append(entry)
            response = self._call("send_message_batch", QueueUrl=queue.source_url, Entries=entries)
            sent = {int(e["Id"]) for e in response.get("Successful", [])}
            for failure in response.get("Failed", []):
                log.error(
                    "could not redrive %s: %s",
                    batch[int(failure["Id"])]["MessageId"],
                    failure.get("Message", failure.get("Code")),
                )
            done = [batch[i] for i in sorted(sent)]
            if done:
                self._call(
                    "delete_message_batch",
                    QueueUrl=queue.url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done)
                    ],
                )
            moved += len(done)
            if len(done) < len(batch):
                raise InfrastructureError(
                    f"redrive of the {queue.name} DLQ stopped after {moved} message(s): "
                    "the source queue refused some (see the log); run it again"
                )


def _move_task_unavailable(exc: BaseException) -> bool:
    """StartMessageMoveTask is not implemented by this endpoint (moto answers a bare HTTP
    500 page; other emulators an unknown-action code). AWS itself always answers with an
    error code, so a real InternalError is not mistaken for a missing API."""
    code = error_code(exc)
    if code in {"InvalidAction", "UnsupportedOperation", "NotImplemented", "UnknownOperation"}:
        return True
    return code.isdigit() and http_status(exc) in {500, 501}


def epoch_ms(value: str) -> datetime:
    """An SQS timestamp attribute (milliseconds since the epoch) as an aware datetime."""
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
