"""The grouping policy of run decision e-mails (uvqc.runs.grouping): its rules, its keys, and
its configuration per lab (settings) and per method (`[run.notify]`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runs.builder import T0, config, results
from tests.runs.grouped_run import grouped_run, method_data
from uvqc.core.methods import method_from_mapping
from uvqc.core.verdicts import Verdict
from uvqc.errors import MethodError, SettingsError
from uvqc.pipeline.email import compose
from uvqc.pipeline.records import NotificationRequest
from uvqc.runs.evaluate import evaluate_run
from uvqc.runs.grouping import (
    STOP_THE_RUN,
    FlushAction,
    GroupingError,
    GroupingPolicy,
    flush_action,
    group_due,
    group_key,
)
from uvqc.runs.notices import digest_request, group_request
from uvqc.settings import load_settings


def test_by_default_every_decision_goes_at_once_and_stop_the_run_codes_are_immediate() -> None:
    policy = GroupingPolicy()
    assert policy.interval_seconds == 0 and policy.digest
    assert policy.immediate == {"calibration_failed", "check_standard_failed"}
    assert policy.is_immediate("duplicate_rpd")  # interval 0: nothing is held
    grouped = GroupingPolicy(interval_seconds=300)
    assert grouped.is_immediate("check_standard_failed")
    assert not grouped.is_immediate("duplicate_rpd")
    assert grouped.is_immediate("digest") and grouped.is_immediate("group")  # never held


def test_the_first_held_decision_starts_the_group_and_later_ones_join_it() -> None:
    policy = GroupingPolicy(interval_seconds=300)
    assert group_due(policy, None, 1000.0) == 1300.0
    assert group_due(policy, 1300.0, 1200.0) == 1300.0


def test_held_decisions_go_when_due_and_a_final_run_holds_nothing() -> None:
    policy = GroupingPolicy(interval_seconds=300)
    assert flush_action(policy, None, 5000.0, final=True, digest_sent=True) is None
    assert flush_action(policy, 1300.0, 1299.0, final=False, digest_sent=False) is None
    assert flush_action(policy, 1300.0, 1300.0, final=False, digest_sent=False) is (
        FlushAction.GROUP
    )
    assert flush_action(policy, 1300.0, 1000.0, final=True, digest_sent=True) is (
        FlushAction.DIGEST
    )
    assert flush_action(policy, 1300.0, 1000.0, final=True, digest_sent=False) is (
        FlushAction.GROUP
    )


def test_a_group_key_depends_on_its_members_not_their_order() -> None:
    assert group_key("B", ["a", "b"]) == group_key("B", ["b", "a"])
    assert group_key("B", ["a", "b"]) != group_key("B", ["a"])
    assert group_key("B", ["a"]) != group_key("C", ["a"])


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(GroupingError, match="unknown run decision code"):
        GroupingPolicy(immediate=frozenset({"ccv_failed"}))
    with pytest.raises(GroupingError, match="0-86400"):
        GroupingPolicy(interval_seconds=-1)


def test_a_group_email_with_no_decision_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one decision"):
        group_request("B", [], method=None, decided_at=T0, interval_seconds=60)


def test_a_methods_notify_table_overrides_the_lab_key_by_key() -> None:
    lab = GroupingPolicy(interval_seconds=600, digest=False)
    method = method_from_mapping(method_data(immediate=[], group_seconds=120))
    assert method.run is not None
    policy = method.run.notify.policy(lab)
    assert policy == GroupingPolicy(immediate=frozenset(), interval_seconds=120, digest=False)
    plain = method_from_mapping(method_data())
    assert plain.run is not None and plain.run.notify.policy(lab) == lab


@pytest.mark.parametrize(
    ("notify", "message"),
    [
        ({"immediate": ["ccv_failed"]}, "run.notify names unknown decision code"),
        ({"group_seconds": -5}, "run.notify.group_seconds Input should be greater than"),
        ({"group_seconds": 90000}, "run.notify.group_seconds Input should be less than"),
        ({"group_seconds": float("nan")}, "run.notify.group_seconds Input should be a finite"),
        ({"digest": "yes"}, "run.notify.digest Input should be a valid boolean"),
        ({"interval": 60}, "run.notify.interval is not a known key"),
    ],
)
def test_a_bad_notify_table_is_an_error_when_the_method_is_loaded(
    notify: dict[str, object], message: str
) -> None:
    with pytest.raises(MethodError, match=message):
        method_from_mapping(method_data(**notify))


def test_the_lab_policy_comes_from_uvqc_toml_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings().grouping == GroupingPolicy()
    (tmp_path / "uvqc.toml").write_text(
        "run_group_seconds = 300\nrun_immediate = []\nrun_digest = false\n"
    )
    assert load_settings().grouping == GroupingPolicy(
        immediate=frozenset(), interval_seconds=300, digest=False
    )
    monkeypatch.setenv("UVQC_RUN_IMMEDIATE", " calibration_failed , duplicate_rpd")
    assert load_settings().grouping.immediate == {"calibration_failed", "duplicate_rpd"}
    monkeypatch.setenv("UVQC_RUN_IMMEDIATE", "ccv_failed")
    with pytest.raises(SettingsError, match=r"UVQC_RUN_IMMEDIATE: .*unknown run decision code"):
        load_settings()
    monkeypatch.delenv("UVQC_RUN_IMMEDIATE")
    monkeypatch.setenv("UVQC_RUN_GROUP_SECONDS", "-1")
    with pytest.raises(SettingsError, match="UVQC_RUN_GROUP_SECONDS"):
        load_settings()
    assert GroupingPolicy().immediate == STOP_THE_RUN


def test_group_request_round_trips_through_the_notify_queue_format() -> None:
    member = NotificationRequest(
        key="k1",
        sample_id=None,
        record_id="run:B",
        verdict=Verdict.FLAG,
        findings=(),
        method=None,
        received_at=T0,
        run={"batchId": "B", "code": "duplicate_rpd", "affected": ["x"], "positions": [3]},
    )
    group = group_request("B", [member], method="m", decided_at=T0, interval_seconds=60)
    again = NotificationRequest.from_json(group.to_json())
    assert again.run is not None and again.run["members"] == ["k1"]
    assert again.key == group_key("B", ["k1"])
    assert "position    3  x" in again.run["body"]


def test_a_run_digest_sent_again_without_its_figures_still_says_it_is_an_update() -> None:
    decision = evaluate_run(results(grouped_run()), config(), batch_id="B", final=True)
    first = digest_request(decision, method="m", decided_at=T0)
    again = digest_request(
        decision, method="m", decided_at=T0, withdrawn=["duplicate_rpd: RPD 53.9 %"], update=True
    )
    assert again.key != first.key  # a withdrawal is a change: said once, in a new digest
    plain = compose(first, mail_from="qc@lab.example", mail_to=["a@lab.example"])
    update = compose(again, mail_from="qc@lab.example", mail_to=["a@lab.example"])
    assert plain.get("X-UVQC-Digest-Update") is None
    assert update.get("X-UVQC-Digest-Update") == "true"
    assert update.get("Subject") == "Run B: flag (digest) (update)"
    assert "Withdrawn since announced:\n  - duplicate_rpd: RPD 53.9 %" in update.body
