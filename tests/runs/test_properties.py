"""Property: a run's decisions depend on the SET of its results, never on arrival order or
on how often a result arrived (SQS standard queues reorder and redeliver)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.runs.builder import BATCH, T0, absorbance, config, passing_run, result
from uvqc.runs.evaluate import RunResult, evaluate_run

BASE = passing_run(40)


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[RunResult], list[RunResult]]:
    """A perturbed run (some readings off, some positions missing, some re-measured), and
    the same results shuffled with duplicates."""
    messages = [dict(m) for m in BASE]
    for m in messages:
        if draw(st.integers(0, 9)) == 0:
            m["absorbance"] = absorbance(draw(st.floats(-0.1, 6.0)))
    drop = draw(st.sets(st.sampled_from([m["sequence"] for m in messages]), max_size=4))
    kept = [m for m in messages if m["sequence"] not in drop]
    pool = [result(m, record_id=f"r{m['sequence']}") for m in kept]
    for i, m in enumerate(draw(st.lists(st.sampled_from(kept), max_size=4))):
        redo = {**m, "absorbance": absorbance(draw(st.floats(0.0, 5.0)))}
        if draw(st.booleans()):
            redo["measuredAt"] = (T0 + timedelta(hours=5, minutes=i)).isoformat()
        pool.append(result(redo, record_id=f"redo{i}", received=T0 + timedelta(hours=2 + i)))
    shuffled = draw(st.permutations(pool))
    extra = draw(st.lists(st.sampled_from(pool), max_size=10))
    return pool, [*shuffled, *extra]


@settings(max_examples=60, deadline=None)
@given(arrivals(), st.booleans())
def test_shuffling_and_duplicating_arrivals_never_changes_a_decision(
    case: tuple[list[RunResult], list[RunResult]], final: bool
) -> None:
    pool, arrived = case
    one = evaluate_run(pool, config(), batch_id=BATCH, final=final)
    other = evaluate_run(arrived, config(), batch_id=BATCH, final=final)
    assert one.to_dict() == other.to_dict()
    assert one.notices == other.notices
    assert one.findings == other.findings
    assert one.ready() == other.ready()
