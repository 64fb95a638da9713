"""`uvqc check`, `uvqc schema`, `uvqc methods ...`: the pure core from the command line."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer

from uvqc.adapters.files import iter_items
from uvqc.cli.app import app, methods_app
from uvqc.core.display import display_safe
from uvqc.core.engine import judge
from uvqc.core.methods import MethodBook, load_method, parameter_constraints, rule_parameters
from uvqc.core.models import result_schema
from uvqc.core.parse import reject
from uvqc.core.rules import REGISTRY, spec_of
from uvqc.core.verdicts import Judgement, Verdict
from uvqc.settings import load_settings


class Format(StrEnum):
    text = "text"
    json = "json"


MethodOption = Annotated[
    Path | None,
    typer.Option("--method", "-m", help="QC method file (TOML/YAML); env UVQC_METHOD."),
]


def method_book(method: Path | None) -> MethodBook:
    """Built-in methods plus the configured method file (flag > UVQC_METHOD > uvqc.toml)."""
    settings = load_settings(method=method, only={"method"}, flag_names={"method": "--method"})
    return MethodBook.from_paths([settings.method] if settings.method else [])


_MARK = {
    Verdict.PASS: ("PASS", "green"),
    Verdict.FLAG: ("FLAG", "yellow"),
    Verdict.REJECT: ("REJECT", "red"),
}


def _text_line(out: TextIO, source: str, j: Judgement, color: bool) -> None:
    label, fg = _MARK[j.verdict]
    head = typer.style(f"{label:<6}", fg=fg, bold=True) if color else f"{label:<6}"
    who = display_safe(j.sample_id) if j.sample_id is not None else "-"
    out.write(f"{head} {who}  ({display_safe(source)})\n")
    for f in j.findings:
        out.write(f"         {f.severity.value}: {f.code}: {display_safe(f.message)}\n")


# Valid in JSON text, but they reorder or hide what a terminal shows: written as \uXXXX.
_JSON_UNSAFE = re.compile(
    "[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]"
)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _json_line(j: Judgement, source: str, dumps: Callable[[object], str]) -> str:
    """One result as a JSON line: Judgement.to_dict() plus its source. A result without
    findings (most of them) is written directly, the same bytes at a fraction of the cost."""
    if not j.findings and j.indices is None:
        line = (
            f'{{"sampleId":{dumps(j.sample_id)},"verdict":"{j.verdict.value}",'
            f'"method":{dumps(j.method)},"findings":[],"source":{dumps(source)}}}\n'
        )
    else:
        data = j.to_dict()
        data["source"] = source
        line = dumps(data) + "\n"
    return _JSON_UNSAFE.sub(_json_escape, line) if _JSON_UNSAFE.search(line) else line


@app.command()
def check(
    paths: Annotated[
        list[str] | None, typer.Argument(help="Result files or directories; - for stdin.")
    ] = None,
    method: MethodOption = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
) -> None:
    """Validate and judge results. Exit 0 if all pass, 1 if any is flagged or rejected."""
    book = method_book(method)
    out = sys.stdout
    color = fmt is Format.text and out.isatty()
    counts: Counter[Verdict] = Counter()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for item in iter_items(paths or ["-"]):
        source = item.source
        if item.error is None:
            j, _ = judge(item.raw, book)
        else:  # a broken document or an unreadable file: one reject naming the position
            r = reject(item.raw, None, item.error)
            j = Judgement(r.sample_id, Verdict.REJECT, (r.finding,), None)
        counts[j.verdict] += 1
        if fmt is Format.json:
            out.write(_json_line(j, source, dumps))
        else:
            _text_line(out, source, j, color)
    if fmt is Format.text:
        total = sum(counts.values())
        out.write(
            f"\n{total} result(s): {counts[Verdict.PASS]} passed, {counts[Verdict.FLAG]} "
            f"flagged, {counts[Verdict.REJECT]} rejected\n"
        )
    out.flush()
    if counts[Verdict.FLAG] or counts[Verdict.REJECT]:
        raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the JSON Schema of an intake result message."""
    typer.echo(json.dumps(result_schema(), indent=2))


@methods_app.command("validate")
def methods_validate(
    files: Annotated[list[Path], typer.Argument(help="Method files (.toml, .yaml).")],
) -> None:
    """Load each method file; exit 2 with the reason if any is invalid."""
    for file in files:
        m = load_method(file)
        run = (
            ""
            if m.run is None
            else f"; run QC for {m.run.analyte}, {m.run.calibration.model} calibration"
        )
        typer.echo(
            f"{file}: method {m.name!r} is valid ({len(m.rules)} rule(s): "
            f"{', '.join(r.name for r in m.rules)}{run})"
        )


@methods_app.command("list")
def methods_list(method: MethodOption = None) -> None:
    """List the available methods and the rules they may use."""
    book = method_book(method)
    typer.echo("Methods:")
    for name, m in book.items():
        mark = " (default)" if m is book.default else ""
        typer.echo(f"  {name}{mark}: {m.description or m.source}")
        for call in m.rules:
            params = ", ".join(f"{k}={v!r}" for k, v in call.params.items())
            kinds = ", ".join(sorted(call.applies_to))
            typer.echo(f"      {call.name}({params})  applies to: {kinds}")
    typer.echo("\nRules:")
    for rname, func in sorted(REGISTRY.items()):
        params = ", ".join(f"{p.name}={p.default!r}" for p in rule_parameters(rname).values())
        doc = " ".join((func.__doc__ or "").split())
        limits = "; ".join(f"{k}: {v}" for k, v in parameter_constraints(rname).items())
        kinds = ", ".join(sorted(spec_of(rname).applies_to))
        typer.echo(f"  {rname}({params})\n      {doc}\n      applies to: {kinds}")
        if limits:
            typer.echo(f"      constraints: {limits}")
