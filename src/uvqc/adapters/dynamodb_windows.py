"""WindowIndex on DynamoDB: the current deduplication window of each content digest, kept
as an item `window#<digest>` of the ledger table (no new table; TTL `expiration` removes it
after the window and the ledger's retention).

`assign` follows `uvqc.pipeline.identity.decide_window` with conditional writes, so every
check invocation (and every redelivery of a batch after a crash) derives the same key:
- one UpdateItem per sighting opens the window if there is none
  (`if_not_exists`, ReturnValues=ALL_NEW: the stored window comes back in the same call);
- a sighting after the window replaces it with an UpdateItem conditioned on the start it
  read; if another invocation replaced it first, the new item is read back and decided again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from uvqc.adapters.boto import describe, error_code
from uvqc.adapters.dynamodb import LEDGER_RETENTION
from uvqc.errors import InfrastructureError
from uvqc.pipeline.identity import Window, WindowAction, decide_window
from uvqc.pipeline.records import iso, parse_iso

PREFIX = "window#"
RACES = 5


def _window(digest: str, item: Mapping[str, Any]) -> Window:
    return Window(digest, parse_iso(item["windowStart"]["S"]), str(item["windowKey"]["S"]))


class DynamoWindows:
    """WindowIndex on the ledger table (the check function needs dynamodb:UpdateItem on it)."""

    def __init__(self, client: Any, table: str, *, retention: timedelta = LEDGER_RETENTION):
        self._db = client
        self._table = table
        self._retention = retention

    def assign(self, sightings: Sequence[tuple[str, datetime]], span: timedelta) -> list[str]:
        return [self._assign(digest, at, span) for digest, at in sightings]

    def _update(self, digest: str, window: Window, span: timedelta, **kwargs: Any) -> Any:
        expires = int((window.start + span + self._retention).timestamp())
        try:
            return self._db.update_item(
                TableName=self._table,
                Key={"notificationKey": {"S": PREFIX + digest}},
                ExpressionAttributeValues={
                    ":start": {"S": iso(window.start)},
                    ":key": {"S": window.key},
                    ":exp": {"N": str(expires)},
                    **kwargs.pop("values", {}),
                },
                ReturnValues="ALL_NEW",
                **kwargs,
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise InfrastructureError(f"window index UpdateItem failed: {describe(exc)}") from exc
        except BotoCoreError as exc:
            raise InfrastructureError(f"window index UpdateItem failed: {describe(exc)}") from exc

    def _assign(self, digest: str, at: datetime, span: timedelta) -> str:
        sighting = Window.opened(digest, at)
        response = self._update(
            digest,
            sighting,
            span,
            UpdateExpression="SET windowStart = if_not_exists(windowStart, :start), "
            "windowKey = if_not_exists(windowKey, :key), "
            "expiration = if_not_exists(expiration, :exp)",
        )
        current = _window(digest, response["Attributes"])
        for _ in range(RACES):
            what, window = decide_window(current, digest, at, span)
            if what is not WindowAction.REPLACE:
                return window.key
            replaced = self._update(
                digest,
                window,
                span,
                UpdateExpression="SET windowStart = :start, windowKey = :key, expiration = :exp",
                ConditionExpression="windowStart = :old",
                values={":old": {"S": iso(current.start)}},
            )
            if replaced is not None:
                return window.key
            # Another invocation replaced the window first: read what it stored, decide again.
            response = self._update(
                digest,
                sighting,
                span,
                UpdateExpression="SET windowStart = if_not_exists(windowStart, :start), "
                "windowKey = if_not_exists(windowKey, :key), "
                "expiration = if_not_exists(expiration, :exp)",
            )
            current = _window(digest, response["Attributes"])
        raise InfrastructureError(f"window index: lost {RACES} races for {digest}; retry later")
