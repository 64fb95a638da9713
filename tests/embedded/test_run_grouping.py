"""Grouped run decision e-mails on the SQLite run store (uvqc.runs.grouping): decisions that
should stop the run go at once, the others wait for one group e-mail per run, a final run
folds what is held into its digest (or sends the group when digests are off)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

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
from uvqc.adapters.sqlite.db import connect
from uvqc.adapters.sqlite.runs import SqliteRunStore, run_emails_for_sample
from uvqc.cli.story import _run_email_lines
from uvqc.core.methods import MethodBook, method_from_mapping
from uvqc.pipeline.records import NotificationRequest
from uvqc.runs.grouping import GroupingPolicy
from uvqc.runs.notices import RunArrival
from uvqc.runs.report import document_text


def store(path: Path, lab: GroupingPolicy | None = None, **notify: Any) -> SqliteRunStore:
    book = MethodBook([method_from_mapping(method_data(**notify))])
    return SqliteRunStore(connect(path / "uvqc.db"), book, grouping=lab)


def arrivals(messages: list[dict[str, Any]]) -> list[RunArrival]:
    return [RunArrival(BATCH, METHOD, result(m, record_id=f"r{m['sequence']}")) for m in messages]


def codes(requests: list[NotificationRequest]) -> list[str]:
    return sorted(str((r.run or {}).get("code")) for r in requests)


def sent(runs: SqliteRunStore, requests: list[NotificationRequest]) -> list[NotificationRequest]:
    runs.confirm(requests)
    return requests


def test_held_decisions_go_out_as_one_group_when_the_interval_has_passed(
    tmp_path: Path,
) -> None:
    runs = store(tmp_path, group_seconds=300)
    run = grouped_run()
    assert sent(runs, runs.track(arrivals(run[:30]), now=T0)) == []  # three decisions held
    assert not runs.groups_due(now=T0 + timedelta(seconds=299))
    assert runs.flush_groups(now=T0 + timedelta(seconds=299)) == []
    assert runs.groups_due(now=T0 + timedelta(seconds=300))
    [group] = sent(runs, runs.flush_groups(now=T0 + timedelta(seconds=300)))
    run_part = group.run or {}
    assert run_part["kind"] == "group" and len(run_part["members"]) == 3
    assert run_part["subject"] == (
        f"Run {BATCH}: 3 decisions (above_calibration, duplicate_rpd, spike_recovery)"
    )
    assert HOSTILE in run_part["body"] and "DUP0" in run_part["body"]
    assert runs.flush_groups(now=T0 + timedelta(hours=1)) == []  # never sent twice
    # the rest arrives: the failed CCV goes at once; the run is complete, so final: the
    # blank decision (held) is folded into the digest
    rest = sent(runs, runs.track(arrivals(run[30:]), now=T0 + timedelta(seconds=400)))
    assert codes(rest) == ["check_standard_failed", "digest"]
    covered = dict(
        runs.conn.execute(
            "SELECT code, covered_by FROM run_notices WHERE code = 'blank_contamination'"
        ).fetchall()
    )
    digest = next(r for r in rest if (r.run or {}).get("kind") == "digest")
    assert covered == {"blank_contamination": digest.key}
    # a redelivery of the whole run announces nothing again
    assert runs.track(arrivals(run), now=T0 + timedelta(seconds=500)) == []


def test_a_run_that_becomes_final_while_decisions_are_held_folds_them_into_the_digest(
    tmp_path: Path,
) -> None:
    runs = store(tmp_path, group_seconds=300)
    requests = runs.track(arrivals(grouped_run()), now=T0)
    assert codes(requests) == ["check_standard_failed", "digest"]
    rows = runs.conn.execute(
        "SELECT code, covered_by FROM run_notices WHERE code NOT IN ('digest', "
        "'check_standard_failed') ORDER BY code"
    ).fetchall()
    digest = next(r for r in requests if (r.run or {}).get("kind") == "digest")
    assert [c for c, _ in rows] == [
        "above_calibration",
        "blank_contamination",
        "duplicate_rpd",
        "spike_recovery",
    ]
    assert {k for _, k in rows} == {digest.key}
    assert not runs.groups_due(now=T0 + timedelta(days=1))


def test_with_digests_off_a_final_run_sends_its_held_decisions_as_a_group_at_once(
    tmp_path: Path,
) -> None:
    runs = store(tmp_path, group_seconds=300, digest=False)
    requests = runs.track(arrivals(grouped_run()), now=T0)
    assert codes(requests) == ["check_standard_failed", "group"]
    group = next(r for r in requests if (r.run or {}).get("kind") == "group")
    assert len((group.run or {})["members"]) == 4


def test_an_interval_of_zero_emails_every_decision_at_once_as_before(tmp_path: Path) -> None:
    runs = store(tmp_path)  # the lab default: 0 s
    requests = runs.track(arrivals(grouped_run()), now=T0)
    assert codes(requests) == [
        "above_calibration",
        "blank_contamination",
        "check_standard_failed",
        "digest",
        "duplicate_rpd",
        "spike_recovery",
    ]


def test_the_methods_notify_table_overrides_the_lab_policy(tmp_path: Path) -> None:
    lab = GroupingPolicy(interval_seconds=600, immediate=frozenset({"duplicate_rpd"}))
    runs = store(tmp_path, lab, immediate=["spike_recovery"])
    requests = sent(runs, runs.track(arrivals(grouped_run()[:30]), now=T0))
    assert codes(requests) == ["spike_recovery"]  # the method's list replaces the lab's
    assert not runs.groups_due(now=T0 + timedelta(seconds=599))  # the lab's interval
    [group] = runs.flush_groups(now=T0 + timedelta(seconds=600))
    members = json.loads(group.to_json())["run"]["members"]
    assert len(members) == 2


def test_a_decision_held_by_a_worker_without_the_method_stays_held(tmp_path: Path) -> None:
    runs = store(tmp_path, group_seconds=60)
    runs.track(arrivals(grouped_run()[:30]), now=T0)
    other = SqliteRunStore(runs.conn, MethodBook())
    assert other.groups_due(now=T0 + timedelta(seconds=60))
    assert other.flush_groups(now=T0 + timedelta(seconds=60)) == []
    assert len(runs.flush_groups(now=T0 + timedelta(seconds=60))) == 1


def test_runs_show_names_the_email_that_announced_each_decision(tmp_path: Path) -> None:
    runs = store(tmp_path, group_seconds=300)
    run = grouped_run()
    runs.confirm(runs.track(arrivals(run[:30]), now=T0))
    shown = (runs.show(BATCH) or {})["meta"]["emails"]
    assert {e["email"] for e in shown} == {"held"}
    [group] = runs.flush_groups(now=T0 + timedelta(seconds=300))
    runs.confirm([group])
    rest = runs.track(arrivals(run[30:]), now=T0 + timedelta(seconds=400))
    digest = next(r for r in rest if (r.run or {}).get("kind") == "digest")
    document = runs.show(BATCH) or {}
    by_code = {e["code"]: (e["email"], e["emailKey"]) for e in document["meta"]["emails"]}
    ccv = next(r for r in rest if (r.run or {}).get("code") == "check_standard_failed")
    assert by_code == {
        "above_calibration": ("group", group.key),
        "duplicate_rpd": ("group", group.key),
        "spike_recovery": ("group", group.key),
        "check_standard_failed": ("decision", ccv.key),
        "blank_contamination": ("digest", digest.key),
    }
    text = document_text(document)
    assert f"duplicate_rpd (1 sample(s)): in the group e-mail, key {group.key}" in text
    assert f"blank_contamination (7 sample(s)): in the digest e-mail, key {digest.key}" in text


def test_trace_names_the_email_that_announced_each_decision_naming_a_sample(
    tmp_path: Path,
) -> None:
    from uvqc.adapters.sqlite.runs import run_emails_for_sample
    from uvqc.cli.story import _run_email_lines

    runs = store(tmp_path, group_seconds=300)
    run = grouped_run()
    runs.confirm(runs.track(arrivals(run[:30]), now=T0))
    [group] = runs.flush_groups(now=T0 + timedelta(seconds=300))
    runs.confirm([group])
    rest = runs.track(arrivals(run[30:]), now=T0 + timedelta(seconds=400))
    ccv = next(r for r in rest if (r.run or {}).get("code") == "check_standard_failed")
    found = run_emails_for_sample(runs.conn, HOSTILE)
    assert sorted((e["code"], e["email"], e["emailKey"]) for e in found) == [
        ("above_calibration", "group", group.key),
        ("check_standard_failed", "decision", ccv.key),
    ]
    text = "\n".join(_run_email_lines(found, " --db x.db"))
    assert f"above_calibration in run {BATCH}: in the group e-mail, key {group.key}" in text
    assert f"(uvqc runs show {BATCH} --db x.db)" in text


# -- decisions that stop being findings (uvqc.runs.withdrawal) -------------------------------


def remeasure(seq: int, record: str, **changes: Any) -> RunArrival:
    """A re-measurement of position `seq` (the clean run's reading unless `changes`)."""
    again = remeasured(passing(seq, None), **changes)
    return RunArrival(BATCH, METHOD, result(again, record_id=record))


def test_a_decision_withdrawn_while_held_is_never_sent(tmp_path: Path) -> None:
    runs = store(tmp_path, group_seconds=15)
    run = grouped_run(None)
    assert sent(runs, runs.track(arrivals(run[:30]), now=T0)) == []  # three held
    # DUP0 (14) and SPK1 (25) re-measured: both pass, those decisions are no findings now
    later = T0 + timedelta(seconds=5)
    assert runs.track([remeasure(14, "r14b"), remeasure(25, "r25b")], now=later) == []
    [group] = sent(runs, runs.flush_groups(now=T0 + timedelta(seconds=15)))
    run_part = group.run or {}
    assert run_part["subject"] == f"Run {BATCH}: above_calibration"
    assert len(run_part["members"]) == 1
    assert "duplicate_rpd" not in run_part["body"] and "RPD" not in run_part["body"]
    assert "spike_recovery" not in run_part["body"]
    assert not runs.groups_due(now=T0 + timedelta(days=1))  # the withdrawn never go
    assert runs.flush_groups(now=T0 + timedelta(days=1)) == []
    document = runs.show(BATCH) or {}
    by_code = {e["code"]: e for e in document["meta"]["emails"]}
    assert by_code["duplicate_rpd"]["email"] == "withdrawn"
    assert by_code["duplicate_rpd"]["state"] == "withdrawn"
    text = document_text(document)
    assert "duplicate_rpd (1 sample(s)): not sent: withdrawn while held" in text
    assert "spike_recovery (1 sample(s)): not sent: withdrawn while held" in text
    named = _run_email_lines(run_emails_for_sample(runs.conn, "DUP0"), "")  # uvqc trace
    assert f"  duplicate_rpd in run {BATCH}: not sent: withdrawn while held" in named
    # the final run's digest folds nothing withdrawn, and says nothing was withdrawn since
    # announced (those two never were announced)
    rest = sent(runs, runs.track(arrivals(run[30:]), now=T0 + timedelta(seconds=60)))
    final = sent(runs, runs.finalise_quiet(now=T0 + timedelta(hours=2)))
    digest = next(r for r in [*rest, *final] if (r.run or {}).get("kind") == "digest")
    assert (digest.run or {})["withdrawn"] == []
    assert "Withdrawn since announced" not in (digest.run or {})["body"]
    folded = runs.conn.execute(
        "SELECT code FROM run_notices WHERE covered_by = ? ORDER BY code", (digest.key,)
    ).fetchall()
    assert [c for (c,) in folded] == ["blank_contamination"]


def test_a_held_decision_whose_affected_set_changed_is_superseded_by_the_new_one(
    tmp_path: Path,
) -> None:
    runs = store(tmp_path, group_seconds=15)
    run = contaminated_blank_run()
    assert sent(runs, runs.track(arrivals(run), now=T0)) == []  # blank (16 samples) held
    # S11 (position 19) re-measured at 4.8 mg/L: at least 10x the blank, it stands
    again = remeasure(19, "r19b", absorbance=absorbance(4.8))
    assert runs.track([again], now=T0 + timedelta(seconds=5)) == []
    # nothing current was held: the new decision starts a group of its own
    assert not runs.groups_due(now=T0 + timedelta(seconds=19))
    [group] = sent(runs, runs.flush_groups(now=T0 + timedelta(seconds=20)))
    body = (group.run or {})["body"]
    assert "Affected samples (15):" in body and "S11" not in body
    assert "Affected samples (16)" not in body
    emails = (runs.show(BATCH) or {})["meta"]["emails"]
    old, new = emails
    assert old["email"] == "withdrawn" and old["supersededBy"] == new["key"]
    assert new["email"] == "group" and new["state"] == "current"
    text = document_text(runs.show(BATCH) or {})
    assert (
        f"blank_contamination (16 sample(s)): not sent: superseded by decision {new['key'][:12]} "
        "while held" in text
    )


def test_a_withdrawn_announced_decision_is_said_in_the_digest_which_is_an_update(
    tmp_path: Path,
) -> None:
    runs = store(tmp_path, group_seconds=15)
    requests = sent(runs, runs.track(arrivals(grouped_run()), now=T0))
    assert codes(requests) == ["check_standard_failed", "digest"]
    first = next(r for r in requests if (r.run or {}).get("kind") == "digest")
    assert not (first.run or {})["update"]
    assert (first.run or {})["subject"] == f"Run {BATCH}: flag (digest)"
    # the re-run check standard passes: the failed CCV is no longer a finding
    again = sent(runs, runs.track([remeasure(26, "r26b")], now=T0 + timedelta(hours=4)))
    [digest] = again
    run_part = digest.run or {}
    assert run_part["kind"] == "digest" and run_part["update"] is True
    assert run_part["subject"] == f"Run {BATCH}: flag (digest) (update)"
    [line] = run_part["withdrawn"]
    assert line.startswith("check_standard_failed: Check standard CCV1")
    assert "Withdrawn since announced:\n  - check_standard_failed: " in run_part["body"]
    text = document_text(runs.show(BATCH) or {})
    assert "check_standard_failed (16 sample(s)): its own e-mail, key" in text
    assert "; withdrawn (no longer a finding)" in text
    # re-decided unchanged: no third digest (the withdrawal is said once per change)
    assert runs.track([remeasure(26, "r26b")], now=T0 + timedelta(hours=5)) == []
