"""The ingest Lambda on moto: put an object in the bucket, invoke the handler with the S3
event, find the results on the intake queue; refused files recorded and e-mailed."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from uvqc.aws import ingest_handler
from uvqc.errors import InfrastructureError
from uvqc.pipeline.email import compose
from uvqc.pipeline.records import NotificationRequest

from .conftest import EVENTS, make_queues, unique
from .esm import LambdaContext

AwsFactory = Callable[[str], Any]
CANONICAL = json.loads((EVENTS / "s3Event.json").read_text())
FIXTURES = Path(__file__).resolve().parents[1] / "ingest" / "fixtures"


def s3_event(bucket: str, key: str, size: int) -> dict[str, Any]:
    event = copy.deepcopy(CANONICAL)
    obj = event["Records"][0]["s3"]
    obj["bucket"]["name"] = bucket
    obj["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    obj["object"].update(key=quote_plus(key, safe="/"), size=size)
    return event


@pytest.fixture
def deployed(aws: AwsFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    sqs, s3 = aws("sqs"), aws("s3")
    bucket = unique("ingest")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    names = {
        "bucket": bucket,
        "intake": make_queues(sqs, "intake").url,
        "notify": make_queues(sqs, "notify").url,
    }
    monkeypatch.setenv("UVQC_INTAKE_QUEUE_URL", names["intake"])
    monkeypatch.setenv("UVQC_NOTIFY_QUEUE_URL", names["notify"])
    monkeypatch.setenv("UVQC_INGEST_WAVELENGTH_NM", "220")
    ingest_handler.reset()
    yield names
    ingest_handler.reset()


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return found
        found.extend(json.loads(m["Body"]) for m in got)


def put(aws: AwsFactory, bucket: str, key: str, fixture: str) -> dict[str, Any]:
    data = (FIXTURES / fixture).read_bytes()
    aws("s3").put_object(Bucket=bucket, Key=key, Body=data)
    return s3_event(bucket, key, len(data))


def test_a_dropped_export_becomes_results_on_the_intake_queue(
    deployed: dict[str, str], aws: AwsFactory, lambda_context: LambdaContext
) -> None:
    event = put(aws, deployed["bucket"], "inbox/quant run 1.csv", "visionlite_quant.csv")
    out = ingest_handler.handler(event, lambda_context)
    assert out == {"files": 1, "results": 6, "refused": 1}
    results = drain(aws("sqs"), deployed["intake"])
    assert [m["sampleId"] for m in results] == [
        "STD 0.5",
        "CCV 2",
        "Blank",
        "S-1",
        "S-1-DUP",
        "S-2",
    ]
    assert results[0]["source"]["file"] == "inbox/quant run 1.csv"
    (request,) = drain(aws("sqs"), deployed["notify"])  # S-1-MS refused: one e-mail request
    assert request["verdict"] == "reject"
    assert "S-1-MS" in request["findings"][0]["message"]
    reason = aws("s3").get_object(
        Bucket=deployed["bucket"], Key="rejected/quant run 1.csv.reason.json"
    )
    assert json.loads(reason["Body"].read())["refused"][0]["sample"] == "S-1-MS"


def test_a_refused_file_is_recorded_and_e_mailed_once_per_content(
    deployed: dict[str, str], aws: AwsFactory, lambda_context: LambdaContext
) -> None:
    event = put(aws, deployed["bucket"], "inbox/native.spc", "native.spc")
    assert ingest_handler.handler(event, lambda_context)["refused"] == 1
    ingest_handler.handler(event, lambda_context)  # S3 delivered the event twice
    assert drain(aws("sqs"), deployed["intake"]) == []
    requests = drain(aws("sqs"), deployed["notify"])
    assert len(requests) == 2 and len({r["key"] for r in requests}) == 1  # the ledger dedups
    assert "OLE2" in requests[0]["findings"][0]["message"]
    mail = compose(
        NotificationRequest.from_json(json.dumps(requests[0])),
        mail_from="uvqc@example.org",
        mail_to=["lab@example.org"],
    )
    assert dict(mail.headers)["Subject"] == "Rejected result for native.spc"
    assert "s3://" in mail.body and "binary file" in mail.body


def test_objects_outside_the_inbox_are_ignored(
    deployed: dict[str, str], aws: AwsFactory, lambda_context: LambdaContext
) -> None:
    event = put(aws, deployed["bucket"], "rejected/x.csv.reason.json", "genesys30.tsv")
    assert ingest_handler.handler(event, lambda_context) == {"files": 0, "results": 0, "refused": 0}


def test_an_unreachable_intake_queue_fails_the_invocation_for_retry(
    deployed: dict[str, str],
    aws: AwsFactory,
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UVQC_INTAKE_QUEUE_URL", deployed["intake"] + "-gone")
    ingest_handler.reset()
    event = put(aws, deployed["bucket"], "inbox/g.tsv", "genesys30.tsv")
    with pytest.raises(InfrastructureError):
        ingest_handler.handler(event, lambda_context)


def test_peak_memory_of_a_large_cary_file_stays_under_128_mb(
    deployed: dict[str, str], aws: AwsFactory, tmp_path: Path
) -> None:
    """Peak RSS (VmHWM) of a fresh process importing the handler, reading a 60-sample Cary
    file of 3,000 points each (3.2 MB) from S3 and sending 60 results; the Lambda has 128 MB."""
    script = tmp_path / "measure.py"
    script.write_text(
        "import sys\n"
        "sys.modules['jcamp'] = None; sys.modules['numpy'] = None  # not in the artifact\n"
        "from uvqc.aws import ingest_handler\n"
        "class LambdaContext:\n"
        "    function_name = 'uvqc-ingest'; memory_limit_in_mb = 128; aws_request_id = 'r-1'\n"
        "    invoked_function_arn = 'arn:aws:lambda:eu-west-1:123456789012:function:uvqc-ingest'\n"
        "    def get_remaining_time_in_millis(self): return 60000\n"
        "import json\n"
        "event = json.loads(sys.argv[1])\n"
        "print(json.dumps(ingest_handler.handler(event, LambdaContext())))\n"
        # VmHWM, not ru_maxrss: the latter keeps the forking pytest process's peak over exec.
        "status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "print(status)\n",
        encoding="utf-8",
    )
    names = ",,".join(f"S-{i}" for i in range(60)) + ",,"
    labels = "Wavelength (nm),Abs," * 60
    rows = [
        ",".join(f"{800 - j * 0.2:.4f},{0.5 + j * 1e-5:.6f}" for _ in range(60)) + ","
        for j in range(3000)
    ]
    data = "\r\n".join([names, labels, *rows, "", ""]).encode()
    aws("s3").put_object(Bucket=deployed["bucket"], Key="inbox/big.csv", Body=data)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            json.dumps(s3_event(deployed["bucket"], "inbox/big.csv", len(data))),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    summary_line, rss_line = [
        ln for ln in proc.stdout.splitlines() if not ln.startswith('{"level')
    ][-2:]
    assert json.loads(summary_line)["results"] == 60
    peak_mb = int(rss_line) / 1024
    print(f"ingest handler peak RSS: {peak_mb:.1f} MB for a {len(data) / 1e6:.1f} MB Cary file")
    assert peak_mb <= 128


def test_cli_ingest_and_watch_send_to_the_sqs_intake_queue(
    deployed: dict[str, str], aws: AwsFactory, tmp_path: Path
) -> None:
    from uvqc.cli import main

    url = deployed["intake"]
    assert main(["ingest", str(FIXTURES / "visionlite_quant.csv"), "--queue-url", url]) == 1
    assert len(drain(aws("sqs"), url)) == 6  # S-1-MS refused (exit 1), the rest sent
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "g.tsv").write_bytes((FIXTURES / "genesys30.tsv").read_bytes())
    os.utime(inbox / "g.tsv", (0, 0))  # long finished
    args = ["watch", str(inbox), "--queue-url", url, "--db", str(tmp_path / "w.db"), "--once"]
    assert main(args) == 0
    assert [m["sampleId"] for m in drain(aws("sqs"), url)] == ["GW-3"]
    assert (inbox / "archive" / "g.tsv").exists()
