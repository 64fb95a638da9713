"""Control charts and run digests on AWS (moto over HTTP, a real SMTP relay): seven runs of
one method and instrument (hostile IDs), their results shuffled and redelivered through the
check handler, put a Westgard 1-3s rejection and a 1-2s warning on the same runs, with the
same chart points and digest keys, as the embedded runtime; digests go to the digest queue
only, the digest function e-mails each once as multipart text + HTML with the figures inline
(parsed back by Content-ID) and the report attached; a dead digest is listed and redriven to
the digest queue; `uvqc report --aws` shows the violation."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.embedded.test_control_charts import ESTABLISH, METHOD, REJECT, WARN, run_lines
from tests.support.relay import FaultyRelay
from uvqc.aws import check_handler, digest_handler
from uvqc.aws.ops import run_reader
from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker
from uvqc.pipeline.email import header_safe
from uvqc.runs.report import public
from uvqc.settings import load_settings

from .conftest import (
    EVENTS,
    Queues,
    make_ledger_table,
    make_queues,
    make_records_table,
    make_runs_table,
)
from .esm import EventSourceMapping, LambdaContext, queue_depth
from .test_runs import drain

AwsFactory = Callable[[str], Any]
TEMPLATE = json.loads((EVENTS / "sqsEvent.json").read_text())["Records"][0]
INSTRUMENT = 'cary60 <script>alert("$1")</script> \u202eA'  # markup, bidi override, $
RECOVERIES = [*ESTABLISH, REJECT, WARN]
MAIL_TO = "lab@example.org"


def batch(index: int) -> str:
    return f"<b>N-{index:02d}</b> \u202e$"


def hostile_lines(index: int) -> list[str]:
    out = []
    for line in run_lines(index, RECOVERIES[index]):
        message = json.loads(line)
        message.update(batchId=batch(index), instrumentId=INSTRUMENT)
        out.append(json.dumps(message, ensure_ascii=False))
    return out


def event(bodies: list[tuple[str, str]]) -> dict[str, Any]:
    records = []
    for message_id, body in bodies:
        record = copy.deepcopy(TEMPLATE)
        record.update(messageId=message_id, body=body, messageAttributes={})
        records.append(record)
    return {"Records": records}


class Stack:
    def __init__(self, aws: AwsFactory, mp: pytest.MonkeyPatch, relay: FaultyRelay, tmp: Path):
        db, self.sqs = aws("dynamodb"), aws("sqs")
        self.method = tmp / "charted.toml"
        self.method.write_text(METHOD)
        self.notify: Queues = make_queues(self.sqs, "notify")
        self.digest: Queues = make_queues(self.sqs, "digest", max_receive=10)
        self.relay = relay
        env = {
            "UVQC_RECORDS_TABLE": make_records_table(db),
            "UVQC_LEDGER_TABLE": make_ledger_table(db),
            "UVQC_RUNS_TABLE": make_runs_table(db),
            "UVQC_NOTIFY_QUEUE_URL": self.notify.url,
            "UVQC_NOTIFY_DLQ_URL": self.notify.dlq_url,
            "UVQC_DIGEST_QUEUE_URL": self.digest.url,
            "UVQC_DIGEST_DLQ_URL": self.digest.dlq_url,
            "UVQC_METHOD": str(self.method),
            "UVQC_CHANNEL": "smtp",
            "UVQC_SMTP_HOST": relay.host,
            "UVQC_SMTP_PORT": str(relay.port),
            "UVQC_MAIL_FROM": "uvqc@lab.example.org",
            "UVQC_MAIL_TO": MAIL_TO,
        }
        for name, value in env.items():
            mp.setenv(name, value)
        self.digests = EventSourceMapping(
            self.sqs, self.digest.url, digest_handler.handler, function_name="uvqc-digest"
        )

    def check(self, runs: range, context: LambdaContext) -> None:
        """Each run's results shuffled, a few redelivered, in batches of 10."""
        for i in runs:
            bodies = [(f"m-{i}-{n}", body) for n, body in enumerate(hostile_lines(i))]
            arrivals = bodies + random.Random(i).sample(bodies, 5)
            random.Random(100 + i).shuffle(arrivals)
            for start in range(0, len(arrivals), 10):
                response = check_handler.handler(event(arrivals[start : start + 10]), context)
                assert response == {"batchItemFailures": []}


@pytest.fixture
def relay() -> Iterator[FaultyRelay]:
    with FaultyRelay(seed=7) as r:
        yield r


@pytest.fixture
def stack(
    aws: AwsFactory, monkeypatch: pytest.MonkeyPatch, relay: FaultyRelay, tmp_path: Path
) -> Stack:
    return Stack(aws, monkeypatch, relay, tmp_path)


def embedded(tmp_path: Path, method: Path) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Each run's decision document on the embedded runtime, and its digest key."""
    settings = load_settings(
        db=tmp_path / "ref.db", outbox=tmp_path / "ref", method=method, channel="file"
    )
    with Runtime.from_settings(settings) as rt:
        for i in range(len(RECOVERIES)):
            rt.db.intake_port.submit([line.encode() for line in hostile_lines(i)])
            Worker(rt).run_until_idle()
        assert rt.runs is not None
        documents = {batch(i): rt.runs.show(batch(i)) or {} for i in range(len(RECOVERIES))}
        keys = dict(
            rt.db.conn.execute("SELECT batch_id, key FROM run_notices WHERE code = 'digest'")
        )
        return documents, keys


def parts(mail: EmailMessage) -> dict[str, list[EmailMessage]]:
    found: dict[str, list[EmailMessage]] = {}
    for part in mail.walk():
        if not part.is_multipart():
            found.setdefault(part.get_content_type(), []).append(part)  # type: ignore[arg-type]
    return found


def test_westgard_across_runs_decides_and_emails_as_the_embedded_runtime(
    stack: Stack, aws: AwsFactory, lambda_context: LambdaContext, tmp_path: Path
) -> None:
    stack.check(range(len(RECOVERIES)), lambda_context)
    reference, reference_keys = embedded(tmp_path / "embedded", stack.method)
    reader = run_reader(load_settings())
    for i in range(len(RECOVERIES)):
        shown = reader.show(batch(i)) or {}
        assert shown["status"] == "final"
        assert public(shown) == public(reference[batch(i)]), batch(i)
        assert shown["meta"]["instrument"] == INSTRUMENT
        assert shown["meta"]["chartPoints"] == reference[batch(i)]["meta"]["chartPoints"]
    (rejection,) = (reader.show(batch(5)) or {})["findings"]
    assert rejection["code"] == "control_chart" and rejection["severity"] == "fail"
    assert "Westgard 1-3s" in rejection["message"] and INSTRUMENT in rejection["message"]
    (warning,) = (reader.show(batch(6)) or {})["findings"]
    assert warning["severity"] == "suspect" and "Westgard 1-2s" in warning["message"]

    # Digests on the digest queue only, one per run, with the embedded runtime's keys.
    notices = drain(stack.sqs, stack.notify.url)
    assert not [n for n in notices if (n.get("run") or {}).get("kind") == "digest"]
    assert sorted(n["run"]["code"] for n in notices) == ["control_chart", "control_chart"]
    waiting, _ = queue_depth(stack.sqs, stack.digest.url)
    assert waiting == len(RECOVERIES)

    # The digest function: each digest e-mailed once, a redelivery is a duplicate.
    while stack.digests.poll_once():
        pass
    assert stack.digests.stats.reported_failures == 0 and not stack.digests.stats.errors
    mails = [message_from_bytes(r.data, policy=policy.default) for r in stack.relay.messages()]
    assert len(mails) == len(RECOVERIES)
    # X-UVQC-Batch-Id spells the bidi override out (\\u202e): keyed by what the header says
    by_batch = {str(m["X-UVQC-Batch-Id"]): m for m in mails}
    assert {b: str(m["X-UVQC-Notification-Key"]) for b, m in by_batch.items()} == {
        header_safe(b, 200): k for b, k in reference_keys.items()
    }
    rejected = by_batch[header_safe(batch(5), 200)]
    assert isinstance(rejected, EmailMessage)
    assert rejected.get_content_type() == "multipart/mixed"
    found = parts(rejected)
    (text,) = found["text/plain"]
    assert "Westgard 1-3s" in text.get_content()
    html = next(p for p in found["text/html"] if p.get_content_disposition() != "attachment")
    images = found["image/png"]
    assert len(images) >= 2  # the calibration curve and the violated chart
    for image in images:
        cid = str(image["Content-ID"]).strip("<>")
        assert f"cid:{cid}" in html.get_content()
        assert image.get_content().startswith(b"\x89PNG\r\n\x1a\n")
    (report,) = [p for p in found["text/html"] if p.get_content_disposition() == "attachment"]
    assert "&lt;b&gt;N-05" in report.get_content() and "<b>N-05" not in report.get_content()
    assert len(rejected.as_bytes()) < 10 * 1024 * 1024  # SES SendRawEmail's limit

    stack.check(range(5, 6), lambda_context)  # a redelivered run: nothing new to send
    assert queue_depth(stack.sqs, stack.digest.url) == (0, 0)
    # SQS delivers a digest twice: the ledger drops the second (no second e-mail).
    key = reference_keys[batch(5)]
    item = aws("dynamodb").get_item(
        TableName=load_settings().runs_table,
        Key={"batchId": {"S": batch(5)}, "sk": {"S": f"N#{key}"}},
    )["Item"]
    stack.sqs.send_message(QueueUrl=stack.digest.url, MessageBody=item["request"]["S"])
    assert stack.digests.poll_once() == 1
    assert len(stack.relay.messages()) == len(RECOVERIES)


def test_a_dead_digest_is_listed_and_redriven_to_the_digest_queue(
    aws: AwsFactory,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: LambdaContext,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from uvqc.cli import main

    with FaultyRelay(reject_recipient=MAIL_TO) as relay:
        stack = Stack(aws, monkeypatch, relay, tmp_path)
        stack.check(range(1), lambda_context)
        stack.digests.poll_once()
    assert relay.messages() == []
    assert queue_depth(stack.sqs, stack.digest.url) == (0, 0)
    capsys.readouterr()
    assert main(["dlq", "list", "--aws", "--queue", "digest"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert " digest " in line
    assert main(["dlq", "redrive", "--aws", "--queue", "digest"]) == 0
    assert "redrove 1 message(s)" in capsys.readouterr().out
    (back,) = drain(stack.sqs, stack.digest.url)
    assert back["run"]["kind"] == "digest" and back["run"]["batchId"] == batch(0)
    assert queue_depth(stack.sqs, stack.notify.url)[0] == 0  # never where it is text only


def test_report_with_aws_shows_the_violation_and_the_chart_points(
    stack: Stack, lambda_context: LambdaContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from uvqc.cli import main

    stack.check(range(len(RECOVERIES)), lambda_context)
    out = tmp_path / "n05.html"
    assert main(["report", batch(5), "--aws", "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "Westgard 1-3s" in html and "control_chart" in html
    assert "<script>alert" not in html
    capsys.readouterr()
    assert main(["charts", "--aws", "--series", "check_standard_recovery"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "points 28" in line and "last violation 1-2s" in line


def test_a_run_re_measured_on_another_instrument_moves_to_that_instrument_s_chart(
    aws: AwsFactory, tmp_path: Path
) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from uvqc.adapters.dynamodb_runs import CHART_POINTS, DynamoRunStore, chart_key, run_instrument
    from uvqc.core.engine import judge
    from uvqc.core.methods import MethodBook
    from uvqc.pipeline.records import ResultRecord
    from uvqc.runs.notices import arrival_for

    method = tmp_path / "charted.toml"
    method.write_text(METHOD)
    book = MethodBook.from_paths([method])
    db = aws("dynamodb")
    store = DynamoRunStore(db, make_runs_table(db), book)
    now = datetime.now(UTC)
    arrivals = []
    for n, line in enumerate(hostile_lines(0)):
        judgement, message = judge(line, book)
        record = ResultRecord.create(
            record_id=f"r-{n}", judgement=judgement, raw=line, received_at=now, checked_at=now
        )
        arrival = arrival_for(message, record, book)
        assert arrival is not None and arrival.instrument == INSTRUMENT
        arrivals.append(arrival)
    store.track(arrivals, now=now)
    other = [replace(a, instrument="cary60-02") for a in arrivals[: len(arrivals) // 2 + 1]]
    store.track(other, now=now + timedelta(minutes=1))  # most results now name cary60-02

    def points(instrument: str) -> dict[str, Any]:
        (item,) = db.query(
            TableName=store._table,
            KeyConditionExpression="batchId = :c AND begins_with(sk, :p)",
            ExpressionAttributeValues={
                ":c": {"S": chart_key("charted", instrument)},
                ":p": {"S": CHART_POINTS},
            },
        )["Items"]
        return dict(json.loads(item["points"]["S"]))

    assert points(INSTRUMENT) == {}
    assert points("cary60-02") == (store.show(batch(0)) or {})["meta"]["chartPoints"]
    assert (store.show(batch(0)) or {})["meta"]["instrument"] == "cary60-02"
    tie = [{"sk": {"S": f"R#{n}"}, "instrument": {"S": name}} for n, name in enumerate("baab")]
    assert run_instrument(tie) == "a"  # most common, then the smallest name
    assert run_instrument([{"sk": {"S": "RUN"}}]) is None
