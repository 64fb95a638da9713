"""Documented AWS limits that moto does not enforce, enforced on boto3 clients with botocore
event hooks (`before-parameter-build`: the call is refused with the error AWS would give,
before it reaches moto).

- SQS message characters: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF,
  in bodies and in String attribute values ("SendMessage": MessageBody; "Amazon SQS message
  attributes"); moto accepts U+FFFF. Refused as InvalidMessageContents.
- SQS message size: 262,144 bytes for the body plus every attribute's name, type and value,
  and for the sum of a SendMessageBatch ("Amazon SQS message quotas"); moto counts the body
  only, and not the batch. Refused as InvalidParameterValue / BatchRequestTooLong.
- SQS visibility: a received message can stay hidden at most 12 hours from its first
  receive ("ChangeMessageVisibility"); moto takes any value up to 43,200 whenever it comes.
  Refused as InvalidParameterValue.
- DynamoDB item size: 400 KB, attribute names and values in UTF-8 ("Service, account, and
  table quotas in Amazon DynamoDB"). Refused as ValidationException; BatchWriteItem fails
  as a whole, as DynamoDB does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

SQS_BYTES = 262_144
DYNAMODB_ITEM_BYTES = 409_600
TWELVE_HOURS = 43_200
_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _refuse(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _message_size(body: str, attributes: Mapping[str, Mapping[str, Any]]) -> int:
    return _utf8(body) + sum(
        _utf8(name) + _utf8(a["DataType"]) + _utf8(a.get("StringValue", ""))
        for name, a in attributes.items()
    )


def _check_message(body: str, attributes: Mapping[str, Mapping[str, Any]], operation: str) -> None:
    texts = [body] + [a.get("StringValue", "") for a in attributes.values()]
    for text in texts:
        bad = _INVALID.search(text)
        if bad:
            raise _refuse(
                "InvalidMessageContents",
                f"Invalid characters found. Deserialized character U+{ord(bad.group()):04X}",
                operation,
            )
    size = _message_size(body, attributes)
    if size > SQS_BYTES:
        raise _refuse(
            "InvalidParameterValue",
            f"One or more parameters are invalid. Reason: Message must be shorter than "
            f"{SQS_BYTES} bytes (was {size}).",
            operation,
        )


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return _utf8(v)
    if kind == "N":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + _utf8(k) + _value_size(x) for k, x in v.items())
    return len(str(v))


def item_size(item: Mapping[str, Any]) -> int:
    return sum(_utf8(name) + _value_size(value) for name, value in item.items())


@dataclass
class AwsLimits:
    """The hooks' state: when each SQS message was first received (by receipt handle)."""

    first_receive: dict[str, float] = field(default_factory=dict)  # MessageId -> time
    receipts: dict[str, str] = field(default_factory=dict)  # ReceiptHandle -> MessageId
    refused: list[str] = field(default_factory=list)  # what the hooks refused

    def install(self, *clients: Any) -> AwsLimits:
        for client in clients:
            events = client.meta.events
            service = client.meta.service_model.service_name
            if service == "sqs":
                events.register("before-parameter-build.sqs.SendMessage", self._send)
                events.register("before-parameter-build.sqs.SendMessageBatch", self._send_batch)
                events.register("after-call.sqs.ReceiveMessage", self._received)
                events.register(
                    "before-parameter-build.sqs.ChangeMessageVisibility", self._visibility
                )
            elif service == "dynamodb":
                events.register("before-parameter-build.dynamodb.PutItem", self._put)
                events.register("before-parameter-build.dynamodb.BatchWriteItem", self._batch_write)
        return self

    def _guard(self, check: Any, *args: Any) -> None:
        try:
            check(*args)
        except ClientError as exc:
            self.refused.append(str(exc))
            raise

    def _send(self, params: dict[str, Any], **_: Any) -> None:
        self._guard(
            _check_message,
            params.get("MessageBody", ""),
            params.get("MessageAttributes", {}),
            "SendMessage",
        )

    def _send_batch(self, params: dict[str, Any], **_: Any) -> None:
        def check() -> None:
            total = 0
            for entry in params.get("Entries", []):
                body, attrs = entry.get("MessageBody", ""), entry.get("MessageAttributes", {})
                _check_message(body, attrs, "SendMessageBatch")
                total += _message_size(body, attrs)
            if total > SQS_BYTES:
                raise _refuse(
                    "AWS.SimpleQueueService.BatchRequestTooLong",
                    f"Batch requests cannot be longer than {SQS_BYTES} bytes (was {total}).",
                    "SendMessageBatch",
                )

        self._guard(check)

    def _received(self, parsed: dict[str, Any], **_: Any) -> None:
        now = time.time()
        for message in parsed.get("Messages", []):
            self.first_receive.setdefault(message["MessageId"], now)
            self.receipts[message["ReceiptHandle"]] = message["MessageId"]

    def _visibility(self, params: dict[str, Any], **_: Any) -> None:
        def check() -> None:
            message_id = self.receipts.get(params["ReceiptHandle"])
            first = self.first_receive.get(message_id or "", time.time())
            total = (time.time() - first) + int(params["VisibilityTimeout"])
            if total > TWELVE_HOURS:
                raise _refuse(
                    "InvalidParameterValue",
                    f"Value {params['VisibilityTimeout']} for parameter VisibilityTimeout is "
                    "invalid. Reason: Total VisibilityTimeout for the message is beyond the "
                    "limit [43200 seconds]",
                    "ChangeMessageVisibility",
                )

        self._guard(check)

    def _put(self, params: dict[str, Any], **_: Any) -> None:
        self._guard(self._check_item, params["Item"], "PutItem")

    def _batch_write(self, params: dict[str, Any], **_: Any) -> None:
        def check() -> None:
            for requests in params.get("RequestItems", {}).values():
                for request in requests:
                    if "PutRequest" in request:
                        self._check_item(request["PutRequest"]["Item"], "BatchWriteItem")

        self._guard(check)

    @staticmethod
    def _check_item(item: Mapping[str, Any], operation: str) -> None:
        size = item_size(item)
        if size > DYNAMODB_ITEM_BYTES:
            raise _refuse(
                "ValidationException",
                f"Item size has exceeded the maximum allowed size ({size} bytes)",
                operation,
            )
