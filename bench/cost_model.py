"""All-in cost per million results on AWS, for the original two-Lambda system and for uvqc.

Every price and every input is a named value here (rendered into docs/PERFORMANCE.md);
the measured inputs come from bench/lambda_bench.py. Prices: us-east-1, on-demand, no free
tier.

Lambda billed duration is modelled from CPU time, not from wall time on this machine: a
function gets CPU in proportion to its memory (1,769 MB = one vCPU, AWS Lambda docs), so
`cpu_s` measured on a full core becomes `cpu_s x 1769 / memory_mb` at 128 MB (~13.8x) or
512 MB (~3.5x); each AWS API call adds an assumed in-region round trip (`CALL_LATENCY_S`)
of waiting, billed the same. Durations are billed in 1 ms steps. INIT (cold start) is
billed since 2025-08-01 and modelled the same way from the measured cold start CPU.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

# -- prices (USD) -------------------------------------------------------------------------
LAMBDA_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}  # per GB-second
LAMBDA_REQUEST = 0.20 / 1_000_000  # per invocation
SQS_REQUEST = 0.40 / 1_000_000  # standard queue, per API request (up to 10 messages)
DDB_WRITE_UNIT = 0.625 / 1_000_000  # on-demand write request unit (1 KB), since 2024-11
DDB_READ_UNIT = 0.125 / 1_000_000  # on-demand read request unit (4 KB, strongly consistent)
DDB_STORAGE_GB_MONTH = 0.25  # table and index storage
DDB_PITR_GB_MONTH = 0.20  # point-in-time recovery (continuous backups), enabled in the template
LOGS_INGEST_GB = 0.50  # CloudWatch Logs ingestion (standard class)
PRICES: dict[str, Any] = {
    "lambda_gb_s": LAMBDA_GB_S,
    "lambda_request": LAMBDA_REQUEST,
    "sqs_request": SQS_REQUEST,
    "ddb_write_unit": DDB_WRITE_UNIT,
    "ddb_read_unit": DDB_READ_UNIT,
    "ddb_storage_gb_month": DDB_STORAGE_GB_MONTH,
    "ddb_pitr_gb_month": DDB_PITR_GB_MONTH,
    "logs_ingest_gb": LOGS_INGEST_GB,
}

# -- model constants -----------------------------------------------------------------------
MB_PER_VCPU = 1769  # Lambda: a function with 1,769 MB has the equivalent of one vCPU
CALL_LATENCY_S = 0.008  # assumed in-region round trip per DynamoDB/SQS/SES/Lambda API call
PLATFORM_LOG_BYTES = 260  # START + END + REPORT lines Lambda writes per invocation
DDB_ITEM_OVERHEAD = 100  # bytes DynamoDB adds per item in storage and per index item
KB = 1024
GB = 1024**3


def billed_seconds(cpu_s: float, memory_mb: int, api_calls: float) -> float:
    """Billed duration of one invocation: CPU time at the memory's CPU share plus the
    waiting for its API calls, rounded up to 1 ms (at least 1 ms)."""
    share = min(1.0, memory_mb / MB_PER_VCPU)
    seconds = cpu_s / share + api_calls * CALL_LATENCY_S
    return max(0.001, math.ceil(round(seconds * 1000, 6)) / 1000)


def write_units(item_bytes: float) -> int:
    """Write request units of one write of an item of this size (1 per started KB)."""
    return max(1, math.ceil(item_bytes / KB))


@dataclass(frozen=True)
class LambdaFunction:
    """One function's load per million results."""

    name: str
    invocations: float
    cpu_s: float  # CPU seconds per warm invocation, on a full core
    api_calls: float  # AWS API calls per invocation (each waits CALL_LATENCY_S)
    memory_mb: int
    arch: str
    cold_starts: float = 0.0
    init_cpu_s: float = 0.0  # CPU seconds of one cold start (import, wiring, clients)
    duration_s: float | None = None  # a given billed duration instead of the CPU model

    def billed_s(self) -> float:
        if self.duration_s is not None:
            return self.duration_s
        return billed_seconds(self.cpu_s, self.memory_mb, self.api_calls)

    def init_billed_s(self) -> float:
        return billed_seconds(self.init_cpu_s, self.memory_mb, 0) if self.cold_starts else 0.0

    def compute_usd(self) -> float:
        gb = self.memory_mb / 1024
        seconds = self.invocations * self.billed_s() + self.cold_starts * self.init_billed_s()
        return seconds * gb * LAMBDA_GB_S[self.arch]

    def requests_usd(self) -> float:
        return self.invocations * LAMBDA_REQUEST

    def total_usd(self) -> float:
        return self.compute_usd() + self.requests_usd()

    def row(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "billed_s": self.billed_s(),
            "init_billed_s": self.init_billed_s(),
            "compute_usd": self.compute_usd(),
            "requests_usd": self.requests_usd(),
            "total_usd": self.total_usd(),
        }


@dataclass(frozen=True)
class SystemCost:
    """Everything one system costs per million results."""

    name: str
    functions: list[LambdaFunction]
    sqs_requests: float = 0.0
    ddb_write_units: float = 0.0
    ddb_read_units: float = 0.0
    stored_bytes: float = 0.0  # DynamoDB table + index bytes the million results leave
    log_bytes: float = 0.0  # CloudWatch Logs bytes ingested
    notes: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> dict[str, float]:
        stored_gb = self.stored_bytes / GB
        return {
            "lambda compute": sum(f.compute_usd() for f in self.functions),
            "lambda requests": sum(f.requests_usd() for f in self.functions),
            "SQS requests": self.sqs_requests * SQS_REQUEST,
            "DynamoDB writes": self.ddb_write_units * DDB_WRITE_UNIT,
            "DynamoDB reads": self.ddb_read_units * DDB_READ_UNIT,
            "DynamoDB storage + PITR, first month": stored_gb
            * (DDB_STORAGE_GB_MONTH + DDB_PITR_GB_MONTH),
            "CloudWatch Logs ingestion": self.log_bytes / GB * LOGS_INGEST_GB,
        }

    def lambda_usd(self) -> float:
        return sum(f.total_usd() for f in self.functions)

    def total_usd(self) -> float:
        return sum(self.lines().values())

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "functions": [f.row() for f in self.functions],
            "sqs_requests": self.sqs_requests,
            "ddb_write_units": self.ddb_write_units,
            "ddb_read_units": self.ddb_read_units,
            "stored_bytes": self.stored_bytes,
            "log_bytes": self.log_bytes,
            "lines": self.lines(),
            "lambda_usd": self.lambda_usd(),
            "total_usd": self.total_usd(),
            "notes": self.notes,
        }


def esm_sqs_requests(messages: float) -> float:
    """SQS requests an event source mapping makes to hand `messages` to Lambda: a
    ReceiveMessage returns at most 10 messages and a DeleteMessageBatch deletes at most 10
    (empty long polls are a fixed monthly cost, not per result: left out)."""
    return 2 * messages / 10


@dataclass(frozen=True)
class OriginalInputs:
    """The original system: a check function per result (512 MB, x86_64) that invoked the
    notifier (512 MB) for each flagged result; no records, no ledger."""

    results: float = 1_000_000
    flagged_share: float = 0.10
    check_cpu_s: float = 0.0005
    notifier_cpu_s: float = 0.002
    init_cpu_s: float = 0.3
    cold_start_share: float = 0.01
    log_bytes_per_invocation: float = 0.0  # its own log lines (none known); platform lines apart
    duration_s: float | None = None  # e.g. 0.200: the deployment's reported duration


def original(inputs: OriginalInputs = OriginalInputs()) -> SystemCost:
    n, flagged = inputs.results, inputs.results * inputs.flagged_share
    check = LambdaFunction(
        "original check",
        n,
        inputs.check_cpu_s,
        inputs.flagged_share,  # one lambda:Invoke per flagged result
        512,
        "x86_64",
        n * inputs.cold_start_share,
        inputs.init_cpu_s,
        inputs.duration_s,
    )
    notifier = LambdaFunction(
        "original notifier",
        flagged,
        inputs.notifier_cpu_s,
        1,  # one ses:SendEmail
        512,
        "x86_64",
        flagged * inputs.cold_start_share,
        inputs.init_cpu_s,
        inputs.duration_s,
    )
    invocations = n + flagged
    return SystemCost(
        "original",
        [check, notifier],
        sqs_requests=esm_sqs_requests(n),
        log_bytes=invocations * (PLATFORM_LOG_BYTES + inputs.log_bytes_per_invocation),
    )


@dataclass(frozen=True)
class UvqcInputs:
    """uvqc: check (batch 100) and notify (batch 10) at 128 MB arm64, records and ledger in
    DynamoDB (GSIs KEYS_ONLY), the notify queue in SQS. Per-batch figures are measured."""

    results: float = 1_000_000
    flagged_share: float = 0.10  # flagged + rejected: one notification each
    check_batch: int = 100
    notify_batch: int = 10
    check_cpu_s: float = 0.025  # per batch
    check_api_calls: float = 5.4  # per batch
    notify_cpu_s: float = 0.020
    notify_api_calls: float = 20.0
    init_cpu_s: float = 0.5
    cold_start_share: float = 0.01
    notify_queue_sends_per_batch: float = 1.4  # SendMessageBatch calls per check batch
    record_item_bytes: float = 600.0
    record_index_bytes: float = 120.0  # KEYS_ONLY index item: recordId, sampleId, receivedAt
    indexed_share: float = 1.0  # records with a sampleId (the GSI is sparse)
    ledger_item_bytes: float = 500.0  # after the claim
    ledger_final_bytes: float = 900.0  # after the finish (attempts, delivered_to)
    ledger_index_write_on_update: bool = False  # True with ProjectionType ALL
    log_bytes_per_result: float = 0.0  # check stage lines per result (measured)
    log_bytes_per_notification: float = 0.0  # notify stage lines per notification
    log_bytes_per_invocation: float = 0.0  # batch lines + metrics (EMF) per invocation
    memory_mb: int = 128
    # Run digests (the digest function, docs/AWS.md): one per final run, so digests per
    # result = 1 / positions per run for results in runs (0: no run QC, the default).
    # CPU figures: bench/digest_bench.py (warm invocation; a cold one adds import + font
    # cache + first compose). Every digest is assumed a cold start (one per run: rare).
    digests_per_result: float = 0.0
    digest_cpu_s: float = 0.45
    digest_init_cpu_s: float = 2.74  # import 0.70 + first invocation 2.49 - warm 0.45
    digest_api_calls: float = 6.0  # Scan, Query, BatchGetItem (scans), ledger x2, send
    digest_memory_mb: int = 256


def uvqc(inputs: UvqcInputs = UvqcInputs()) -> SystemCost:
    n = inputs.results
    flagged = n * inputs.flagged_share
    check_inv = n / inputs.check_batch
    notify_inv = flagged / inputs.notify_batch
    check = LambdaFunction(
        "uvqc check",
        check_inv,
        inputs.check_cpu_s,
        inputs.check_api_calls,
        inputs.memory_mb,
        "arm64",
        check_inv * inputs.cold_start_share,
        inputs.init_cpu_s,
    )
    notify = LambdaFunction(
        "uvqc notify",
        notify_inv,
        inputs.notify_cpu_s,
        inputs.notify_api_calls,
        inputs.memory_mb,
        "arm64",
        notify_inv * inputs.cold_start_share,
        inputs.init_cpu_s,
    )
    record_wu = write_units(inputs.record_item_bytes) + inputs.indexed_share * write_units(
        inputs.record_index_bytes
    )
    # Ledger per notification: the claim (PutItem, + its index item), the finish
    # (UpdateItem: units of the larger of the item before and after; with a KEYS_ONLY index
    # no index write, since no key attribute changes).
    ledger_wu = (
        write_units(inputs.ledger_item_bytes)
        + 1
        + write_units(max(inputs.ledger_item_bytes, inputs.ledger_final_bytes))
        + (1 if inputs.ledger_index_write_on_update else 0)
    )
    sqs = (
        esm_sqs_requests(n)  # intake, as for the original
        + check_inv * inputs.notify_queue_sends_per_batch
        + esm_sqs_requests(flagged)
    )
    stored = n * (inputs.record_item_bytes + DDB_ITEM_OVERHEAD) + n * inputs.indexed_share * (
        inputs.record_index_bytes + DDB_ITEM_OVERHEAD
    )
    stored += flagged * (inputs.ledger_final_bytes + 2 * DDB_ITEM_OVERHEAD + 150)
    logs = (
        n * inputs.log_bytes_per_result
        + flagged * inputs.log_bytes_per_notification
        + (check_inv + notify_inv) * (PLATFORM_LOG_BYTES + inputs.log_bytes_per_invocation)
    )
    functions = [check, notify]
    digests = n * inputs.digests_per_result
    if digests:
        functions.append(
            LambdaFunction(
                "uvqc digest",
                digests,
                inputs.digest_cpu_s,
                inputs.digest_api_calls,
                inputs.digest_memory_mb,
                "arm64",
                digests,
                inputs.digest_init_cpu_s,
            )
        )
        sqs += esm_sqs_requests(digests) + digests  # its ESM; one SendMessageBatch per run
    return SystemCost(
        "uvqc",
        functions,
        sqs_requests=sqs,
        ddb_write_units=n * record_wu + flagged * ledger_wu,
        stored_bytes=stored,
        log_bytes=logs,
        notes={"record_write_units": record_wu, "ledger_write_units": ledger_wu},
    )


def ratio(a: float, b: float) -> float:
    return a / b if b else math.inf


def _value_bytes(value: dict[str, Any]) -> float:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode("utf-8"))
    if kind == "N":
        digits = len(str(inner).lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "B":
        return len(inner)
    if kind in {"SS", "NS", "BS"}:
        return sum(_value_bytes({kind[0]: v}) for v in inner)
    if kind == "L":
        return 3 + sum(1 + _value_bytes(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + _value_bytes(v) for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_bytes(item: dict[str, Any]) -> float:
    """An item's size as DynamoDB counts it for capacity units: attribute names plus values
    (strings as UTF-8, numbers ~1 byte per 2 digits + 1, lists/maps 3 bytes + 1 per
    element; DynamoDB developer guide, 'Item sizes')."""
    return sum(len(name.encode("utf-8")) + _value_bytes(value) for name, value in item.items())
