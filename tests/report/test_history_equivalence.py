"""A report's control charts come from the chart points the run store kept, not from deciding
every run again: for any history of runs judged by the real SQLite run store, the report of
each run (charts and `control_chart` findings) equals what the store judged and what deciding
every run again gives; so does `uvqc charts`. Runs stored before chart points were kept
(documents without `meta.chartPoints`) are decided again and give the same."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.runs.builder import T0, absorbance, config, passing_run, replace_at, result
from uvqc.adapters.sqlite.db import connect
from uvqc.adapters.sqlite.report_source import SqliteReportSource
from uvqc.adapters.sqlite.runs import SqliteRunStore
from uvqc.core.methods import Method, MethodBook
from uvqc.report.assemble import chart_history, decide_all, report_for, report_of
from uvqc.report.history import all_charts
from uvqc.runs.notices import RunArrival

METHOD = "charted"
PREFIXES = ["N-", "<script>", "\u202eRLO-", "$x^2$-", "Zürich "]
INSTRUMENTS = ["cary60-01", "<b>uv-2</b>", None]
CHECKS = (6, 16, 26, 36)  # positions of the ICV and the CCVs in passing_run
BLANKS = (7, 17, 27, 37)  # ICB and the CCBs


@dataclass(frozen=True)
class Run:
    recoveries: tuple[float, ...]  # check-standard recovery % at CHECKS
    blanks: tuple[float, ...]  # blank concentrations (mg/L) at BLANKS
    instrument: str | None
    legacy: bool  # its document is stripped back to one written before chartPoints
    redelivered: bool  # its results arrive twice


runs_st = st.builds(
    Run,
    st.tuples(*[st.floats(88.0, 112.0)] * 4),
    st.tuples(*[st.floats(0.0, 0.06)] * 4),
    st.sampled_from(INSTRUMENTS),
    st.booleans(),
    st.booleans(),
)
charts_st = st.sampled_from(
    [
        {"establish_points": 5},
        {"establish_points": 8, "rules": ["1-3s", "2-2s", "R-4s"]},
        {"limits": {"check_standard_recovery": {"mean": 100.0, "sd": 3.0}}},
    ]
)


def messages(index: int, run: Run, prefix: str) -> list[dict[str, Any]]:
    out = passing_run(batch_size=37)
    for seq, rec in zip(CHECKS, run.recoveries, strict=True):
        out = replace_at(out, seq, absorbance=absorbance(2.0 * rec / 100))
    for seq, conc in zip(BLANKS, run.blanks, strict=True):
        out = replace_at(out, seq, absorbance=absorbance(conc))
    for m in out:
        m["batchId"] = f"{prefix}{index:02d}"
        m["measuredAt"] = (T0 + timedelta(days=index, minutes=2 * m["sequence"])).isoformat()
    return out


def store_history(path: Path, runs: list[Run], open_runs: int, prefix: str, charts: Any) -> None:
    """Each run through the real run store, finalised in the order the runs began (the last
    `open_runs` left open); the instrument comes from the recorded messages, as in the
    worker. Then the legacy runs' documents lose their chart points."""
    conn = connect(path, create=True)
    method = Method(METHOD, (), run=config(control_charts=charts))
    store = SqliteRunStore(conn, MethodBook([method]), quiet_seconds=60)
    for i, run in enumerate(runs):
        now = T0 + timedelta(days=i)
        arrivals = []
        for m in messages(i, run, prefix):
            record_id = f"{m['batchId']}/{m['sequence']}"
            raw = {**m, **({} if run.instrument is None else {"instrumentId": run.instrument})}
            conn.execute(
                "INSERT INTO results (record_id, sample_id, verdict, findings, raw, received_at,"
                " checked_at) VALUES (?, ?, 'pass', '[]', ?, ?, ?)",
                (record_id, m["sampleId"], json.dumps(raw), now.isoformat(), now.isoformat()),
            )
            arrivals.append(RunArrival(m["batchId"], METHOD, result(m, record_id=record_id)))
        store.track(arrivals, now=now)
        if run.redelivered:
            store.track(arrivals[::-1], now=now + timedelta(seconds=1))
        if i < len(runs) - open_runs:
            store.finalise_quiet(now=now + timedelta(hours=1))
    conn.executemany(
        "UPDATE runs SET decision = json_remove(decision, '$.meta.chartPoints', "
        "'$.meta.instrument') WHERE batch_id = ?",
        [(f"{prefix}{i:02d}",) for i, r in enumerate(runs) if r.legacy],
    )
    conn.close()


def chart_findings_of(findings: Any) -> list[tuple[str, str, str, tuple[str, ...]]]:
    return [
        (f.code, f.severity, f.message, tuple(f.affected))
        for f in findings
        if f.code == "control_chart"
    ]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    runs=st.lists(runs_st, min_size=2, max_size=8),
    open_runs=st.integers(0, 2),
    prefix=st.sampled_from(PREFIXES),
    charts=charts_st,
)
def test_reports_charts_and_findings_equal_the_store_and_a_full_redecision(
    runs: list[Run], open_runs: int, prefix: str, charts: Any
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "uvqc.db"
        store_history(path, runs, open_runs, prefix, charts)
        conn = connect(path, create=False)
        try:
            source = SqliteReportSource(conn)
            methods = MethodBook([Method(METHOD, ())])  # the [run] section: from the documents
            every = decide_all(source, methods)
            stored = {
                b: json.loads(d)
                for b, d in conn.execute("SELECT batch_id, decision FROM runs").fetchall()
            }
            for reference in every:
                batch = reference.run.batch_id
                report = report_for(source, methods, batch)
                assert report is not None
                assert report == report_of(source, reference, every)
                if reference.run.status == "final":
                    judged = [
                        (f["code"], f["severity"], f["message"], tuple(f["affected"]))
                        for f in stored[batch]["findings"]
                        if f["code"] == "control_chart"
                    ]
                    assert chart_findings_of(report.findings) == judged
            configs = {METHOD: every[0].config}
            listed = all_charts(chart_history(source, methods, source.runs()), configs)
            assert listed == all_charts([r for r in every if r.run.status == "final"], configs)
        finally:
            conn.close()


def test_a_run_stored_with_chart_points_is_not_decided_again(tmp_path: Path) -> None:
    """The history is read: a stored run's results are never asked for (only the target's)."""
    path = tmp_path / "uvqc.db"
    runs = [Run((100.0, 101.0, 99.0, 100.5), (0.01,) * 4, "cary60-01", False, False)] * 6
    store_history(path, runs, 0, "N-", {"establish_points": 5})
    conn = connect(path, create=False)
    asked: list[str] = []

    class Counting(SqliteReportSource):
        def results(self, batch_id: str) -> list[Any]:
            asked.append(batch_id)
            return super().results(batch_id)

    report = report_for(Counting(conn), MethodBook(), "N-05")
    conn.close()
    assert report is not None and report.instrument == "cary60-01"
    assert asked == ["N-05"]
    (chart, *_) = report.charts
    assert len(chart.points) == 24 and chart.highlight_batch == "N-05"
