"""The DynamoDB record store and notification ledger against moto over HTTP.

The ledger must behave exactly like uvqc.testing.MemoryLedger (the reference semantics):
each case runs against both and compares."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from uvqc.adapters.dynamodb import DynamoLedger, DynamoRecordStore
from uvqc.core.verdicts import Finding, Judgement, Severity, Verdict
from uvqc.errors import InfrastructureError
from uvqc.pipeline.ports import ClaimState
from uvqc.pipeline.records import (
    Attempt,
    NotificationRequest,
    NotificationStatus,
    ResultRecord,
)
from uvqc.testing import MemoryLedger

from .conftest import make_ledger_table, make_records_table

AwsFactory = Callable[[str], Any]
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def record(n: int, sample: str | None = "S-1", verdict: Verdict = Verdict.FLAG) -> ResultRecord:
    findings = (
        (Finding("dilution_required", Severity.FAIL, "too high", 1.25, 1.0),)
        if verdict is not Verdict.PASS
        else ()
    )
    judgement = Judgement(sample, verdict, findings, "default")
    return ResultRecord.create(
        record_id=f"rec-{n:04d}",
        judgement=judgement,
        raw=json.dumps({"sampleId": sample, "absorbance": 1.25, "n": n}),
        received_at=T0 + timedelta(seconds=n),
        checked_at=T0 + timedelta(seconds=n, milliseconds=5),
        correlation_id=f"corr-{n}",
    )


def test_records_round_trip_and_are_found_by_sample_in_order(aws: AwsFactory) -> None:
    db = aws("dynamodb")
    store = DynamoRecordStore(db, make_records_table(db))
    records = [record(n, sample="S-1" if n % 2 else "S-2") for n in range(60)]
    store.save_results(records)
    found = store.results_for_sample("S-1")
    assert found == [r for r in records if r.sample_id == "S-1"]
    assert found[0].findings[0].value == 1.25


def test_a_trace_reads_items_behind_the_keys_only_index_in_batches_of_100(
    aws: AwsFactory,
) -> None:
    """The bySample index projects KEYS_ONLY (cost): the query yields keys, BatchGetItem
    (at most 100 keys per call, a DynamoDB limit moto does not enforce: checked here) the
    records, in the index's receivedAt order."""
    db = aws("dynamodb")
    table = make_records_table(db)
    store = DynamoRecordStore(db, table)
    records = [record(n, sample="S-1") for n in range(230)]
    store.save_results(records)
    index_page = db.query(
        TableName=table,
        IndexName="bySample",
        KeyConditionExpression="sampleId = :s",
        ExpressionAttributeValues={":s": {"S": "S-1"}},
        Limit=1,
    )["Items"][0]
    assert set(index_page) <= {"recordId", "sampleId", "receivedAt"}

    gets: list[int] = []

    def count_keys(params: dict[str, Any], **_: Any) -> None:
        (request,) = params["RequestItems"].values()
        assert len(request["Keys"]) <= 100
        gets.append(len(request["Keys"]))

    db.meta.events.register("provide-client-params.dynamodb.BatchGetItem", count_keys)
    assert store.results_for_sample("S-1") == records
    assert sum(gets) == 230 and len(gets) == 3


def test_records_without_a_sample_id_are_stored_but_not_indexed(aws: AwsFactory) -> None:
    db = aws("dynamodb")
    table = make_records_table(db)
    store = DynamoRecordStore(db, table)
    store.save_results([record(1, sample=None, verdict=Verdict.REJECT)])
    item = db.get_item(TableName=table, Key={"recordId": {"S": "rec-0001"}})["Item"]
    assert item["verdict"] == {"S": "reject"}
    assert "sampleId" not in item


def test_saving_again_overwrites_the_same_record(aws: AwsFactory) -> None:
    db = aws("dynamodb")
    table = make_records_table(db)
    store = DynamoRecordStore(db, table)
    store.save_results([record(1), record(1)])
    store.save_results([record(1)])
    assert db.scan(TableName=table)["Count"] == 1


def test_a_missing_table_is_an_infrastructure_error(aws: AwsFactory) -> None:
    with pytest.raises(InfrastructureError, match="BatchWriteItem"):
        DynamoRecordStore(aws("dynamodb"), "no-such-table").save_results([record(1)])


def test_unprocessed_items_are_retried_until_written() -> None:
    """BatchWriteItem may leave items unprocessed (throttling): they are sent again."""

    class Throttling:
        def __init__(self) -> None:
            self.calls: list[int] = []

        def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
            (items,) = RequestItems.values()
            self.calls.append(len(items))
            if len(self.calls) < 3:
                return {"UnprocessedItems": {"t": items[len(items) // 2 :]}}
            return {"UnprocessedItems": {}}

    client = Throttling()
    DynamoRecordStore(client, "t", sleep=lambda _s: None).save_results(
        [record(n) for n in range(8)]
    )
    assert client.calls == [8, 4, 2]


def request(key: str = "k1", sample: str | None = "S-1") -> NotificationRequest:
    return NotificationRequest(
        key=key,
        sample_id=sample,
        record_id="rec-1",
        verdict=Verdict.FLAG,
        findings=(),
        method="default",
        received_at=T0,
    )


@pytest.fixture(params=["dynamodb", "memory"])
def ledger(request: pytest.FixtureRequest, aws: AwsFactory) -> Any:
    if request.param == "memory":
        return MemoryLedger()
    db = aws("dynamodb")
    return DynamoLedger(db, make_ledger_table(db))


def claim(ledger: Any, now: datetime, key: str = "k1", worker: str = "w1") -> Any:
    return ledger.claim(request(key), message_id="<m@x>", worker=worker, now=now, lease=LEASE)


def finish(ledger: Any, status: NotificationStatus, at: datetime, key: str = "k1") -> None:
    ledger.finish(
        key,
        status=status,
        attempt=Attempt(at, status.value, "detail", "w1"),
        delivered_to=["lab@example.org"],
        error=None if status is NotificationStatus.SENT else f"{status} reason",
    )


def test_a_new_key_is_claimed(ledger: Any) -> None:
    c = claim(ledger, T0)
    assert (c.state, c.resend) == (ClaimState.CLAIMED, False)
    assert c.record.status is NotificationStatus.SENDING
    assert c.record.lease_until == T0 + LEASE


def test_a_held_lease_makes_others_wait(ledger: Any) -> None:
    claim(ledger, T0)
    c = claim(ledger, T0 + timedelta(seconds=30), worker="w2")
    assert c.state is ClaimState.BUSY
    assert c.record.lease_until == T0 + LEASE


def test_an_expired_lease_is_claimed_again_as_a_resend(ledger: Any) -> None:
    claim(ledger, T0)
    c = claim(ledger, T0 + LEASE + timedelta(seconds=1), worker="w2")
    assert (c.state, c.resend) == (ClaimState.CLAIMED, True)


def test_a_sent_notification_is_never_claimed_again(ledger: Any) -> None:
    claim(ledger, T0)
    finish(ledger, NotificationStatus.SENT, T0 + timedelta(seconds=1))
    c = claim(ledger, T0 + timedelta(days=1))
    assert c.state is ClaimState.ALREADY_SENT
    assert c.record.sent_at == T0 + timedelta(seconds=1)
    assert c.record.delivered_to == ("lab@example.org",)


@pytest.mark.parametrize("status", [NotificationStatus.RETRYING, NotificationStatus.DEAD])
def test_retrying_and_dead_notifications_are_claimed_again(
    ledger: Any, status: NotificationStatus
) -> None:
    claim(ledger, T0)
    finish(ledger, status, T0 + timedelta(seconds=1))
    c = claim(ledger, T0 + timedelta(seconds=2))
    assert (c.state, c.resend) == (ClaimState.CLAIMED, False)
    assert c.record.last_error == f"{status} reason"
    assert [a.outcome for a in c.record.attempts] == [status.value]


def test_attempts_accumulate_and_are_traced_by_sample(ledger: Any) -> None:
    claim(ledger, T0)
    finish(ledger, NotificationStatus.RETRYING, T0 + timedelta(seconds=1))
    claim(ledger, T0 + timedelta(seconds=2))
    finish(ledger, NotificationStatus.SENT, T0 + timedelta(seconds=3))
    (row,) = ledger.notifications_for_sample("S-1")
    assert row.status is NotificationStatus.SENT
    assert [a.outcome for a in row.attempts] == ["retrying", "sent"]
    assert row.lease_until is None


def test_only_one_of_many_concurrent_claims_wins(aws: AwsFactory) -> None:
    db = aws("dynamodb")
    table = make_ledger_table(db)
    states: list[ClaimState] = []
    barrier = threading.Barrier(6)

    def contend(n: int) -> None:
        ledger = DynamoLedger(aws("dynamodb"), table)
        barrier.wait()
        states.append(claim(ledger, T0, worker=f"w{n}").state)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(states) == sorted([ClaimState.CLAIMED] + [ClaimState.BUSY] * 5)


def test_ledger_rows_carry_a_ttl_expiration(aws: AwsFactory) -> None:
    db = aws("dynamodb")
    table = make_ledger_table(db)
    ledger = DynamoLedger(db, table, retention=timedelta(days=90))
    claim(ledger, T0)
    item = db.get_item(TableName=table, Key={"notificationKey": {"S": "k1"}})["Item"]
    assert int(item["expiration"]["N"]) == int((T0 + timedelta(days=90)).timestamp())


def test_finishing_an_unknown_key_is_an_error(ledger: Any) -> None:
    with pytest.raises((InfrastructureError, KeyError)):
        finish(ledger, NotificationStatus.SENT, T0, key="nope")


def test_where_each_attempt_went_is_kept_and_found_by_key(ledger: Any) -> None:
    claim(ledger, T0)
    ses = "ses eu-west-1 from uvqc@lab.example to lab@example.org"
    ledger.finish(
        "k1",
        status=NotificationStatus.SENT,
        attempt=Attempt(T0, "sent", "Message-ID <m@x>", "w1", ses),
        delivered_to=["lab@example.org"],
    )
    row = ledger.notification_by_key("k1")
    assert (row.channel, [a.channel for a in row.attempts]) == (ses, [ses])
    assert ledger.notification_by_key("k2") is None


def test_records_keep_their_source_and_content_digest(aws: AwsFactory) -> None:
    db = aws("dynamodb")
    store = DynamoRecordStore(db, make_records_table(db))
    keyed = replace(record(1), source="day.jsonl:12", content_digest="json:ab")
    store.save_results([keyed])
    assert store.result_by_id("rec-0001") == keyed
    assert store.result_by_id("rec-9999") is None


def test_raw_messages_are_read_back_by_record_id_for_report_scans(aws: AwsFactory) -> None:
    """`uvqc report --aws` and the digest function read the scans of flagged samples from
    the records table (BatchGetItem, 100 keys a call); a raw text cut to fit the 400 KB item
    limit (no longer JSON) and an unknown record are left out, never an error."""
    db = aws("dynamodb")
    store = DynamoRecordStore(db, make_records_table(db))
    records = [record(n, sample=f"S-<{n}>\u202e") for n in range(150)]
    cut = replace(record(999), raw='{"sampleId": "S-cut", "spectrum": {"wavelengthNm": [2')
    store.save_results([*records, cut])
    wanted = [r.record_id for r in records[::-1]] + ["rec-0999", "rec-missing", "rec-0001"]
    found = store.raw_messages(wanted)
    assert set(found) == {r.record_id for r in records}
    assert found["rec-0007"] == {"sampleId": "S-<7>\u202e", "absorbance": 1.25, "n": 7}
