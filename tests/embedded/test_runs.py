"""Analytical runs on the embedded runtime: the example nitrate run through the real worker,
arrival order and redelivery, two workers on one run, quiet finalisation, verdict history."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker, run_together
from uvqc.runs.report import public

ROOT = Path(__file__).resolve().parents[2]
RUN_FILE = ROOT / "examples" / "runs" / "nitrate-run-2026-11-28.jsonl"
METHOD = ROOT / "examples" / "methods" / "nitrate-run.toml"
BATCH = "NO3-2026-11-28-A"


def lines() -> list[bytes]:
    return [line.encode() for line in RUN_FILE.read_text().splitlines()]


def runtime(make_runtime: Callable[..., Runtime], **overrides: Any) -> Runtime:
    return make_runtime(method=METHOD, **overrides)


def emails(outbox: Path) -> list[Any]:
    return [message_from_bytes(p.read_bytes()) for p in sorted(outbox.glob("*.eml"))]


def run_notices(rt: Runtime) -> list[tuple[str, str]]:
    return rt.db.conn.execute("SELECT code, anchor FROM run_notices ORDER BY code").fetchall()


def test_the_example_run_is_decided_and_the_failed_ccv_is_emailed_once(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    rt = runtime(make_runtime)
    rt.db.intake_port.submit(lines())
    Worker(rt).run_until_idle()
    assert rt.runs is not None
    doc = rt.runs.show(BATCH)
    assert doc is not None and doc["status"] == "final" and doc["verdict"] == "flag"
    assert [f["code"] for f in doc["findings"]] == ["check_standard_failed"]
    assert doc["findings"][0]["affected"] == [f"W-1128-{i:02d}" for i in range(9, 19)]
    assert len(doc["calibrations"]) == 2
    mails = emails(tmp_path / "outbox")
    subjects = sorted(m["Subject"] for m in mails)
    assert subjects == [
        f"Run {BATCH}: above_calibration",
        f"Run {BATCH}: check_standard_failed",
        f"Run {BATCH}: flag",  # the run digest (tests/embedded/test_digests.py)
    ]
    body = next(m for m in mails if "check_standard" in m["Subject"]).get_payload()
    assert "position 31 recovered 83.7 %" in body and "re-measure positions 21-30" in body
    # the same run submitted again (a redrive) decides the same and e-mails nothing new
    rt.db.intake_port.submit(lines())
    Worker(rt).run_until_idle()
    assert rt.runs.show(BATCH) == doc | {"meta": rt.runs.show(BATCH)["meta"]}  # type: ignore[index]
    assert len(emails(tmp_path / "outbox")) == 3


def test_one_by_one_shuffled_and_duplicated_arrivals_reach_the_same_decision(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    whole = runtime(make_runtime, db=tmp_path / "whole.db", outbox=tmp_path / "a")
    whole.db.intake_port.submit(lines())
    Worker(whole).run_until_idle()
    assert whole.runs is not None
    expected = public(whole.runs.show(BATCH) or {})

    pieces = runtime(
        make_runtime, db=tmp_path / "pieces.db", outbox=tmp_path / "b", worker_batch_size=1
    )
    order = lines() + random.Random(7).sample(lines(), 10)
    random.Random(11).shuffle(order)
    worker = Worker(pieces)
    for body in order:
        pieces.db.intake_port.submit([body])
        worker.run_until_idle()
    assert pieces.runs is not None
    assert public(pieces.runs.show(BATCH) or {}) == expected
    notices = run_notices(pieces)
    assert ("check_standard_failed", "check:31") in notices
    assert len({anchor for _, anchor in notices}) == len(emails(tmp_path / "b"))


def test_two_workers_on_one_run_make_one_decision_and_no_duplicate_emails(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    first = runtime(make_runtime, worker_batch_size=3)
    second = runtime(make_runtime, worker_batch_size=3)
    first.db.intake_port.submit(lines())
    run_together([Worker(first), Worker(second)], threading.Event())
    assert first.runs is not None
    doc = first.runs.show(BATCH)
    assert doc is not None and doc["status"] == "final"
    assert [f["code"] for f in doc["findings"]] == ["check_standard_failed"]
    keys = [m["X-UVQC-Notification-Key"] for m in emails(tmp_path / "outbox")]
    assert len(keys) == len(set(keys))
    anchors = [a for _, a in run_notices(first)]
    assert anchors.count("check:31") == 1


def test_a_quiet_run_is_finalised_by_the_worker_with_its_missing_positions(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    rt = runtime(make_runtime)
    kept = [b for b in lines() if json.loads(b)["sequence"] not in (12, 63)]
    rt.db.intake_port.submit(kept)
    worker = Worker(rt)
    worker.run_until_idle()
    assert rt.runs is not None
    assert (rt.runs.show(BATCH) or {})["status"] == "open"
    # a later worker (e.g. after a restart) finalises it once the quiet period has passed
    later = Worker(runtime(make_runtime))
    later.finalise_once(now=datetime.now(UTC) + timedelta(seconds=901))
    later.run_until_idle()
    doc = rt.runs.show(BATCH) or {}
    assert doc["status"] == "final"
    incomplete = next(f for f in doc["findings"] if f["code"] == "run_incomplete")
    assert "12, 63" in incomplete["message"]
    subjects = [m["Subject"] for m in emails(tmp_path / "outbox")]
    assert f"Run {BATCH}: run_incomplete" in subjects
    assert f"Run {BATCH}: qc_frequency" in subjects  # no check standard after 53-62


def test_a_samples_verdict_changed_by_the_run_is_kept_beside_its_record(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = runtime(make_runtime)
    rt.db.intake_port.submit(lines())
    Worker(rt).run_until_idle()
    assert rt.runs is not None
    records = rt.db.store.results_for_sample("W-1128-09")
    assert [r.verdict.value for r in records] == ["pass", "pass"]  # check-time verdicts
    changes = rt.runs.verdicts_for_sample("W-1128-09")
    assert [(c.verdict, c.findings) for c in changes] == [("flag", ("bracketing_check_failed",))]


def test_trace_shows_the_verdict_run_qc_gave_a_recorded_result(
    make_runtime: Callable[..., Runtime],
) -> None:
    from uvqc.adapters.sqlite.trace import SqliteTrace
    from uvqc.cli.story import gather, story_dict, story_text

    rt = runtime(make_runtime)
    rt.db.intake_port.submit(lines())
    Worker(rt).run_until_idle()
    story = gather(SqliteTrace(rt.db.store, rt.db.ledger), "W-1128-09")
    text = story_text(story)
    assert "verdict    PASS" in text
    assert f"FLAG (bracketing_check_failed) in run {BATCH}" in text
    assert story_dict(story)["runVerdicts"][0]["findings"] == ["bracketing_check_failed"]


def test_runs_list_and_show_print_the_run_in_text_and_in_the_issues_json_shape(
    make_runtime: Callable[..., Runtime], db_path: Path, capsys: Any
) -> None:
    from uvqc.cli import main

    rt = runtime(make_runtime)
    rt.db.intake_port.submit(lines())
    Worker(rt).run_until_idle()
    assert main(["runs", "list", "--db", str(db_path)]) == 0
    assert f"{BATCH}  final  FLAG  positions 64/64" in capsys.readouterr().out
    assert main(["runs", "show", BATCH, "--db", str(db_path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == [
        "batchId",
        "status",
        "verdict",
        "calibration",
        "calibrations",
        "results",
        "findings",
    ]
    assert doc["results"][20]["findings"] == ["bracketing_check_failed"]
    assert isinstance(doc["calibration"]["slope"], float)  # unrounded
    assert main(["runs", "show", BATCH, "--db", str(db_path)]) == 0
    assert "Calibration positions 33-38 (linear, passed)" in capsys.readouterr().out
    assert main(["runs", "show", "nope", "--db", str(db_path)]) == 1
    assert "no run 'nope'" in capsys.readouterr().err


def test_results_of_a_method_without_a_run_section_are_listed_under_their_run(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = make_runtime()  # the built-in default method: no [run] section
    bodies = [
        json.dumps({"sampleId": f"D-{i}", "absorbance": a, "batchId": "DAY-1", "sequence": i})
        for i, a in ((1, 0.3), (2, 1.2), (3, 0.5))
    ]
    rt.db.intake_port.submit([b.encode() for b in bodies])
    Worker(rt).run_until_idle()
    assert rt.runs is not None
    doc = public(rt.runs.show("DAY-1") or {})
    assert doc["calibration"] is None and doc["findings"] == []
    assert [(r["sampleId"], r["verdict"], r["findings"]) for r in doc["results"]] == [
        ("D-1", "pass", []),
        ("D-2", "flag", ["dilution_required"]),  # judged exactly as without runs
        ("D-3", "pass", []),
    ]
    assert rt.runs.verdicts_for_sample("D-2") == []


def test_a_run_notice_that_could_not_be_queued_is_queued_on_redelivery(
    make_runtime: Callable[..., Runtime],
) -> None:
    from uvqc.adapters.sqlite.db import transaction
    from uvqc.pipeline.check import Incoming, check_batch
    from uvqc.testing import MemoryNotifyQueue, MemoryStore, MemoryWindows

    rt = runtime(make_runtime)
    assert rt.runs is not None
    notify = MemoryNotifyQueue()
    notify.fail_for = {f"run:{BATCH}"}  # the notify queue refuses the run's notices
    now = datetime.now(UTC)
    incoming = [Incoming(f"m-{i}", body, now) for i, body in enumerate(lines())]
    with transaction(rt.db.work_conn):
        first = check_batch(
            incoming,
            methods=rt.methods,
            store=MemoryStore(),
            notify=notify,
            runs=rt.runs,
            windows=MemoryWindows(),
        )
    assert len(first.failed) == 64  # every message of the run goes back to its queue
    assert not [r for r in notify.requests if r.run]
    notify.fail_for = set()
    with transaction(rt.db.work_conn):  # the redelivery
        again = check_batch(
            incoming[:1],
            methods=rt.methods,
            store=MemoryStore(),
            notify=notify,
            runs=rt.runs,
            windows=MemoryWindows(),
        )
    assert again.failed == []
    codes = sorted(r.run["code"] for r in notify.requests if r.run)
    assert codes == ["above_calibration", "check_standard_failed", "digest"]
    with transaction(rt.db.work_conn):  # and never again once queued
        check_batch(
            incoming[:1],
            methods=rt.methods,
            store=MemoryStore(),
            notify=notify,
            runs=rt.runs,
            windows=MemoryWindows(),
        )
    assert len([r for r in notify.requests if r.run]) == 3


def test_the_run_summary_counts_what_run_qc_flagged(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """A fresh user's find: `uvqc run` said "flagged 0" for a run whose QC flagged 12."""
    from uvqc.cli import main

    monkeypatch.setenv("UVQC_METHOD", str(METHOD))
    db, outbox = tmp_path / "u.db", tmp_path / "out"
    assert main(["run", str(RUN_FILE), "--db", str(db), "--outbox", str(outbox)]) == 0
    out = capsys.readouterr().out
    assert "flagged in runs, after run QC (1 run(s))" in out
    line = next(x for x in out.splitlines() if "flagged in runs" in x)
    assert line.rstrip(" │┃").split()[-1] == "12"


def test_runs_list_and_show_spell_out_bidi_and_control_characters_of_ids(
    make_runtime: Callable[..., Runtime], db_path: Path, capsys: Any, tmp_path: Path
) -> None:
    """A right-to-left override in a batch or sample ID would reverse the rest of a terminal
    line: spelled out (\\u202e), as trace and the e-mails do."""
    from uvqc.cli import main

    batch = "NO3-\u202eA-B"
    rt = runtime(make_runtime)
    hostile = []
    for line in lines():
        message = json.loads(line)
        message["batchId"] = batch
        if message["sampleId"] == "W-1128-12":
            message["sampleId"] = "W-\u202e21-8211"
        hostile.append(json.dumps(message).encode())
    rt.db.intake_port.submit(hostile)
    Worker(rt).run_until_idle()
    assert main(["runs", "list", "--db", str(db_path)]) == 0
    listed = capsys.readouterr().out
    assert "NO3-\\u202eA-B  final" in listed and "\u202e" not in listed
    assert main(["runs", "show", "NO3-\\u202eA-B", "--db", str(db_path)]) == 0  # as listed
    assert capsys.readouterr().out.startswith("Run NO3-\\u202eA-B: FINAL")
    assert main(["runs", "show", batch, "--db", str(db_path)]) == 0
    shown = capsys.readouterr().out
    assert "W-\\u202e21-8211" in shown and "\u202e" not in shown and "\t" not in shown
    outbox = sorted(tmp_path.glob("**/*.eml"))
    assert outbox  # the failed CCV names the hostile sample; the digest lists it
    for path in outbox:
        raw = path.read_bytes()
        mail = message_from_bytes(raw, policy=default)
        for part in mail.walk():
            if part.get_content_type() == "text/plain":
                assert "\u202e" not in part.get_content(), path.name
        assert "\u202e" not in str(mail["Subject"])
