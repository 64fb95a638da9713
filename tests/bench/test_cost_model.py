"""The cost model's arithmetic (bench/cost_model.py), checked by hand-computed figures."""

from __future__ import annotations

import math

import pytest

from bench import cost_model as cm


def test_billed_duration_scales_cpu_to_the_memory_share_and_rounds_up_to_1_ms() -> None:
    # 25 ms of CPU at 128 MB: 1769/128 = 13.82x -> 345.5 ms, billed 346 ms
    assert cm.billed_seconds(0.025, 128, 0) == pytest.approx(0.346)
    # 1 ms of CPU at 512 MB (3.455x) + 1 call of 8 ms -> 11.455 ms, billed 12 ms
    assert cm.billed_seconds(0.001, 512, 1) == pytest.approx(0.012)
    # never less than 1 ms; no speed-up above one vCPU
    assert cm.billed_seconds(0.0, 128, 0) == 0.001
    assert cm.billed_seconds(0.010, 3538, 0) == pytest.approx(0.010)


def test_write_units_are_per_started_kilobyte() -> None:
    assert [cm.write_units(b) for b in (1, 1024, 1025, 4000)] == [1, 1, 2, 4]


def test_lambda_function_compute_and_requests() -> None:
    f = cm.LambdaFunction("f", 1_000_000, 0.0, 0, 512, "x86_64", duration_s=0.200)
    # 1e6 x 0.2 s x 0.5 GB x $0.0000166667 = $1.66667; requests 1e6 x $0.2/1e6 = $0.20
    assert f.compute_usd() == pytest.approx(1.66667, rel=1e-5)
    assert f.requests_usd() == pytest.approx(0.20)
    cold = cm.LambdaFunction("f", 100, 0.0, 0, 128, "arm64", cold_starts=10, init_cpu_s=0.1)
    init = math.ceil(0.1 * 1769 / 128 * 1000) / 1000  # 1.383 s
    expected = (100 * 0.001 + 10 * init) * 0.125 * 0.0000133334
    assert cold.compute_usd() == pytest.approx(expected)


def test_original_notifier_runs_for_flagged_results_only() -> None:
    inputs = cm.OriginalInputs(flagged_share=0.1, duration_s=0.2, cold_start_share=0)
    cost = cm.original(inputs)
    check, notifier = cost.functions
    assert check.invocations == 1_000_000 and notifier.invocations == 100_000
    assert cost.lambda_usd() == pytest.approx(1.1 * (1.66667 + 0.20), rel=1e-5)
    assert cost.sqs_requests == 200_000  # ESM receive + delete, 10 messages each
    assert cost.log_bytes == 1_100_000 * cm.PLATFORM_LOG_BYTES


def test_uvqc_write_units_per_record_and_per_notification() -> None:
    keys_only = cm.uvqc(cm.UvqcInputs(record_item_bytes=600, ledger_final_bytes=900))
    assert keys_only.notes == {"record_write_units": 2, "ledger_write_units": 3}
    assert keys_only.ddb_write_units == 1_000_000 * 2 + 100_000 * 3
    projected_all = cm.uvqc(cm.UvqcInputs(ledger_index_write_on_update=True))
    assert projected_all.notes["ledger_write_units"] == 4
    big = cm.uvqc(cm.UvqcInputs(record_item_bytes=3000, indexed_share=0.5))
    assert big.notes["record_write_units"] == 3 + 0.5


def test_uvqc_requests_and_the_lines_add_up_to_the_total() -> None:
    cost = cm.uvqc(cm.UvqcInputs(notify_queue_sends_per_batch=2))
    check, notify = cost.functions
    assert (check.invocations, notify.invocations) == (10_000, 10_000)
    assert cost.sqs_requests == 200_000 + 10_000 * 2 + 20_000
    assert sum(cost.lines().values()) == pytest.approx(cost.total_usd())
    assert cost.lines()["DynamoDB writes"] == pytest.approx(2.3 * 0.625)


def test_item_size_counts_names_and_values_as_dynamodb_does() -> None:
    item = {
        "recordId": {"S": "abc"},  # 8 + 3
        "rawBytes": {"N": "1234"},  # 8 + 3
        "ok": {"BOOL": True},  # 2 + 1
        "to": {"L": [{"S": "ä"}]},  # 2 + 3 + 1 + 2
    }
    assert cm.item_bytes(item) == 11 + 11 + 3 + 8


def test_the_digest_function_costs_one_cold_invocation_per_run_at_its_memory() -> None:
    without = cm.uvqc(cm.UvqcInputs())
    assert [f.name for f in without.functions] == ["uvqc check", "uvqc notify"]
    runs = cm.uvqc(cm.UvqcInputs(digests_per_result=1 / 64, digest_api_calls=0))
    digest = runs.functions[-1]
    assert digest.name == "uvqc digest" and digest.invocations == 15_625
    warm = math.ceil(0.45 * 1769 / 256 * 1000) / 1000
    cold = math.ceil(2.74 * 1769 / 256 * 1000) / 1000
    assert digest.compute_usd() == pytest.approx(15_625 * (warm + cold) * 0.25 * 0.0000133334)
    assert runs.sqs_requests == pytest.approx(without.sqs_requests + 2 * 15_625 / 10 + 15_625)
