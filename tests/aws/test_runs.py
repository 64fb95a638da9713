"""Analytical runs on AWS (moto over HTTP): the example nitrate run through the check
handler in shuffled, duplicated batches decides exactly as the embedded runtime; two
concurrent invocations on one run make one decision and queue each notice once; the
scheduled handler finalises a quiet run; `uvqc runs --aws` reads it."""

from __future__ import annotations

import copy
import json
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from uvqc.aws import check_handler, runs_handler
from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker
from uvqc.runs.report import public
from uvqc.settings import load_settings

from .conftest import (
    EVENTS,
    make_ledger_table,
    make_queues,
    make_records_table,
    make_runs_table,
)
from .esm import LambdaContext

AwsFactory = Callable[[str], Any]
ROOT = Path(__file__).resolve().parents[2]
RUN_FILE = ROOT / "examples" / "runs" / "nitrate-run-2026-11-28.jsonl"
METHOD = ROOT / "examples" / "methods" / "nitrate-run.toml"
BATCH = "NO3-2026-11-28-A"
TEMPLATE = json.loads((EVENTS / "sqsEvent.json").read_text())["Records"][0]


def lines() -> list[str]:
    return RUN_FILE.read_text().splitlines()


def event(bodies: list[tuple[str, str]]) -> dict[str, Any]:
    records = []
    for message_id, body in bodies:
        record = copy.deepcopy(TEMPLATE)
        record.update(messageId=message_id, body=body)
        record["messageAttributes"] = {}
        records.append(record)
    return {"Records": records}


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return found
        found += [json.loads(m["Body"]) for m in got]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ],
        )


@pytest.fixture
def deployed(aws: AwsFactory, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    db, sqs = aws("dynamodb"), aws("sqs")
    names = {
        "records": make_records_table(db),
        "queue": make_queues(sqs, "notify").url,
        "runs": make_runs_table(db),
        "ledger": make_ledger_table(db),
    }
    monkeypatch.setenv("UVQC_LEDGER_TABLE", names["ledger"])
    monkeypatch.setenv("UVQC_RECORDS_TABLE", names["records"])
    monkeypatch.setenv("UVQC_NOTIFY_QUEUE_URL", names["queue"])
    monkeypatch.setenv("UVQC_RUNS_TABLE", names["runs"])
    monkeypatch.setenv("UVQC_METHOD", str(METHOD))
    return names


def embedded_run(tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    """The run's decision document on the embedded runtime and its digest keys."""
    settings = load_settings(db=tmp_path / "ref.db", outbox=tmp_path / "ref", method=METHOD)
    with Runtime.from_settings(settings) as rt:
        rt.db.intake_port.submit([line.encode() for line in lines()])
        Worker(rt).run_until_idle()
        assert rt.runs is not None
        keys = [
            k for (k,) in rt.db.conn.execute("SELECT key FROM run_notices WHERE code = 'digest'")
        ]
        return rt.runs.show(BATCH) or {}, keys


def embedded_document(tmp_path: Path) -> dict[str, Any]:
    return public(embedded_run(tmp_path)[0])


def run_notices(sqs: Any, url: str) -> list[dict[str, Any]]:
    return [m for m in drain(sqs, url) if m.get("run")]


def test_shuffled_duplicated_batches_decide_as_the_embedded_runtime(
    deployed: dict[str, str], aws: AwsFactory, lambda_context: LambdaContext, tmp_path: Path
) -> None:
    bodies = [(f"m-{i}", body) for i, body in enumerate(lines())]
    arrivals = bodies + random.Random(3).sample(bodies, 12)  # redelivered: same message id
    random.Random(5).shuffle(arrivals)
    for start in range(0, len(arrivals), 10):
        response = check_handler.handler(event(arrivals[start : start + 10]), lambda_context)
        assert response == {"batchItemFailures": []}
    from uvqc.aws.ops import run_reader

    reader = run_reader(load_settings())
    document, digests = embedded_run(tmp_path)
    shown = reader.show(BATCH) or {}
    assert public(shown) == public(document)
    for key in ("chartPoints", "instrument"):  # the control-chart points, as SQLite keeps them
        assert shown["meta"][key] == document["meta"][key]
    assert shown["meta"]["chartPoints"]["check_standard_recovery"]
    notices = run_notices(aws("sqs"), deployed["queue"])
    codes = sorted(n["run"]["code"] for n in notices)
    assert codes == ["above_calibration", "check_standard_failed", "digest"]
    assert [n["key"] for n in notices if n["run"]["code"] == "digest"] == digests
    ccv = next(n for n in notices if n["run"]["code"] == "check_standard_failed")
    assert "re-measure positions 21-30" in ccv["run"]["body"]
    # a full redelivery of the run decides the same and queues nothing new
    check_handler.handler(event(bodies[:10]), lambda_context)
    assert run_notices(aws("sqs"), deployed["queue"]) == []


def test_two_concurrent_invocations_on_one_run_queue_each_decision_once(
    deployed: dict[str, str], aws: AwsFactory, lambda_context: LambdaContext
) -> None:
    bodies = [(f"m-{i}", body) for i, body in enumerate(lines())]
    halves = [bodies[0::2], bodies[1::2]]
    errors: list[BaseException] = []

    def invoke(part: list[tuple[str, str]]) -> None:
        try:
            for start in range(0, len(part), 8):
                batch = part[start : start + 8]
                for _ in range(5):  # as SQS does: the batch item failures come back
                    response = check_handler.handler(event(batch), lambda_context)
                    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
                    batch = [(m, b) for m, b in batch if m in failed]
                    if not batch:
                        break
                assert not batch, f"still failing after 5 deliveries: {batch}"
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=invoke, args=(h,)) for h in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    from uvqc.aws.ops import run_reader

    doc = run_reader(load_settings()).show(BATCH) or {}
    assert doc["status"] == "final"
    assert [f["code"] for f in doc["findings"]] == ["check_standard_failed"]
    keys = [n["key"] for n in run_notices(aws("sqs"), deployed["queue"])]
    assert len(keys) == len(set(keys)) == 3  # two decisions and the run's digest


def test_the_scheduled_handler_finalises_a_quiet_run(
    deployed: dict[str, str],
    aws: AwsFactory,
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept = [(f"m-{i}", b) for i, b in enumerate(lines()) if json.loads(b)["sequence"] != 12]
    check_handler.handler(event(kept[:10]), lambda_context)
    check_handler.handler(event(kept[10:]), lambda_context)
    from uvqc.aws.ops import run_reader

    assert (run_reader(load_settings()).show(BATCH) or {})["status"] == "open"
    assert runs_handler.handler({}, lambda_context) == {"notices": 0}  # not quiet yet
    monkeypatch.setenv("UVQC_RUN_QUIET_SECONDS", "0")
    runs_handler.reset()
    assert runs_handler.handler({}, lambda_context)["notices"] >= 1
    doc = run_reader(load_settings()).show(BATCH) or {}
    assert doc["status"] == "final"
    assert any(f["code"] == "run_incomplete" for f in doc["findings"])
    codes = {n["run"]["code"] for n in run_notices(aws("sqs"), deployed["queue"])}
    assert "run_incomplete" in codes


def test_runs_list_and_show_with_aws(
    deployed: dict[str, str], lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    from uvqc.cli import main

    check_handler.handler(event([(f"m-{i}", b) for i, b in enumerate(lines())]), lambda_context)
    capsys.readouterr()
    assert main(["runs", "list", "--aws"]) == 0
    assert f"{BATCH}  final  FLAG  positions 64/64" in capsys.readouterr().out
    assert main(["runs", "show", BATCH, "--aws", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["batchId"] == BATCH


def test_report_and_charts_with_aws(
    deployed: dict[str, str],
    lambda_context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from uvqc.cli import main

    check_handler.handler(event([(f"m-{i}", b) for i, b in enumerate(lines())]), lambda_context)
    capsys.readouterr()
    out = tmp_path / "run.html"
    assert main(["report", BATCH, "--aws", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    html = out.read_text(encoding="utf-8")
    assert "83.7" in html and "check_standard_failed" in html
    assert main(["charts", "--aws"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    # the run store keeps the run's instrument (the most common instrumentId of its results)
    assert first.startswith("nitrate-run  nitrate-N  cary60-01  check_standard_recovery  points 6")
    assert main(["report", "nope", "--aws"]) == 1


def test_report_and_charts_with_aws_read_the_chart_points_kept_in_decision_documents(
    deployed: dict[str, str],
    aws: AwsFactory,
    lambda_context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """An earlier final run kept only as its RUN item (no result items: it cannot be decided
    again) is on the charts from its document's meta.chartPoints, under its meta.instrument."""
    from uvqc.cli import main

    check_handler.handler(event([(f"m-{i}", b) for i, b in enumerate(lines())]), lambda_context)
    db = aws("dynamodb")
    item = db.get_item(
        TableName=deployed["runs"], Key={"batchId": {"S": BATCH}, "sk": {"S": "RUN"}}
    )["Item"]
    document = json.loads(item["decision"]["S"])
    earlier = "<script>NO3-2026-11-27"
    points = [[100.0 + i % 3, 6 + 10 * i, f"CCV-{i}"] for i in range(30)]
    db.put_item(
        TableName=deployed["runs"],
        Item={
            "batchId": {"S": earlier},
            "sk": {"S": "RUN"},
            "method": {"S": "nitrate-run"},
            "status": {"S": "final"},
            "firstAt": {"S": "2026-11-27T08:00:00+00:00"},
            "decision": {
                "S": json.dumps(
                    {
                        "meta": {
                            "runConfig": document["meta"]["runConfig"],
                            "chartPoints": {"check_standard_recovery": points},
                            "instrument": document["meta"]["instrument"],  # the same chart
                        }
                    }
                )
            },
        },
    )
    capsys.readouterr()
    assert main(["charts", "--aws", "--series", "check_standard_recovery"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert document["meta"]["instrument"] == "cary60-01"
    assert line.startswith("nitrate-run  nitrate-N  cary60-01  check_standard_recovery  points 36")
    assert "(established)" in line
    out = tmp_path / "run.html"
    assert main(["report", BATCH, "--aws", "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "check standard recovery" in html and "<script>NO3" not in html


def test_notices_a_crashed_invocation_never_queued_are_taken_over_after_their_lease(
    deployed: dict[str, str], aws: AwsFactory
) -> None:
    from datetime import UTC, datetime, timedelta

    from uvqc.adapters.dynamodb_runs import NOTICE_LEASE_SECONDS, DynamoRunStore
    from uvqc.core.engine import judge
    from uvqc.core.methods import MethodBook
    from uvqc.pipeline.records import ResultRecord
    from uvqc.runs.notices import arrival_for

    book = MethodBook.from_paths([METHOD])
    store = DynamoRunStore(aws("dynamodb"), deployed["runs"], book)
    now = datetime.now(UTC)
    arrivals = []
    for i, body in enumerate(lines()):
        judgement, message = judge(body, book)
        record = ResultRecord.create(
            record_id=f"m-{i}", judgement=judgement, raw=body, received_at=now, checked_at=now
        )
        arrival = arrival_for(message, record, book)
        assert arrival is not None
        arrivals.append(arrival)
    first = store.track(arrivals, now=now)  # ... and the invocation dies before queueing
    assert sorted(n.run["code"] for n in first if n.run) == [
        "above_calibration",
        "check_standard_failed",
        "digest",
    ]
    assert store.track(arrivals[:1], now=now + timedelta(seconds=1)) == []  # lease held
    later = now + timedelta(seconds=NOTICE_LEASE_SECONDS + 1)
    taken = store.track(arrivals[:1], now=later)
    assert sorted(n.key for n in taken) == sorted(n.key for n in first)
    store.confirm(taken)
    assert store.track(arrivals[:1], now=later + timedelta(seconds=NOTICE_LEASE_SECONDS + 1)) == []


def test_run_qc_keeps_the_check_stage_under_30_api_calls_per_100_results(
    deployed: dict[str, str], lambda_context: LambdaContext
) -> None:
    from uvqc.adapters import boto

    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    for service in ("dynamodb", "sqs"):
        boto.client(service).meta.events.register("before-call", count)
    second = [line.replace(BATCH, "NO3-2026-11-28-B") for line in lines()]
    bodies = [(f"m-{i}", body) for i, body in enumerate(lines() + second)]
    calls.clear()
    for start in range(0, len(bodies), 100):  # the deployed batch size
        check_handler.handler(event(bodies[start : start + 100]), lambda_context)
    # records (BatchWriteItem), run results (BatchWriteItem), the run (Query), the decision
    # (TransactWriteItems), verdict changes (BatchWriteItem), notices (SendMessageBatch,
    # UpdateItem): a handful per run and batch
    per_100 = len(calls) * 100 / len(bodies)
    print(f"check stage with run QC: {per_100:.1f} API calls per 100 results")
    assert per_100 <= 30, sorted(calls)


def test_a_run_too_large_for_a_dynamodb_item_fails_with_the_reason(
    deployed: dict[str, str], lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from uvqc.adapters import dynamodb_runs

    # DynamoDB limits an item to 400 KB; a smaller budget stands in for a huge run here.
    monkeypatch.setattr(dynamodb_runs, "RUN_ITEM_BUDGET", 1_000)
    bodies = [(f"m-{i}", body) for i, body in enumerate(lines())]
    response = check_handler.handler(event(bodies[:10]), lambda_context)
    assert len(response["batchItemFailures"]) == 10  # retried, then dead-lettered with it


def test_trace_with_aws_shows_the_verdict_run_qc_gave_a_result(
    deployed: dict[str, str],
    aws: AwsFactory,
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from .conftest import make_ledger_table

    monkeypatch.setenv("UVQC_LEDGER_TABLE", make_ledger_table(aws("dynamodb")))
    check_handler.handler(event([(f"m-{i}", b) for i, b in enumerate(lines())]), lambda_context)
    from uvqc.cli import main

    capsys.readouterr()
    assert main(["trace", "W-1128-09", "--aws"]) == 0
    out = capsys.readouterr().out
    assert f"FLAG (bracketing_check_failed) in run {BATCH}" in out
