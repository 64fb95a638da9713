"""Grouped run decision e-mails on the DynamoDB run store (moto over HTTP): held decisions
wait for one group e-mail per run, sent by an evaluation or the scheduled runs function
once due, exactly once; decisions that should stop the run go at once."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest

from tests.runs.builder import T0, absorbance, result
from tests.runs.grouped_run import (
    BATCH,
    HOSTILE,
    METHOD,
    contaminated_blank_run,
    grouped_run,
    method_data,
    passing,
    remeasured,
)
from uvqc.adapters.dynamodb_runs import DynamoRunStore, RunVerdictTrace
from uvqc.aws import check_handler, runs_handler
from uvqc.core.methods import MethodBook, method_from_mapping
from uvqc.pipeline.records import NotificationRequest
from uvqc.runs.grouping import GroupingPolicy
from uvqc.runs.notices import RunArrival
from uvqc.runs.report import document_text

from .esm import LambdaContext
from .test_runs import BATCH as EXAMPLE_BATCH
from .test_runs import AwsFactory, deployed, event, lines, run_notices

__all__ = ["deployed"]  # the fixture, shared with test_runs.py


def store(aws: AwsFactory, table: str, **notify: Any) -> DynamoRunStore:
    book = MethodBook([method_from_mapping(method_data(**notify))])
    return DynamoRunStore(aws("dynamodb"), table, book, grouping=GroupingPolicy())


def arrivals(messages: list[dict[str, Any]]) -> list[RunArrival]:
    return [RunArrival(BATCH, METHOD, result(m, record_id=f"r{m['sequence']}")) for m in messages]


def codes(requests: list[NotificationRequest]) -> list[str]:
    return sorted(str((r.run or {}).get("code")) for r in requests)


def test_held_decisions_go_out_once_as_one_group_when_due(
    aws: AwsFactory, deployed: dict[str, str]
) -> None:
    runs = store(aws, deployed["runs"], group_seconds=300)
    run = grouped_run()
    assert runs.track(arrivals(run[:30]), now=T0) == []  # three decisions held
    assert runs.flush_groups(now=T0 + timedelta(seconds=299)) == []
    [group] = runs.flush_groups(now=T0 + timedelta(seconds=300))
    body = (group.run or {})["body"]
    assert (group.run or {})["kind"] == "group" and len((group.run or {})["members"]) == 3
    assert HOSTILE in body and "duplicate_rpd" in body and "spike_recovery" in body
    runs.confirm([group])
    assert runs.flush_groups(now=T0 + timedelta(hours=1)) == []
    assert runs.track(arrivals(run[:30]), now=T0 + timedelta(seconds=310)) == []
    # the rest: the failed CCV at once; final: the held blank decision is folded into the
    # run's digest (as on SQLite)
    rest = runs.track(arrivals(run[30:]), now=T0 + timedelta(seconds=400))
    assert codes(rest) == ["check_standard_failed", "digest"]
    runs.confirm(rest)
    assert runs.track(arrivals(run), now=T0 + timedelta(seconds=500)) == []
    emails = (runs.show(BATCH) or {})["meta"]["emails"]
    last = next(r for r in rest if (r.run or {}).get("kind") == "digest")
    assert {e["code"]: (e["email"], e["emailKey"]) for e in emails} == {
        "above_calibration": ("group", group.key),
        "duplicate_rpd": ("group", group.key),
        "spike_recovery": ("group", group.key),
        "check_standard_failed": ("decision", codes_key(rest, "check_standard_failed")),
        "blank_contamination": ("digest", last.key),
    }
    named = RunVerdictTrace(None, runs).run_emails_for_sample(HOSTILE)  # uvqc trace --aws
    assert sorted((e["code"], e["email"]) for e in named) == [
        ("above_calibration", "group"),
        ("check_standard_failed", "decision"),
    ]


def codes_key(requests: list[NotificationRequest], code: str) -> str:
    return next(r.key for r in requests if (r.run or {}).get("code") == code)


def test_an_interval_of_zero_emails_every_decision_at_once(
    aws: AwsFactory, deployed: dict[str, str]
) -> None:
    runs = store(aws, deployed["runs"])
    assert codes(runs.track(arrivals(grouped_run()[:30]), now=T0)) == [
        "above_calibration",
        "duplicate_rpd",
        "spike_recovery",
    ]


def test_the_scheduled_function_sends_a_due_group_through_the_notify_queue(
    deployed: dict[str, str],
    aws: AwsFactory,
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UVQC_RUN_GROUP_SECONDS", "1")
    check_handler.reset()
    runs_handler.reset()
    bodies = [(f"m-{i}", body) for i, body in enumerate(lines()[:60])]  # the run stays open
    for start in range(0, len(bodies), 20):
        check_handler.handler(event(bodies[start : start + 20]), lambda_context)
    sqs = aws("sqs")
    queued = run_notices(sqs, deployed["queue"])
    assert [m["run"]["code"] for m in queued] == ["check_standard_failed"]  # at once
    time.sleep(1.2)  # the grouping interval (not a timing assertion)
    assert runs_handler.handler({}, lambda_context) == {"notices": 1}
    [group] = run_notices(sqs, deployed["queue"])
    assert group["run"]["kind"] == "group" and group["run"]["batchId"] == EXAMPLE_BATCH
    assert group["run"]["subject"] == f"Run {EXAMPLE_BATCH}: above_calibration"
    assert runs_handler.handler({}, lambda_context) == {"notices": 0}  # sent once
    item = aws("dynamodb").get_item(
        TableName=deployed["runs"],
        Key={"batchId": {"S": EXAMPLE_BATCH}, "sk": {"S": "RUN"}},
        ConsistentRead=True,
    )["Item"]
    assert "groupDue" not in item and json.loads(item["decision"]["S"])["status"] == "open"


# -- decisions that stop being findings (uvqc.runs.withdrawal), as on SQLite ----------------


def remeasure(seq: int, record: str, **changes: Any) -> RunArrival:
    """A re-measurement of position `seq` (the clean run's reading unless `changes`)."""
    return RunArrival(
        BATCH, METHOD, result(remeasured(passing(seq, None), **changes), record_id=record)
    )


def test_a_decision_withdrawn_or_superseded_while_held_is_never_sent(
    aws: AwsFactory, deployed: dict[str, str]
) -> None:
    runs = store(aws, deployed["runs"], group_seconds=15)
    assert runs.track(arrivals(grouped_run(None)[:30]), now=T0) == []  # three held
    later = T0 + timedelta(seconds=5)
    assert runs.track([remeasure(14, "r14b"), remeasure(25, "r25b")], now=later) == []
    [group] = runs.flush_groups(now=T0 + timedelta(seconds=15))
    runs.confirm([group])
    run_part = group.run or {}
    assert run_part["subject"] == f"Run {BATCH}: above_calibration"
    assert len(run_part["members"]) == 1 and "RPD" not in run_part["body"]
    assert runs.flush_groups(now=T0 + timedelta(days=1)) == []
    text = document_text(runs.show(BATCH) or {})
    assert "duplicate_rpd (1 sample(s)): not sent: withdrawn while held" in text
    assert "spike_recovery (1 sample(s)): not sent: withdrawn while held" in text


def test_a_held_blank_decision_whose_affected_set_shrank_goes_with_the_new_set(
    aws: AwsFactory, deployed: dict[str, str]
) -> None:
    runs = store(aws, deployed["runs"], group_seconds=15)
    assert runs.track(arrivals(contaminated_blank_run()), now=T0) == []  # 16 samples, held
    again = remeasure(19, "r19b", absorbance=absorbance(4.8))  # S11 now stands
    assert runs.track([again], now=T0 + timedelta(seconds=5)) == []
    assert runs.flush_groups(now=T0 + timedelta(seconds=19)) == []
    [group] = runs.flush_groups(now=T0 + timedelta(seconds=20))
    body = (group.run or {})["body"]
    assert "Affected samples (15):" in body and "Affected samples (16)" not in body
    old, new = (runs.show(BATCH) or {})["meta"]["emails"]
    assert old["email"] == "withdrawn" and old["supersededBy"] == new["key"]
    assert new["email"] == "group" and new["state"] == "current"


def test_a_withdrawn_announced_decision_is_said_in_the_digest_update(
    aws: AwsFactory, deployed: dict[str, str]
) -> None:
    runs = store(aws, deployed["runs"], group_seconds=15)
    first = runs.track(arrivals(grouped_run()), now=T0)
    assert codes(first) == ["check_standard_failed", "digest"]
    runs.confirm(first)
    assert not (first[1].run or {})["update"]
    [digest] = runs.track([remeasure(26, "r26b")], now=T0 + timedelta(hours=4))
    runs.confirm([digest])
    run_part = digest.run or {}
    assert run_part["update"] is True
    assert run_part["subject"] == f"Run {BATCH}: flag (digest) (update)"
    [line] = run_part["withdrawn"]
    assert line.startswith("check_standard_failed: Check standard CCV1")
    text = document_text(runs.show(BATCH) or {})
    assert "; withdrawn (no longer a finding)" in text
    assert runs.track([remeasure(26, "r26b")], now=T0 + timedelta(hours=5)) == []
