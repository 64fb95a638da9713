"""The daily digest's reads and marks on AWS (uvqc.daily.send): the runs table, the records
table, the notify DLQ's depth, and one mark item per (lab, date) in the ledger table.

Reads use the tables as they are, with no index of their own:
- runs: a Scan of the RUN items (FilterExpression on sk, lastAt and status; the table holds
  a few items per run, one RUN item each);
- results outside runs: a Scan of the records table, filtered to the day's flagged and
  rejected items (FilterExpression on receivedAt and verdict). A Scan reads, and is billed
  for, the whole table (on-demand: one read request unit per 4 KB read, eventually
  consistent reads at half that): once a day, about 0.13 M RRU per GB of records. A table
  grown past a few GB wants a sparse index by day instead (noted in docs/AWS.md);
- the notify DLQ depth: GetQueueAttributes ApproximateNumberOfMessages (approximate, as
  SQS says).

Marks: ledger item `notificationKey = "daily#<lab>#<date>"` holding the content hash last
queued, with the ledger's TTL (`expiration`, 90 days) like every ledger item.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from uvqc.adapters.boto import describe
from uvqc.adapters.dynamodb import LEDGER_RETENTION, paginate
from uvqc.daily.digest import LooseResult, in_run
from uvqc.daily.send import StoredRun
from uvqc.errors import InfrastructureError
from uvqc.pipeline.records import iso

SDK_ERRORS = (BotoCoreError, ClientError)
LOOKBACK = timedelta(days=2)  # final runs are read from this long before the day's end


class DynamoDaySource:
    """DaySource on the runs and records tables (and the notify DLQ, when given)."""

    def __init__(
        self,
        dynamodb: Any,
        *,
        runs_table: str,
        records_table: str,
        sqs: Any = None,
        notify_dlq_url: str | None = None,
    ) -> None:
        self._db = dynamodb
        self._runs = runs_table
        self._records = records_table
        self._sqs = sqs
        self._dlq = notify_dlq_url

    def runs_until(self, end: datetime) -> list[StoredRun]:
        found = []
        for item in paginate(
            self._db.scan,
            "runs table Scan",
            TableName=self._runs,
            FilterExpression="sk = :run AND lastAt < :end AND (#st = :open OR lastAt >= :from)",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={
                ":run": {"S": "RUN"},
                ":open": {"S": "open"},
                ":end": {"N": repr(end.timestamp())},
                ":from": {"N": repr((end - LOOKBACK).timestamp())},
            },
        ):
            document = item.get("decision", {}).get("S")
            found.append(
                StoredRun(
                    batch_id=item["batchId"]["S"],
                    method=item.get("method", {}).get("S", "-"),
                    status=item.get("status", {}).get("S", "open"),
                    last_at=datetime.fromtimestamp(float(item["lastAt"]["N"]), UTC),
                    document=None if document is None else _json(document),
                )
            )
        return found

    def loose_results(self, start: datetime, end: datetime) -> Iterator[LooseResult]:
        for item in paginate(
            self._db.scan,
            "records table Scan",
            TableName=self._records,
            FilterExpression="#t >= :start AND #t < :end AND #v IN (:flag, :reject)",
            ProjectionExpression="#s, #v, #r",
            ExpressionAttributeNames={
                "#t": "receivedAt",
                "#v": "verdict",
                "#s": "sampleId",
                "#r": "raw",
            },
            ExpressionAttributeValues={
                ":start": {"S": iso(start)},
                ":end": {"S": iso(end)},
                ":flag": {"S": "flag"},
                ":reject": {"S": "reject"},
            },
        ):
            if not in_run(item.get("raw", {}).get("S", "")):
                yield LooseResult(item.get("sampleId", {}).get("S"), item["verdict"]["S"])

    def dlq_depth(self) -> int | None:
        if self._sqs is None or not self._dlq:
            return None
        try:
            response = self._sqs.get_queue_attributes(
                QueueUrl=self._dlq, AttributeNames=["ApproximateNumberOfMessages"]
            )
        except SDK_ERRORS as exc:
            raise InfrastructureError(
                f"notify DLQ GetQueueAttributes failed: {describe(exc)}"
            ) from exc
        return int(response["Attributes"]["ApproximateNumberOfMessages"])


def _json(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    return data


def mark_key(lab: str, day: date) -> str:
    return f"daily#{lab}#{day.isoformat()}"


class DynamoDailyMarks:
    """DailyMarks in the ledger table."""

    def __init__(self, dynamodb: Any, ledger_table: str) -> None:
        self._db = dynamodb
        self._table = ledger_table

    def last(self, lab: str, day: date) -> str | None:
        try:
            response = self._db.get_item(
                TableName=self._table,
                Key={"notificationKey": {"S": mark_key(lab, day)}},
                ConsistentRead=True,
            )
        except SDK_ERRORS as exc:
            raise InfrastructureError(f"ledger GetItem failed: {describe(exc)}") from exc
        item = response.get("Item")
        return None if item is None else str(item["contentHash"]["S"])

    def remember(self, lab: str, day: date, digest: str) -> None:
        expiration = int(time.time() + LEDGER_RETENTION.total_seconds())
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "notificationKey": {"S": mark_key(lab, day)},
                    "contentHash": {"S": digest},
                    "expiration": {"N": str(expiration)},
                },
            )
        except SDK_ERRORS as exc:
            raise InfrastructureError(f"ledger PutItem failed: {describe(exc)}") from exc
