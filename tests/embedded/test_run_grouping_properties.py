"""Property: with any grouping policy, whatever the arrival order, repeats and tick times,
every run decision reaches staff exactly once - in its own e-mail, one group e-mail, or the
run digest - and grouping changes when and how decisions are e-mailed, never which."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.runs.builder import T0, result
from tests.runs.grouped_run import BATCH, METHOD, grouped_run, method_data
from uvqc.adapters.sqlite.db import connect
from uvqc.adapters.sqlite.runs import SqliteRunStore
from uvqc.core.methods import MethodBook, method_from_mapping
from uvqc.pipeline.records import NotificationRequest
from uvqc.runs.grouping import DECISION_CODES
from uvqc.runs.notices import RunArrival

Step = tuple[str, float, list[int]]  # ("arrive" | "tick", seconds later, positions)


@dataclass
class Outbox:
    """What reached the notify queue, in order (publishing always succeeds here)."""

    sent: list[NotificationRequest] = field(default_factory=list)
    at: dict[str, float] = field(default_factory=dict)  # key -> seconds after T0

    def take(self, runs: SqliteRunStore, requests: list[NotificationRequest], t: float) -> None:
        for r in requests:
            assert r.key not in self.at, "a confirmed notice was handed out again"
            self.at[r.key] = t
        self.sent += requests
        runs.confirm(requests)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], list[Step], bool]:
    notify: dict[str, Any] = {
        "group_seconds": draw(st.sampled_from([0, 30, 300])),
        "immediate": sorted(draw(st.sets(st.sampled_from(sorted(DECISION_CODES))))),
        "digest": draw(st.booleans()),
    }
    sized = draw(st.booleans())  # batchSize given: final when complete, else when quiet
    positions = list(range(1, 38))
    drop = draw(st.sets(st.sampled_from(positions), max_size=3))
    pool = [p for p in positions if p not in drop]
    order = [*draw(st.permutations(pool)), *draw(st.lists(st.sampled_from(pool), max_size=8))]
    steps: list[Step] = []
    while order:
        size = draw(st.integers(1, 12))
        steps.append(("arrive", draw(st.floats(0, 400)), order[:size]))
        order = order[size:]
        if draw(st.booleans()):
            steps.append(("tick", draw(st.floats(0, 400)), []))
    return notify, steps, sized


def play(path: Path, notify: dict[str, Any], steps: list[Step], sized: bool) -> Any:
    by_seq = {m["sequence"]: m for m in grouped_run(37 if sized else None)}
    book = MethodBook([method_from_mapping(method_data(**notify))])
    runs = SqliteRunStore(connect(path), book, quiet_seconds=900)
    out = Outbox()
    t = 0.0
    for kind, wait, seqs in [*steps, ("tick", 1000.0, []), ("tick", 1000.0, [])]:
        t += wait
        now = T0 + timedelta(seconds=t)
        if kind == "arrive":
            batch = [RunArrival(BATCH, METHOD, result(by_seq[s], record_id=f"r{s}")) for s in seqs]
            out.take(runs, runs.track(batch, now=now), t)
        else:
            out.take(runs, runs.finalise_quiet(now=now), t)
            out.take(runs, runs.flush_groups(now=now), t)
    rows = runs.conn.execute(
        "SELECT key, code, covered_by, held_until FROM run_notices "
        "WHERE code NOT IN ('group', 'digest') ORDER BY rowid"
    ).fetchall()
    status, finalised = runs.conn.execute("SELECT status, finalised_at FROM runs").fetchone()
    final_at = datetime.fromisoformat(finalised.replace("Z", "+00:00")) - T0
    return out, rows, (status, final_at.total_seconds())


@settings(max_examples=80, deadline=None)
@given(scenarios())
def test_every_decision_reaches_staff_exactly_once(
    scenario: tuple[dict[str, Any], list[Step], bool],
) -> None:
    notify, steps, sized = scenario
    with tempfile.TemporaryDirectory() as tmp:
        out, rows, (status, final_at) = play(Path(tmp) / "grouped.db", notify, steps, sized)
        baseline, ungrouped, _ = play(
            Path(tmp) / "plain.db", {**notify, "group_seconds": 0}, steps, sized
        )
    assert status == "final"
    sent = {r.key: r for r in out.sent}
    groups = [r for r in out.sent if (r.run or {}).get("kind") == "group"]
    digests = {r.key for r in out.sent if (r.run or {}).get("kind") == "digest"}
    assert digests or not notify["digest"] or not rows
    for key, code, covered_by, held_until in rows:
        own = key in sent
        in_groups = [g.key for g in groups if key in (g.run or {})["members"]]
        folded = covered_by in digests
        assert own + len(in_groups) + folded == 1, (code, own, in_groups, covered_by)
        if in_groups:
            assert covered_by == in_groups[0]
        if own:
            assert covered_by is None and held_until is None
        if code in notify["immediate"] or notify["group_seconds"] == 0:
            assert own  # decisions that should stop the run are never held
    for g in groups:  # a group never goes before its interval, unless the run became final
        due = [h for k, _c, _b, h in rows if k in (g.run or {})["members"]]
        assert due and not any(k in sent for k in (g.run or {})["members"])
        sent_at = out.at[g.key]
        assert sent_at >= min(due) - T0.timestamp() - 1e-6 or abs(sent_at - final_at) < 1e-3
    # grouping changes when and how decisions are e-mailed, never which decisions
    assert [r[0] for r in rows] == [r[0] for r in ungrouped]
    assert digests == {r.key for r in baseline.sent if (r.run or {}).get("kind") == "digest"}
