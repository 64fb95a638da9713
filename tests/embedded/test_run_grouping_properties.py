"""Property: with any grouping policy, whatever the arrival order, repeats, re-measurements
and tick times, every CURRENT run decision reaches staff exactly once - in its own e-mail,
one group e-mail, or the run digest -, a decision withdrawn (or superseded) while held is
never sent, none is sent twice, and grouping changes when and how the current decisions are
e-mailed, never which (uvqc.runs.withdrawal)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.runs.builder import T0, result
from tests.runs.grouped_run import BATCH, METHOD, grouped_run, method_data, passing, remeasured
from uvqc.adapters.sqlite.db import connect
from uvqc.adapters.sqlite.runs import SqliteRunStore, stored_current
from uvqc.core.methods import MethodBook, method_from_mapping
from uvqc.pipeline.records import NotificationRequest
from uvqc.runs.grouping import DECISION_CODES
from uvqc.runs.notices import RunArrival

Step = tuple[str, float, list[int]]  # ("arrive" | "tick", seconds later, positions)
# The failing QC positions of grouped_run (DUP0, SPK1, CCV1, the sample above the range, CCB2)
# and a re-measurement of each that passes: position p re-measured is "position" p + AGAIN.
FAILING = (14, 25, 26, 30, 37)
AGAIN = 100


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
    again = [p + AGAIN for p in draw(st.sets(st.sampled_from(FAILING)))]
    for p in again:  # a re-measurement arrives any time after... or even before the first
        order.insert(draw(st.integers(0, len(order))), p)
    steps: list[Step] = []
    while order:
        size = draw(st.integers(1, 12))
        steps.append(("arrive", draw(st.floats(0, 400)), order[:size]))
        order = order[size:]
        if draw(st.booleans()):
            steps.append(("tick", draw(st.floats(0, 400)), []))
    return notify, steps, sized


def play(path: Path, notify: dict[str, Any], steps: list[Step], sized: bool) -> Any:
    size = 37 if sized else None
    by_seq = {m["sequence"]: m for m in grouped_run(size)}
    by_seq.update({p + AGAIN: remeasured(passing(p, size)) for p in FAILING})
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
    current = set((stored_current(runs.conn, BATCH) or {}).values())
    return out, rows, (status, final_at.total_seconds()), current


@settings(max_examples=80, deadline=None)
@given(scenarios())
def test_every_decision_reaches_staff_exactly_once(
    scenario: tuple[dict[str, Any], list[Step], bool],
) -> None:
    notify, steps, sized = scenario
    with tempfile.TemporaryDirectory() as tmp:
        out, rows, (status, final_at), current = play(
            Path(tmp) / "grouped.db", notify, steps, sized
        )
        baseline, ungrouped, _, ungrouped_current = play(
            Path(tmp) / "plain.db", {**notify, "group_seconds": 0}, steps, sized
        )
    assert status == "final"
    sent = {r.key: r for r in out.sent}
    groups = [r for r in out.sent if (r.run or {}).get("kind") == "group"]
    digests = {r.key for r in out.sent if (r.run or {}).get("kind") == "digest"}
    assert digests or not notify["digest"] or not rows
    assert current <= {r[0] for r in rows}  # every current decision is kept (and sent)
    held_withdrawn = [r for r in rows if r[3] is not None and r[2] is None]
    event(f"withdrawn while held: {bool(held_withdrawn)}")
    event(f"withdrawn after sent: {any(r[0] not in current for r in rows if r[0] in sent)}")
    for key, code, covered_by, held_until in rows:
        own = key in sent
        in_groups = [g.key for g in groups if key in (g.run or {})["members"]]
        folded = covered_by in digests
        reached = own + len(in_groups) + folded
        if key in current:
            assert reached == 1, (code, own, in_groups, covered_by)
        else:
            assert reached <= 1, (code, own, in_groups, covered_by)
        if held_until is not None and covered_by is None:
            assert reached == 0  # withdrawn while held: never sent
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
    # grouping changes when and how the current decisions are e-mailed, never which
    assert current == ungrouped_current
    assert current <= {r[0] for r in ungrouped}
    if {r[0] for r in rows} <= current and {r[0] for r in ungrouped} <= current:
        assert [r[0] for r in rows] == [r[0] for r in ungrouped]  # nothing withdrawn
        assert digests == {r.key for r in baseline.sent if (r.run or {}).get("kind") == "digest"}
