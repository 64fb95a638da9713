"""The measured process of bench.lambda_bench: imports one handler, drives batches through it
against moto (and the local relay), and writes its figures to a JSON file. Its peak RSS is
read by the parent from wait4."""

from __future__ import annotations

import hashlib
import json
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any


def sqs_record(body: str, queue_arn: str) -> dict[str, Any]:
    now_ms = str(int(time.time() * 1000))
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now_ms,
            "ApproximateFirstReceiveTimestamp": now_ms,
            "SenderId": "AIDAEXAMPLE",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "eu-west-1",
    }


def main() -> None:
    stage, count, batch, queue_arn, out = sys.argv[1:6]
    n, size = int(count), int(batch)
    t0 = time.perf_counter()
    if stage == "check":
        from uvqc.aws import check_handler as module
    else:
        from uvqc.aws import notify_handler as module
    import_s = time.perf_counter() - t0

    from bench.common import result_line
    from tests.aws.esm import LambdaContext
    from uvqc.adapters import boto

    calls: Counter[str] = Counter()

    def count_call(event_name: str, **_: Any) -> None:
        calls[event_name.removeprefix("before-call.")] += 1

    for service in ("dynamodb", "sqs"):
        boto.client(service).meta.events.register("before-call", count_call)

    rng = random.Random(5)
    if stage == "check":
        bodies = [result_line(rng, i, flagged_share=0.10) for i in range(n)]
    else:
        bodies = [notification(i) for i in range(n)]
    durations: list[float] = []
    cpu: list[float] = []
    failures = 0
    for start in range(0, n, size):
        event = {"Records": [sqs_record(b, queue_arn) for b in bodies[start : start + size]]}
        t, c = time.perf_counter(), time.process_time()
        response = module.handler(event, LambdaContext(timeout_ms=60_000))
        durations.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        failures += len(response["batchItemFailures"])
    with open(out, "w") as f:
        json.dump(
            {
                "import_s": import_s,
                "first_batch_s": durations[0],
                "batch_median_s": statistics.median(durations[1:] or durations),
                "batch_p90_s": sorted(durations)[int(0.9 * (len(durations) - 1))],
                "batch_cpu_median_s": statistics.median(cpu[1:] or cpu),
                "batches": len(durations),
                "batch_size": size,
                "results": n,
                "api_calls": dict(calls),
                "api_calls_total": sum(calls.values()),
                "batch_item_failures": failures,
            },
            f,
        )


def notification(i: int) -> str:
    from uvqc.core.verdicts import Finding, Severity, Verdict
    from uvqc.pipeline.records import NotificationRequest

    sample = f"S-{i:06d}"
    finding = Finding(
        "dilution_required",
        Severity.FAIL,
        f"Absorbance for {sample} exceeds 1. Consider diluting the sample.",
        1.2,
        1.0,
    )
    return NotificationRequest(
        key=hashlib.sha256(sample.encode()).hexdigest()[:40],
        sample_id=sample,
        record_id=str(uuid.uuid4()),
        verdict=Verdict.FLAG,
        findings=(finding,),
        method="default",
        received_at=datetime.now(UTC),
    ).to_json()


if __name__ == "__main__":
    main()
