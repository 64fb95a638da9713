"""Amazon DynamoDB adapters: the records table (RecordStore + trace) and the notification
ledger (Ledger + trace), with the same semantics as the SQLite and in-memory ones.

Records: key `recordId`, GSI `bySample` (sampleId, receivedAt); written with BatchWriteItem
in chunks of 25, UnprocessedItems retried with backoff. Findings are kept as a JSON string,
as in the embedded store (exact round trip; no Decimal or NaN surprises). Every item is sized
before it is written (DynamoDB's 400 KB item limit counts attribute names and values in
UTF-8): an item over the limit keeps less of its raw payload (`rawTruncated`); one that
cannot fit even so, or that DynamoDB refuses as invalid, fails alone: BatchWriteItem refuses
a whole request for one bad item, so a refused chunk is written item by item (PutItem) and
the others are stored; the caller gets UnstorableRecords naming the ones that failed. Both
GSIs project KEYS_ONLY: an index copy of every attribute doubled the storage of each record
(and, for items over 1 KB, its write units), and on the ledger it cost an index write on
every status update; a trace queries the index for keys, then reads the items with
BatchGetItem.

Ledger: key `notificationKey`, GSI `bySample` (sampleId, createdAt), TTL `expiration`.
`claim` is a conditional PutItem (new key) or a conditional UpdateItem guarded by a version
number (existing key), so two workers can never both hold a notification:
new -> CLAIMED; SENT -> ALREADY_SENT; SENDING with an unexpired lease -> BUSY;
SENDING with an expired lease -> CLAIMED (resend); RETRYING/DEAD -> CLAIMED.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from uvqc.adapters.boto import describe, error_code
from uvqc.core.verdicts import Finding, Verdict
from uvqc.errors import InfrastructureError, UnstorableRecords
from uvqc.pipeline.limits import DYNAMODB_ITEM_BYTES, bound_text, cut_utf8, utf8_len
from uvqc.pipeline.ports import Claim, ClaimState, decide_claim
from uvqc.pipeline.records import (
    Attempt,
    NotificationRecord,
    NotificationRequest,
    NotificationStatus,
    ResultRecord,
    iso,
    parse_iso,
)

SDK_ERRORS = (BotoCoreError, ClientError)
BATCH_ITEMS = 25  # BatchWriteItem limit
BATCH_GET_KEYS = 100  # BatchGetItem limit
UNPROCESSED_RETRIES = 8
LEDGER_RETENTION = timedelta(days=90)  # > queue (4 d) + DLQ (14 d) retention: no resend
CLAIM_RACES = 5  # re-reads after losing a conditional-update race before giving up
# What a record item may use: 400,000 bytes, under the limit whether "400 KB" is read as
# 400,000 or 409,600 bytes (DynamoDB's own counting of numbers and nesting is approximate).
ITEM_BUDGET = 400_000
TEXT_CHARS = 1_000  # a ledger attempt's detail or last error (relay replies, SDK errors)

# -- attribute values (the low-level client's typed format) ------------------------------


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _list(values: Sequence[str]) -> dict[str, Any]:
    return {"L": [_s(v) for v in values]}


def _get_s(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None or "NULL" in value else str(value["S"])


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def paginate(
    operation: Callable[..., Any], what: str, **kwargs: Any
) -> Iterator[Mapping[str, Any]]:
    """Every item of a paginated Query or Scan (following LastEvaluatedKey);
    InfrastructureError naming `what` when the SDK call fails."""
    while True:
        try:
            page = operation(**kwargs)
        except SDK_ERRORS as exc:
            raise InfrastructureError(f"{what} failed: {describe(exc)}") from exc
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _query_all(client: Any, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
    return paginate(client.query, "DynamoDB query", **kwargs)


def _items_by_key(
    client: Any,
    table: str,
    key: str,
    index_items: Sequence[Mapping[str, Any]],
    sleep: Callable[[float], None] = time.sleep,
) -> list[Mapping[str, Any]]:
    """The full items behind a KEYS_ONLY index query's results, in the query's order
    (BatchGetItem, 100 keys per call, UnprocessedKeys retried with backoff). An item gone
    between the query and the read (TTL expiry) is left out."""
    wanted = [str(i[key]["S"]) for i in index_items]
    found: dict[str, Mapping[str, Any]] = {}
    for chunk in _chunks(list(dict.fromkeys(wanted)), BATCH_GET_KEYS):
        pending: dict[str, Any] = {table: {"Keys": [{key: _s(k)} for k in chunk]}}
        for attempt in range(UNPROCESSED_RETRIES + 1):
            try:
                response = client.batch_get_item(RequestItems=pending)
            except SDK_ERRORS as exc:
                raise InfrastructureError(
                    f"BatchGetItem on {table} failed: {describe(exc)}"
                ) from exc
            for item in response.get("Responses", {}).get(table, []):
                found[str(item[key]["S"])] = item
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            sleep(min(2.0, 0.05 * 2**attempt))
        else:
            raise InfrastructureError(
                f"BatchGetItem on {table}: keys still unprocessed after "
                f"{UNPROCESSED_RETRIES} retries (throttled)"
            )
    return [found[k] for k in wanted if k in found]


# -- records -----------------------------------------------------------------------------


def _findings_json(findings: Sequence[Finding]) -> str:
    """Findings as JSON text, UTF-8 as is (a non-ASCII finding is not tripled by \\u
    escapes against the item limit); ASCII-escaped if it holds a lone surrogate, which
    DynamoDB's UTF-8 strings cannot carry."""
    data = [f.to_dict() for f in findings]
    text = json.dumps(data, default=str, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, default=str)
    return text


def record_item(record: ResultRecord) -> dict[str, Any]:
    """A result record as a DynamoDB item; absent values are omitted (GSI keys must be S)."""
    item: dict[str, Any] = {
        "recordId": _s(record.record_id),
        "verdict": _s(record.verdict.value),
        "findings": _s(_findings_json(record.findings)),
        "raw": _s(record.raw),
        "receivedAt": _s(iso(record.received_at)),
        "checkedAt": _s(iso(record.checked_at)),
        "rawTruncated": {"BOOL": record.raw_truncated},
        "rawBytes": _n(record.raw_bytes),
    }
    optional = {
        "sampleId": record.sample_id,
        "method": record.method,
        "notificationKey": record.notification_key,
        "correlationId": record.correlation_id,
        "source": record.source,
        "contentDigest": record.content_digest,
    }
    item.update({k: _s(v) for k, v in optional.items() if v})
    if record.indices is not None:
        item["indices"] = _s(json.dumps(dict(record.indices)))
    return item


def attribute_bytes(value: Mapping[str, Any]) -> int:
    """Size of one typed attribute value as DynamoDB counts it ("Item sizes and formats"):
    strings and binaries by their bytes (UTF-8), numbers ~1 byte per 2 digits + 1, booleans
    and nulls 1, lists and maps 3 + 1 per element + their contents (and map keys)."""
    ((kind, v),) = value.items()
    if kind == "S":
        return utf8_len(v)
    if kind == "N":
        return len(v) // 2 + 2
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + attribute_bytes(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + utf8_len(k) + attribute_bytes(x) for k, x in v.items())
    if kind == "SS":
        return sum(utf8_len(x) for x in v)
    return sum(len(x) // 2 + 2 if kind == "NS" else len(x) for x in v)


def item_bytes(item: Mapping[str, Any]) -> int:
    """Size of a whole item: every attribute name (UTF-8) plus its value."""
    return sum(utf8_len(name) + attribute_bytes(value) for name, value in item.items())


class RecordTooLarge(ValueError):
    """A record that does not fit in one DynamoDB item even without its raw payload."""


def fitted_record_item(record: ResultRecord, budget: int | None = None) -> dict[str, Any]:
    """`record_item(record)`, keeping less of the raw payload if the item would exceed
    `budget` bytes (rawTruncated becomes true; rawBytes keeps the original size).
    RecordTooLarge if even an empty payload leaves it over the budget (default ITEM_BUDGET)."""
    budget = ITEM_BUDGET if budget is None else budget
    item = record_item(record)
    size = item_bytes(item)
    if size <= budget:
        return item
    keep = utf8_len(record.raw) - (size - budget)
    if keep < 0:
        raise RecordTooLarge(
            f"the record is {size - utf8_len(record.raw):,} bytes without its raw payload, "
            f"over DynamoDB's item limit ({DYNAMODB_ITEM_BYTES:,} bytes; uvqc keeps records "
            f"under {ITEM_BUDGET:,})"
        )
    item["raw"] = _s(cut_utf8(record.raw, keep))
    item["rawTruncated"] = {"BOOL": True}
    return item


def record_from_item(item: Mapping[str, Any]) -> ResultRecord:
    return ResultRecord(
        record_id=str(item["recordId"]["S"]),
        sample_id=_get_s(item, "sampleId"),
        verdict=Verdict(item["verdict"]["S"]),
        findings=tuple(Finding.from_dict(f) for f in json.loads(item["findings"]["S"])),
        method=_get_s(item, "method"),
        raw=_get_s(item, "raw") or "",
        received_at=parse_iso(item["receivedAt"]["S"]),
        checked_at=parse_iso(item["checkedAt"]["S"]),
        notification_key=_get_s(item, "notificationKey"),
        correlation_id=_get_s(item, "correlationId"),
        raw_truncated=bool(item.get("rawTruncated", {}).get("BOOL", False)),
        raw_bytes=int(item.get("rawBytes", {}).get("N", 0)),
        indices=json.loads(item["indices"]["S"]) if "indices" in item else None,
        source=_get_s(item, "source"),
        content_digest=_get_s(item, "contentDigest"),
    )


class _Refused(Exception):
    """BatchWriteItem refused the request as invalid (ValidationException)."""


class DynamoRecordStore:
    """RecordStore + results_for_sample on the records table."""

    def __init__(
        self, client: Any, table: str, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._db = client
        self._table = table
        self._sleep = sleep

    def save_results(self, records: Sequence[ResultRecord]) -> None:
        """Store every record that can be stored. Raises UnstorableRecords (after storing the
        others) for records DynamoDB can never take; InfrastructureError when the table
        could not be reached (nothing is known to be stored: the batch is retried)."""
        # One item per key per request: BatchWriteItem rejects duplicates in a batch.
        unique = list({r.record_id: r for r in records}.values())
        reasons: dict[str, str] = {}
        items: list[tuple[str, dict[str, Any]]] = []
        for r in unique:
            try:
                items.append((r.record_id, fitted_record_item(r)))
            except RecordTooLarge as exc:
                reasons[r.record_id] = str(exc)
        for chunk in _chunks(items, BATCH_ITEMS):
            requests = [{"PutRequest": {"Item": item}} for _, item in chunk]
            try:
                self._write(requests)
            except _Refused:
                # One invalid item fails the whole request: write them one by one, so only
                # the bad one fails.
                reasons.update(self._put_each(chunk))
        if reasons:
            raise UnstorableRecords(reasons)

    def _put_each(self, items: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, str]:
        refused: dict[str, str] = {}
        for record_id, item in items:
            try:
                self._db.put_item(TableName=self._table, Item=item)
            except ClientError as exc:
                if error_code(exc) != "ValidationException":
                    raise InfrastructureError(
                        f"PutItem to {self._table} failed: {describe(exc)}"
                    ) from exc
                refused[record_id] = f"DynamoDB refused the record: {describe(exc)}"
            except BotoCoreError as exc:
                raise InfrastructureError(
                    f"PutItem to {self._table} failed: {describe(exc)}"
                ) from exc
        return refused

    def _write(self, requests: list[dict[str, Any]]) -> None:
        pending = {self._table: requests}
        for attempt in range(UNPROCESSED_RETRIES + 1):
            try:
                response = self._db.batch_write_item(RequestItems=pending)
            except ClientError as exc:
                if error_code(exc) == "ValidationException":
                    raise _Refused(describe(exc)) from exc
                raise InfrastructureError(
                    f"BatchWriteItem to {self._table} failed: {describe(exc)}"
                ) from exc
            except BotoCoreError as exc:
                raise InfrastructureError(
                    f"BatchWriteItem to {self._table} failed: {describe(exc)}"
                ) from exc
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            self._sleep(min(2.0, 0.05 * 2**attempt))
        left = sum(len(v) for v in pending.values())
        raise InfrastructureError(
            f"BatchWriteItem to {self._table}: {left} item(s) still unprocessed after "
            f"{UNPROCESSED_RETRIES} retries (throttled)"
        )

    def results_for_sample(self, sample_id: str) -> list[ResultRecord]:
        keys = _query_all(
            self._db,
            TableName=self._table,
            IndexName="bySample",
            KeyConditionExpression="sampleId = :s",
            ExpressionAttributeValues={":s": _s(sample_id)},
        )
        items = _items_by_key(self._db, self._table, "recordId", list(keys), self._sleep)
        return [record_from_item(i) for i in items]

    def raw_messages(self, record_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """record id -> the recorded message as JSON (an object), for reports (the scans of
        flagged samples). BatchGetItem, 100 keys per call; a record not found, or whose raw
        text was cut to fit DynamoDB's 400 KB item limit (no longer JSON), is left out.
        Raises InfrastructureError when the table cannot be read."""
        keys = [{"recordId": _s(r)} for r in dict.fromkeys(record_ids)]
        found: dict[str, dict[str, Any]] = {}
        for item in _items_by_key(self._db, self._table, "recordId", keys, self._sleep):
            try:
                message = json.loads(_get_s(item, "raw") or "")
            except ValueError:
                continue  # cut to fit the item limit (or not JSON): no scan to draw
            if isinstance(message, dict):
                found[str(item["recordId"]["S"])] = message
        return found

    def result_by_id(self, record_id: str) -> ResultRecord | None:
        try:
            response = self._db.get_item(TableName=self._table, Key={"recordId": _s(record_id)})
        except SDK_ERRORS as exc:
            raise InfrastructureError(f"records GetItem failed: {describe(exc)}") from exc
        item = response.get("Item")
        return None if item is None or "verdict" not in item else record_from_item(item)


# -- ledger ------------------------------------------------------------------------------


def notification_from_item(item: Mapping[str, Any]) -> NotificationRecord:
    lease = _get_s(item, "leaseUntil")
    sent = _get_s(item, "sentAt")
    return NotificationRecord(
        key=str(item["notificationKey"]["S"]),
        sample_id=_get_s(item, "sampleId"),
        record_id=str(item["recordId"]["S"]),
        status=NotificationStatus(item["status"]["S"]),
        message_id=str(item["messageId"]["S"]),
        created_at=parse_iso(item["createdAt"]["S"]),
        lease_until=parse_iso(lease) if lease else None,
        sent_at=parse_iso(sent) if sent else None,
        last_error=_get_s(item, "lastError"),
        delivered_to=tuple(v["S"] for v in item.get("deliveredTo", {}).get("L", [])),
        attempts=tuple(
            Attempt.from_dict({k: v["S"] for k, v in a["M"].items()})
            for a in item.get("attempts", {}).get("L", [])
        ),
        channel=_get_s(item, "channel"),
    )


def _bounded_attempt(attempt: Attempt) -> dict[str, Any]:
    return {k: _s(bound_text(v, TEXT_CHARS)) for k, v in attempt.to_dict().items()}


class DynamoLedger:
    """Ledger + notifications_for_sample on the ledger table (conditional writes)."""

    def __init__(self, client: Any, table: str, *, retention: timedelta = LEDGER_RETENTION) -> None:
        self._db = client
        self._table = table
        self._retention = retention

    def _expiration(self, at: datetime) -> dict[str, str]:
        return _n(int((at + self._retention).timestamp()))

    def claim(
        self,
        request: NotificationRequest,
        *,
        message_id: str,
        worker: str,
        now: datetime,
        lease: timedelta,
    ) -> Claim:
        item: dict[str, Any] = {
            "notificationKey": _s(request.key),
            "recordId": _s(request.record_id),
            "status": _s(NotificationStatus.SENDING.value),
            "messageId": _s(message_id),
            "createdAt": _s(iso(now)),
            "leaseUntil": _s(iso(now + lease)),
            "worker": _s(worker),
            "attempts": {"L": []},
            "deliveredTo": {"L": []},
            "version": _n(1),
            "expiration": self._expiration(now),
        }
        if request.sample_id:
            item["sampleId"] = _s(request.sample_id)
        try:
            self._db.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(notificationKey)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return Claim(ClaimState.CLAIMED, notification_from_item(item))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise InfrastructureError(f"ledger PutItem failed: {describe(exc)}") from exc
            existing = getattr(exc, "response", {}).get("Item") or self._get(request.key)
        except BotoCoreError as exc:
            raise InfrastructureError(f"ledger PutItem failed: {describe(exc)}") from exc
        for _ in range(CLAIM_RACES):
            claim = self._claim_existing(existing, worker=worker, now=now, lease=lease)
            if claim is not None:
                return claim
            existing = self._get(request.key)  # another worker changed it first: look again
        raise InfrastructureError(
            f"ledger: lost {CLAIM_RACES} races for notification {request.key}; retry later"
        )

    def _claim_existing(
        self, item: Mapping[str, Any], *, worker: str, now: datetime, lease: timedelta
    ) -> Claim | None:
        """Claim a known row, or None if it changed under us (conditional update failed)."""
        row = notification_from_item(item)
        state, resend = decide_claim(row, now)
        if state is not ClaimState.CLAIMED:
            return Claim(state, row)
        version = int(item.get("version", {}).get("N", 0))
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key={"notificationKey": _s(row.key)},
                UpdateExpression="SET #st = :sending, leaseUntil = :lease, worker = :w, "
                "version = :next, expiration = :exp",
                ConditionExpression="#st = :old AND "
                "(version = :v OR attribute_not_exists(version))",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={
                    ":sending": _s(NotificationStatus.SENDING.value),
                    ":lease": _s(iso(now + lease)),
                    ":w": _s(worker),
                    ":next": _n(version + 1),
                    ":exp": self._expiration(now),
                    ":old": _s(row.status.value),
                    ":v": _n(version),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise InfrastructureError(f"ledger UpdateItem failed: {describe(exc)}") from exc
        except BotoCoreError as exc:
            raise InfrastructureError(f"ledger UpdateItem failed: {describe(exc)}") from exc
        return Claim(ClaimState.CLAIMED, notification_from_item(response["Attributes"]), resend)

    def _get(self, key: str) -> Mapping[str, Any]:
        try:
            response = self._db.get_item(
                TableName=self._table, Key={"notificationKey": _s(key)}, ConsistentRead=True
            )
        except SDK_ERRORS as exc:
            raise InfrastructureError(f"ledger GetItem failed: {describe(exc)}") from exc
        if "Item" not in response:
            raise InfrastructureError(f"ledger row {key} vanished during a claim (TTL expiry?)")
        return dict(response["Item"])

    def finish(
        self,
        key: str,
        *,
        status: NotificationStatus,
        attempt: Attempt,
        delivered_to: Sequence[str],
        error: str | None = None,
    ) -> None:
        sets = [
            "#st = :status",
            "attempts = list_append(if_not_exists(attempts, :empty), :attempt)",
            "deliveredTo = :delivered",
            "expiration = :exp",
            "version = if_not_exists(version, :zero) + :one",
        ]
        values: dict[str, Any] = {
            ":status": _s(status.value),
            # Texts from relays and SDKs are bounded: a ledger item must stay under 400 KB
            # however many attempts it collects.
            ":attempt": {
                "L": [
                    {"M": {k: _s(bound_text(v, TEXT_CHARS)) for k, v in attempt.to_dict().items()}}
                ]
            },
            ":empty": {"L": []},
            ":delivered": _list(list(dict.fromkeys(delivered_to))),
            ":exp": self._expiration(attempt.at),
            ":zero": _n(0),
            ":one": _n(1),
        }
        if status is NotificationStatus.SENT:
            sets.append("sentAt = :sent")
            values[":sent"] = _s(iso(attempt.at))
        if error is not None:
            sets.append("lastError = :error")
            values[":error"] = _s(bound_text(error, TEXT_CHARS))
        if attempt.channel:
            sets.append("channel = :channel")
            values[":channel"] = _s(bound_text(attempt.channel, TEXT_CHARS))
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"notificationKey": _s(key)},
                UpdateExpression=f"SET {', '.join(sets)} REMOVE leaseUntil",
                ConditionExpression="attribute_exists(notificationKey)",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise InfrastructureError(f"ledger: no row for notification {key}") from exc
            raise InfrastructureError(f"ledger UpdateItem failed: {describe(exc)}") from exc
        except BotoCoreError as exc:
            raise InfrastructureError(f"ledger UpdateItem failed: {describe(exc)}") from exc

    def notifications_for_sample(self, sample_id: str) -> list[NotificationRecord]:
        keys = _query_all(
            self._db,
            TableName=self._table,
            IndexName="bySample",
            KeyConditionExpression="sampleId = :s",
            ExpressionAttributeValues={":s": _s(sample_id)},
        )
        items = _items_by_key(self._db, self._table, "notificationKey", list(keys))
        return [notification_from_item(i) for i in items]

    def notification_by_key(self, key: str) -> NotificationRecord | None:
        try:
            response = self._db.get_item(
                TableName=self._table, Key={"notificationKey": _s(key)}, ConsistentRead=True
            )
        except SDK_ERRORS as exc:
            raise InfrastructureError(f"ledger GetItem failed: {describe(exc)}") from exc
        item = response.get("Item")
        return None if item is None or "status" not in item else notification_from_item(item)


class DynamoTrace:
    """TraceSource over both tables, for `uvqc trace SAMPLE_ID --aws`."""

    def __init__(self, store: DynamoRecordStore, ledger: DynamoLedger) -> None:
        self._store = store
        self._ledger = ledger

    def results_for_sample(self, sample_id: str) -> list[ResultRecord]:
        return self._store.results_for_sample(sample_id)

    def notifications_for_sample(self, sample_id: str) -> list[NotificationRecord]:
        return self._ledger.notifications_for_sample(sample_id)

    def result_by_id(self, record_id: str) -> ResultRecord | None:
        return self._store.result_by_id(record_id)

    def notification_by_key(self, key: str) -> NotificationRecord | None:
        return self._ledger.notification_by_key(key)

    def results_for_key(self, key: str) -> list[ResultRecord]:
        """The results a notification covered: its sample's results with that key (the
        records table has no index by key), or the one record it was created for."""
        note = self._ledger.notification_by_key(key)
        if note is None:
            return []
        if note.sample_id is not None:
            found = self._store.results_for_sample(note.sample_id)
            return [r for r in found if r.notification_key == key]
        record = self._store.result_by_id(note.record_id)
        return [record] if record is not None else []
