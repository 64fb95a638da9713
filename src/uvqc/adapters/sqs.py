"""Amazon SQS adapters: the notify queue (check stage), the intake queue (`uvqc submit`),
retry delays and dead-lettering for the notify handler, and the DLQs for `uvqc dlq --aws`.

SDK errors become InfrastructureError here, at the boundary. Sends are batched
(SendMessageBatch: at most 10 entries and 256 KiB in all); per-entry failures are reported
per record, never dropped.

What SQS refuses never leaves here: message attributes are written with `limits.sqs_safe`
(a character outside SQS's set, such as U+FFFF in a sample ID, becomes a visible `\\uffff`);
bodies are ASCII JSON or checked text; an intake line that SQS cannot carry as it is (not
UTF-8, a character outside the set, over 256 KiB with its attributes) is sent as a stand-in
(attribute `standIn`: `base64` keeps its exact bytes, `oversized` its size, digest and first
4 KiB) that the check stage turns back into the same verdict the embedded runtime gives.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import dataclasses
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from uvqc.adapters.boto import describe, error_code, http_status
from uvqc.errors import InfrastructureError, SettingsError, UsageError
from uvqc.pipeline.limits import (
    SQS_MESSAGE_BYTES,
    bound_text,
    cut_utf8,
    sqs_invalid_at,
    sqs_safe,
    utf8_len,
)
from uvqc.pipeline.ports import DeadLetter
from uvqc.pipeline.records import NotificationRequest, iso, parse_iso, utcnow
from uvqc.pipeline.submission import Oversized, Submission, SubmitReport

if TYPE_CHECKING:
    from uvqc.adapters.submit_journal import SubmitJournal
    from uvqc.pipeline.notify import RetryPolicy

log = logging.getLogger("uvqc.adapters.sqs")

SDK_ERRORS = (BotoCoreError, ClientError)
BATCH_ENTRIES = 10  # SendMessageBatch / DeleteMessageBatch limit
BATCH_BYTES = SQS_MESSAGE_BYTES  # total payload (bodies + attributes) of one SendMessageBatch
MAX_VISIBILITY_SECONDS = 43_200  # 12 h, counted from the message's first receive
VISIBILITY_MARGIN_SECONDS = 60  # kept below the 12 h: clocks and the time to make the call
# A notification's whole retry schedule must fit in the 12 h a received message can stay
# hidden; 30 min of it are left for the invocations themselves.
RETRY_WINDOW_SECONDS = MAX_VISIBILITY_SECONDS - 1_800
REASON_CHARS = 1000
SOURCE_CHARS = 1000
DEATH_RESERVE_BYTES = 1024  # kept free in intake messages for the DLQ's reason, deadAt, ...

# Message attributes uvqc sets; they survive a move to the DLQ and back.
SAMPLE_ID = "sampleId"
CORRELATION_ID = "correlationId"
NOTIFICATION_KEY = "notificationKey"
REASON = "reason"
DEAD_AT = "deadAt"
SOURCE_MESSAGE_ID = "sourceMessageId"
RECEIVE_COUNT = "receiveCount"
SOURCE = "source"  # where a submitted result came from ("day.jsonl:12")
SUBMISSION_ID = "submissionId"  # stable identity of a submitted line
STAND_IN = "standIn"  # the body stands in for a message SQS cannot carry as it is
BASE64 = "base64"  # ... the message's exact bytes, base64
OVERSIZED = "oversized"  # ... an Oversized summary (size, sha256, first bytes)
# Attributes that describe a death: dropped when the message is redriven.
_DEATH_ATTRIBUTES = frozenset({REASON, DEAD_AT, SOURCE_MESSAGE_ID, RECEIVE_COUNT})


def _text(value: str) -> dict[str, str]:
    """A String message attribute; characters SQS refuses are escaped (limits.sqs_safe)."""
    return {"DataType": "String", "StringValue": sqs_safe(value)}


def message_bytes(body: str, attributes: Mapping[str, Mapping[str, str]]) -> int:
    """Size of a message as SQS counts it against its limit: the body plus, per attribute,
    its name, data type and value (UTF-8)."""
    return utf8_len(body) + sum(
        utf8_len(name) + utf8_len(a["DataType"]) + utf8_len(a.get("StringValue", ""))
        for name, a in attributes.items()
    )


def _entry_bytes(entry: Mapping[str, Any]) -> int:
    return message_bytes(entry["MessageBody"], entry.get("MessageAttributes", {}))


def _size_batches(entries: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """SendMessageBatch groups: at most 10 entries and BATCH_BYTES in all (entries keep their
    order; each is given an Id local to its batch)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        n = _entry_bytes(entry)
        if batch and (len(batch) == BATCH_ENTRIES or size + n > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += n
    if batch:
        yield batch


def intake_entry(
    raw: bytes, *, source: str | None = None, submission_id: str | None = None
) -> dict[str, Any]:
    """The SendMessage entry of one intake message, always one SQS accepts: the text as it
    is when it can be; else a stand-in (see the module doc)."""
    attributes: dict[str, dict[str, str]] = {}
    if source:
        attributes[SOURCE] = _text(bound_text(source, SOURCE_CHARS))
    if submission_id:
        attributes[SUBMISSION_ID] = _text(submission_id)
    room = (
        SQS_MESSAGE_BYTES
        - message_bytes("", {**attributes, STAND_IN: _text(OVERSIZED)})
        - DEATH_RESERVE_BYTES
    )
    try:
        text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    carried = text is not None and sqs_invalid_at(text) is None
    if text is not None and carried and utf8_len(text) <= room:
        return {"MessageBody": text, "MessageAttributes": attributes}
    if not carried:
        encoded = base64.b64encode(raw).decode("ascii")
        if len(encoded) <= room:
            attributes[STAND_IN] = _text(BASE64)
            return {"MessageBody": encoded, "MessageAttributes": attributes}
    attributes[STAND_IN] = _text(OVERSIZED)
    body = Oversized.of(raw, SQS_MESSAGE_BYTES).to_json()
    return {"MessageBody": body, "MessageAttributes": attributes}


def read_intake(body: str, attributes: Mapping[str, str]) -> tuple[str | bytes, Oversized | None]:
    """The message an intake body stands for: (the body or the original bytes, None), or
    (the body, Oversized) for a message that was too large. A malformed stand-in is judged
    as the body it is (a reject), never an exception."""
    kind = attributes.get(STAND_IN)
    try:
        if kind == BASE64:
            return base64.b64decode(body, validate=True), None
        if kind == OVERSIZED:
            return body, Oversized.from_json(body)
    except (binascii.Error, ValueError, KeyError, TypeError):
        log.warning("malformed %s stand-in on the intake queue; judged as it is", kind)
    return body, None


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
        entries: list[dict[str, Any]] = []
        for request in requests:
            entry = self._entry(request)
            if entry is None:
                failed.add(request.record_id)
            else:
                entries.append(entry)
        for batch in _size_batches(entries):
            chunk = [e.pop("request") for e in batch]
            for i, e in enumerate(batch):
                e["Id"] = str(i)
            try:
                response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=batch)
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

    @staticmethod
    def _entry(request: NotificationRequest) -> dict[str, Any] | None:
        """The entry of a request, within SQS's message limit: findings are bounded already
        (limits.bound_findings); if many of them still make it too large, their messages
        are cut to 200 characters and the excerpt dropped. None if it cannot fit at all."""
        attributes = {NOTIFICATION_KEY: _text(request.key)}
        if request.sample_id:
            attributes[SAMPLE_ID] = _text(request.sample_id)
        if request.correlation_id:
            attributes[CORRELATION_ID] = _text(request.correlation_id)
        body = request.to_json()
        if message_bytes(body, attributes) > SQS_MESSAGE_BYTES:
            findings = tuple(
                dataclasses.replace(f, message=bound_text(f.message, 200)) for f in request.findings
            )
            body = dataclasses.replace(request, findings=findings, excerpt="").to_json()
        if message_bytes(body, attributes) > SQS_MESSAGE_BYTES:
            log.error(
                "notification request over the SQS message limit (%d findings)",
                len(request.findings),
                extra={"sampleId": request.sample_id, "recordId": request.record_id},
            )
            return None
        return {"MessageBody": body, "MessageAttributes": attributes, "request": request}


class SqsIntakeQueue:
    """IntakeQueue on SQS, for `uvqc submit --queue-url` on the instrument side.

    Every message is sent: one SQS cannot carry as it is goes as a stand-in (intake_entry),
    so a bad line is a reject naming its source, as in the embedded runtime. With a journal
    (`submit_new`), lines submitted before to the same queue are skipped: a re-run after a
    crash sends only what is missing. The journal is written after each SendMessageBatch
    succeeded, so a crash between the two resends at most one batch (10 messages), which
    the check stage records under the same record ids (derived from the submission id).
    """

    def __init__(self, client: Any, queue_url: str, journal: SubmitJournal | None = None) -> None:
        self._sqs = client
        self._url = queue_url
        self._journal = journal

    def submit(self, bodies: Sequence[bytes]) -> list[str]:
        """Send every body (no source, no journal); the new message ids, in order."""
        return self._send([intake_entry(body) for body in bodies], [None] * len(bodies))

    def submit_new(self, items: Sequence[Submission]) -> SubmitReport:
        """Send the items not submitted to this queue before; skip (and count) the others."""
        seen = (
            self._journal.seen(self._url, [i.submission_id for i in items])
            if self._journal
            else set()
        )
        todo: list[Submission] = []
        for item in items:
            if item.submission_id in seen:
                continue
            seen.add(item.submission_id)  # the same line twice in one run is sent once
            todo.append(item)
        entries = [
            intake_entry(i.raw, source=i.source, submission_id=i.submission_id) for i in todo
        ]
        self._send(entries, todo)
        return SubmitReport(submitted=len(todo), skipped=len(items) - len(todo))

    def _send(self, entries: list[dict[str, Any]], items: Sequence[Submission | None]) -> list[str]:
        for entry, item in zip(entries, items, strict=True):
            entry["item"] = item
        ids: list[str] = []
        for batch in _size_batches(entries):
            sent = [e.pop("item") for e in batch]
            for i, e in enumerate(batch):
                e["Id"] = str(i)
            where = next((f" (from {s.source})" for s in sent if s is not None), "")
            try:
                response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=batch)
            except SDK_ERRORS as exc:
                raise InfrastructureError(
                    f"could not submit to {self._url} after {len(ids)} message(s){where}: "
                    f"{describe(exc)}; run the same command again to send the rest"
                ) from exc
            by_index = {int(e["Id"]): e["MessageId"] for e in response.get("Successful", [])}
            done = [(sent[i], m) for i, m in sorted(by_index.items()) if sent[i] is not None]
            if self._journal is not None and done:
                self._journal.record(
                    self._url, [(s.submission_id, s.source, m) for s, m in done if s]
                )
            if response.get("Failed"):
                problems = "; ".join(
                    f"{_where(sent[int(e['Id'])])}{e.get('Code')}: {e.get('Message', '')}"
                    for e in response["Failed"]
                )
                raise InfrastructureError(
                    f"SQS refused {len(response['Failed'])} of {len(batch)} message(s) after "
                    f"{len(ids) + len(by_index)} were submitted: {problems}; run the same "
                    "command again to send the rest"
                )
            ids.extend(by_index[i] for i in range(len(batch)))
        return ids


def _where(item: Submission | None) -> str:
    return f"{item.source}: " if item is not None else ""


def check_retry_schedule(policy: RetryPolicy) -> None:
    """Refuse a retry schedule SQS cannot keep: a notification waits for its retries in the
    notify queue as an invisible message, and a received message can stay hidden for at most
    12 hours in all (ChangeMessageVisibility, counted from its first receive). So the
    longest possible schedule (every delay at its jittered maximum, capped) must fit in
    RETRY_WINDOW_SECONDS (11.5 h). SettingsError names the settings and the total."""
    total = policy.longest_schedule()
    if total > RETRY_WINDOW_SECONDS:
        raise SettingsError(
            f"retry schedule too long for SQS: UVQC_MAX_ATTEMPTS={policy.max_attempts}, "
            f"UVQC_RETRY_BASE_SECONDS={policy.base_seconds:g} and "
            f"UVQC_RETRY_MAX_SECONDS={policy.max_seconds:g} can wait {total:,.0f} s in all, "
            f"but a message on an SQS queue can stay hidden for at most 12 h "
            f"({MAX_VISIBILITY_SECONDS} s) from its first receive; keep the total under "
            f"{RETRY_WINDOW_SECONDS} s (fewer attempts or a lower UVQC_RETRY_MAX_SECONDS)"
        )


def delay_message(
    client: Any,
    queue_url: str,
    receipt_handle: str,
    seconds: float,
    *,
    first_received_at: datetime | None = None,
    now: datetime | None = None,
) -> int:
    """Make a received message visible again after `seconds` (the retry backoff); returns
    the visibility timeout set. SQS refuses a visibility that would keep the message hidden
    beyond 12 h from its first receive, so the delay is capped at what is left of those
    12 h (less a margin), never refused."""
    allowed = MAX_VISIBILITY_SECONDS - VISIBILITY_MARGIN_SECONDS
    if first_received_at is not None:
        elapsed = ((now or utcnow()) - first_received_at).total_seconds()
        allowed -= max(0, int(elapsed) + 1)
    timeout = max(0, min(allowed, round(seconds)))
    if timeout < round(seconds):
        log.warning(
            "retry delay of %.0f s capped at %d s: SQS keeps a message hidden at most 12 h "
            "from its first receive",
            seconds,
            timeout,
        )
    try:
        client.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=timeout
        )
    except SDK_ERRORS as exc:
        raise InfrastructureError(f"ChangeMessageVisibility failed: {describe(exc)}") from exc
    return timeout


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
    message_attributes[DEAD_AT] = _text(iso(now or utcnow()))
    message_attributes[SOURCE_MESSAGE_ID] = _text(source_message_id)
    message_attributes[RECEIVE_COUNT] = {"DataType": "Number", "StringValue": str(receive_count)}
    # The reason takes what is left of the message limit (intake messages keep
    # DEATH_RESERVE_BYTES free for it), so a large message can always be dead-lettered.
    room = SQS_MESSAGE_BYTES - message_bytes(body, message_attributes) - len(REASON) - 6
    message_attributes[REASON] = _text(cut_utf8(bound_text(reason, REASON_CHARS), room))
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

    name: str  # "intake" | "notify" | "digest"
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
            for message in batch:
                attributes = {
                    k: v
                    for k, v in message.get("MessageAttributes", {}).items()
                    if k not in _DEATH_ATTRIBUTES
                }
                entry: dict[str, Any] = {"MessageBody": message["Body"], "message": message}
                if attributes:
                    entry["MessageAttributes"] = attributes
                entries.append(entry)
            done = []
            for group in _size_batches(entries):  # 10 large messages exceed one batch
                messages = [e.pop("message") for e in group]
                for i, e in enumerate(group):
                    e["Id"] = str(i)
                response = self._call(
                    "send_message_batch", QueueUrl=queue.source_url, Entries=group
                )
                for failure in response.get("Failed", []):
                    log.error(
                        "could not redrive %s: %s",
                        messages[int(failure["Id"])]["MessageId"],
                        failure.get("Message", failure.get("Code")),
                    )
                sent = {int(e["Id"]) for e in response.get("Successful", [])}
                done += [messages[i] for i in sorted(sent)]
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
