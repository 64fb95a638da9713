"""`uvqc report` (one self-contained HTML run report, or every run of a period) and
`uvqc charts` (each control chart and its state), from the embedded database, read-only.

The reported runs are decided again from their stored results with the `[run]` section they
were decided with (run QC is deterministic, so the decision is the one the store holds); the
control charts' history is the chart points the run store kept in each final run's decision
document (runs stored without them are decided again). The method file, for runs stored
without their `[run]` section, comes from --method / UVQC_METHOD / uvqc.toml like `uvqc
check`. The rendering (Jinja2, matplotlib) is imported only when a report is written.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from uvqc.adapters.sqlite.report_source import SqliteReportSource
from uvqc.charts.config import SERIES
from uvqc.charts.westgard import evaluate
from uvqc.cli.app import app
from uvqc.cli.check import MethodOption, method_book
from uvqc.cli.pipeline import AwsOption, DbOption, _aws_ops
from uvqc.errors import UsageError, UvqcError
from uvqc.local.runtime import Database
from uvqc.report.assemble import ReportSource, chart_history, reports_for
from uvqc.report.history import (
    StoredRun,
    all_charts,
)
from uvqc.settings import load_settings

DateOption = Annotated[
    str | None,
    typer.Option(metavar="DATE", help="YYYY-MM-DD or an ISO 8601 date-time (UTC if no zone)."),
]


def _moment(text: str, option: str, *, end: bool = False) -> datetime:
    """A DATE option: a day (its start; with `end`, the start of the next day) or a time."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not a date: use YYYY-MM-DD or an ISO 8601 date-time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _first_at(run: StoredRun) -> datetime:
    if not run.first_at:
        return datetime.min.replace(tzinfo=UTC)
    moment = datetime.fromisoformat(run.first_at.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@contextmanager
def _source(db: Path | None, aws: bool) -> Iterator[ReportSource]:
    settings = load_settings(db=db)
    if aws:
        from uvqc.adapters.dynamodb_report import DynamoReportSource

        ops = _aws_ops("--aws")
        yield DynamoReportSource(ops.run_reader(settings), ops.record_reader(settings))
        return
    with Database.from_settings(settings, access="read") as database:
        yield SqliteReportSource(database.conn)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "run"


def _write(path: Path, text: str) -> None:
    """Write whole or not at all (a temporary file in the same directory, then a rename). A
    pipe or a device (`--out /dev/stdout`) is written to as it is: never renamed over."""
    if path.exists() and not path.is_file():
        if path.is_dir():
            raise UsageError(f"--out {path} is a directory: name the HTML file to write")
        with path.open("w", encoding="utf-8") as stream:
            stream.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        Path(tmp).chmod(0o666 & ~umask)  # as open() would create it (mkstemp makes 0600)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command("report")
def report(
    batch_id: Annotated[
        str | None, typer.Argument(help="The run's batchId (or use --since).", show_default=False)
    ] = None,
    since: DateOption = None,
    until: DateOption = None,
    db: DbOption = None,
    aws: AwsOption = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HTML file to write (default: report-<run>.html)."),
    ] = None,
    method: MethodOption = None,
) -> None:
    """Write one self-contained HTML report (a run, or every run begun in a period) and
    print its path: calibration, QC table, results, reanalysis list, control charts."""
    if until is not None and since is None:
        raise UsageError("--until needs --since (a period: --since DATE [--until DATE])")
    if batch_id is not None and since is not None:
        raise UsageError("give a run's BATCH_ID or --since DATE (with --until DATE), not both")
    if batch_id is None and since is None:
        raise UsageError("give a run's BATCH_ID, or --since DATE (with --until DATE)")
    methods = method_book(method)
    with _source(db, aws) as source:
        stored = source.runs()
        if batch_id is not None:
            picked = [r for r in stored if r.batch_id == batch_id]
            if not picked:
                raise UvqcError(f"no run {batch_id!r}: `uvqc runs list` lists the runs")
            name = f"report-{_safe_name(batch_id)}.html"
        else:
            assert since is not None
            start = _moment(since, "--since")
            end = None if until is None else _moment(until, "--until", end=True)
            if end is not None and end <= start:
                raise UsageError(f"--until {until} is not after --since {since}: swap them")
            picked = [
                r for r in stored if _first_at(r) >= start and (end is None or _first_at(r) < end)
            ]
            if not picked:
                span = f"since {since}" + ("" if until is None else f" until {until}")
                raise UvqcError(f"no runs began {span}: `uvqc runs list` lists the runs")
            name = f"report-{_safe_name(since)}" + (
                "" if until is None else f"-{_safe_name(until)}"
            )
            name += ".html"
        wanted = {r.batch_id for r in picked}
        reports = reports_for(source, methods, wanted, stored=stored)
    from uvqc.report.render import render_html

    title = None if batch_id is not None else f"uvqc runs since {since}"
    html = render_html(reports, generated=datetime.now(UTC), title=title)
    path = out or Path(name)
    try:
        _write(path, html)
    except OSError as exc:
        raise UvqcError(f"cannot write the report to {path}: {exc.strerror or exc}") from exc
    typer.echo(str(path), err=not path.is_file())  # stdout may be the report itself


@app.command("charts")
def charts(
    db: DbOption = None,
    aws: AwsOption = False,
    only_method: Annotated[
        str | None, typer.Option("--method", "-m", help="Only the charts of this method (name).")
    ] = None,
    method: Annotated[
        Path | None,
        typer.Option(
            "--method-file",
            help="Method file for runs stored without their [run] section; env UVQC_METHOD.",
        ),
    ] = None,
    series: Annotated[
        str | None,
        typer.Option("--series", "-s", help=f"Only this series: {' | '.join(SERIES)}."),
    ] = None,
    since: DateOption = None,
) -> None:
    """Each control chart (method, analyte, instrument, series): points, limits and their
    source, state (establishing n/N | in control | warning | out of control), last violation."""
    if series is not None and series not in SERIES:
        raise UsageError(f"--series {series!r} is not a series; choose one of {list(SERIES)}")
    start = None if since is None else _moment(since, "--since")
    methods = method_book(method)
    with _source(db, aws) as source:
        source_runs = source.runs()
        stored = [r for r in source_runs if only_method is None or r.method == only_method]
        history = chart_history(source, methods, stored)  # final runs, as documented
    configs = {r.method: r.config(methods) for r in stored}
    lines: list[str] = []
    for (meth, analyte, instrument), state in all_charts(history, configs):
        if series is not None and state.series != series:
            continue
        points = state.points
        if start is not None:
            after = {r.run.batch_id for r in history if _first_at(r.run) >= start}
            if not any(p.batch_id in after for p in points):
                continue
        lines.append(_chart_line(meth, analyte, instrument, state, configs.get(meth)))
    if not lines:
        known = sorted({r.method for r in source_runs})
        if only_method is not None and only_method not in known:
            raise UvqcError(
                f"no runs of method {only_method!r}; methods with runs: "
                + (", ".join(known) or "none")
            )
        filters = [f"--{k} {v}" for k, v in (("series", series), ("since", since)) if v]
        typer.echo(
            "no control charts"
            + (f" for {' '.join(filters)}" if filters else "")
            + " (a chart needs a final run with check standards, blanks, duplicates or spikes)"
        )
        return
    for line in lines:
        typer.echo(line)


def _chart_line(method: str, analyte: str, instrument: str, state: Any, config: Any) -> str:
    from uvqc.report.history import chart_config

    cc = chart_config(config)
    where = f"{method}  {analyte or '-'}  {instrument or '-'}  {state.series}"
    n = len(state.points)
    if state.limits is None and state.no_spread:
        return (
            f"{where}  points {n}  limits -  no spread (the first {cc.establish_points} "
            "points are equal: give limits in the method file, [run.control_charts.limits])"
        )
    if state.limits is None:
        return f"{where}  points {n}  limits -  establishing {n}/{cc.establish_points}"
    lim = state.limits
    limits = f"mean {lim.mean:.4g} sd {lim.sd:.4g} ({lim.source})"
    every = evaluate(state.points, lim, rules=cc.rules)
    last = "-"
    if every:
        v = max(every, key=lambda x: (max(x.points), x.rule))
        p = state.points[max(v.points)]
        last = f"{v.rule} at {p.batch_id} #{p.sequence} {p.sample_id}"
    return f"{where}  points {n}  limits {limits}  {state.state}  last violation {last}"
