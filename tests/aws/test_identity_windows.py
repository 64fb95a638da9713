"""The DynamoDB window index (issue 8, case 1) against moto over HTTP: the same keys as the
in-memory and SQLite indexes for the same sightings, and one key under concurrent checks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from uvqc.adapters.dynamodb_windows import PREFIX, DynamoWindows
from uvqc.pipeline.identity import content_digest
from uvqc.testing import MemoryWindows

from .conftest import make_ledger_table

AwsFactory = Callable[[str], Any]
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def test_dynamodb_windows_give_the_memory_index_keys_for_the_same_sightings(
    aws: AwsFactory,
) -> None:
    db = aws("dynamodb")
    table = make_ledger_table(db)
    dynamo, memory = DynamoWindows(db, table), MemoryWindows()
    a, b = content_digest('{"sampleId":"S-1"}'), content_digest('{"sampleId":"S-2"}')
    rounds = [
        [(a, T0), (b, T0), (a, T0 + HOUR)],  # open, open, same
        [(a, T0), (a, T0 + 23 * HOUR)],  # a redelivery, a duplicate submission
        [(a, T0 + DAY + HOUR), (a, T0 + DAY + 2 * HOUR)],  # the next day: a new result
        [(a, T0 - DAY)],  # a very late message: its own key
        [(b, T0 + 2 * DAY)],
    ]
    for sightings in rounds:
        assert dynamo.assign(sightings, DAY) == memory.assign(sightings, DAY)
    item = db.get_item(TableName=table, Key={"notificationKey": {"S": PREFIX + a}})["Item"]
    assert item["windowKey"]["S"] == memory.windows[a].key
    assert int(item["expiration"]["N"]) > int((T0 + DAY).timestamp())  # TTL cleans it up


def test_concurrent_checks_of_the_same_content_agree_on_one_key(aws: AwsFactory) -> None:
    """Two invocations see the content after its old window ended and both try to open the
    next one. The race is staged deterministically: the second one's conditional update lands
    between the first one's read and write (moto's server does not make conditional writes
    atomic across threads, as DynamoDB does, so real threads would test moto, not uvqc)."""
    db = aws("dynamodb")
    table = make_ledger_table(db)
    digest = content_digest('{"sampleId":"S-race","absorbance":9}')
    DynamoWindows(db, table).assign([(digest, T0)], DAY)
    rival_key: list[str] = []

    class Interleaved:
        """The client, with the rival invocation's whole assign run just before our first
        conditional replace."""

        def __getattr__(self, name: str) -> Any:
            return getattr(db, name)

        def update_item(self, **kwargs: Any) -> Any:
            if "ConditionExpression" in kwargs and not rival_key:
                rival_key.extend(DynamoWindows(db, table).assign([(digest, T0 + DAY + HOUR)], DAY))
            return db.update_item(**kwargs)

    (key,) = DynamoWindows(Interleaved(), table).assign([(digest, T0 + DAY + 3 * HOUR)], DAY)
    assert rival_key and key == rival_key[0]  # lost the race, re-read, and joined its window
    (again,) = DynamoWindows(db, table).assign([(digest, T0 + DAY + 5 * HOUR)], DAY)
    assert again == key


def test_threads_checking_the_same_content_at_once_never_fail(aws: AwsFactory) -> None:
    db = aws("dynamodb")
    table = make_ledger_table(db)
    digest = content_digest('{"sampleId":"S-race","absorbance":9}')
    keys: list[str] = []
    lock = threading.Lock()

    def check(n: int) -> None:
        (key,) = DynamoWindows(db, table).assign([(digest, T0 + DAY + n * HOUR)], DAY)
        with lock:
            keys.append(key)

    DynamoWindows(db, table).assign([(digest, T0)], DAY)
    threads = [threading.Thread(target=check, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 6
