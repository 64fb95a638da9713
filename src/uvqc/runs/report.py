"""A run decision as a document (what `uvqc runs show` prints and the run stores keep) and
as text. Both runtimes store the same document, so the CLI renders them the same way.

The document is the issue's JSON shape (camelCase, numbers unrounded) plus a `meta` object
that `runs show --format json` leaves out (method, units, levels, blocks, batch size).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from uvqc.runs.config import RunConfig
from uvqc.runs.evaluate import RunDecision, num


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


SHAPE_KEYS = ("batchId", "status", "verdict", "calibration", "calibrations", "results", "findings")


def decision_document(
    decision: RunDecision, method: str, config: RunConfig | None = None
) -> dict[str, Any]:
    doc = decision.to_dict()
    doc["meta"] = {
        "method": method,
        "units": decision.units,
        "batchSize": decision.batch_size,
        "prefix": decision.prefix,
        "missing": list(decision.missing),
        "reportingLevel": None if config is None else config.reporting_level,
        "detectionLevel": None if config is None else config.detection_level,
        "blocks": [
            {"first": c.first, "last": c.last, "passed": c.passed, "reasons": list(c.reasons)}
            for c in decision.calibrations
        ],
        "verdicts": {
            r.record_id: [r.verdict, list(r.findings)]
            for r in decision.results
            if r.sequence is not None
        },
        # the [run] section the run was decided with (`uvqc report` decides it again)
        "runConfig": None if config is None else config.model_dump(mode="json"),
        "dilutionFactors": {
            str(r.sequence): r.dilution_factor
            for r in decision.results
            if r.sequence is not None and r.dilution_factor != 1.0
        },
    }
    return doc


def empty_document(batch_id: str, method: str, status: str) -> dict[str, Any]:
    return {
        "batchId": batch_id,
        "status": status,
        "verdict": "pass",
        "calibration": None,
        "results": [],
        "findings": [],
        "meta": {"method": method},
    }


def public(document: dict[str, Any]) -> dict[str, Any]:
    """The issue's JSON shape only (no `meta`)."""
    return {k: document[k] for k in SHAPE_KEYS if k in document}


def _value(x: float | None) -> str:
    return "-" if x is None else num(x, 5)


def reported_concentration(
    concentration: float | None,
    qualifier: str | None,
    reporting_level: float | None,
    dilution_factor: float = 1.0,
) -> str:
    """A result's concentration as reported: below the detection level "< RL" (the reporting
    level x the dilution factor, not the measured value), between the detection and
    reporting levels "E value (RL x)" (USGS NWQL "estimated"), else the value; "-" without
    one. Source: ../shared/DOMAIN.md ("report as < reporting level"; SM 4020 B)."""
    if concentration is None:
        return "-"
    rl = None if reporting_level is None else reporting_level * dilution_factor
    if qualifier == "<" and rl is not None:
        return f"< {num(rl)}"
    if qualifier == "E":
        return f"E {num(concentration, 4)}" + (f" (RL {num(rl)})" if rl is not None else "")
    return num(concentration, 4)


def _concentration(result: dict[str, Any], meta: dict[str, Any]) -> str:
    factor = meta.get("dilutionFactors", {}).get(str(result.get("sequence")), 1.0)
    return reported_concentration(
        result.get("concentration"), result.get("qualifier"), meta.get("reportingLevel"), factor
    )


def document_text(doc: dict[str, Any]) -> str:
    """`uvqc runs show` as text."""
    meta = doc.get("meta", {})
    units = meta.get("units", "mg/L")
    results = doc.get("results", [])
    present = sum(1 for r in results if r.get("sequence") is not None)
    size = meta.get("batchSize")
    lines = [
        f"Run {doc['batchId']}: {doc['status'].upper()}, verdict {doc['verdict'].upper()} "
        f"(method {meta.get('method', '-')}; {present} position(s)"
        + (f" of {size})" if size else ")"),
        "",
    ]
    calibrations = doc.get("calibrations") or (
        [doc["calibration"]] if doc.get("calibration") else []
    )
    blocks = meta.get("blocks", [])
    for i, cal in enumerate(calibrations):
        block = blocks[i] if i < len(blocks) else {}
        where = f"positions {block.get('first')}-{block.get('last')}" if block else ""
        state = "passed" if block.get("passed", True) else "FAILED"
        curve = (
            f"A = {_value(cal['intercept'])} + {_value(cal['slope'])} x"
            if cal.get("slope") is not None
            else "no fit"
        )
        if cal.get("coefficients"):
            c0, c1, c2 = cal["coefficients"]
            curve = f"A = {_value(c0)} + {_value(c1)} x + {_value(c2)} x^2"
        lines.append(
            f"Calibration {where} ({cal['model']}, {state}): {curve}, r = {_value(cal['r'])}"
        )
        for reason in block.get("reasons", []):
            lines.append(f"  ! {reason}")
        for s in cal["standards"]:
            lines.append(
                f"  {s['sampleId']:<24} nominal {_value(s['nominal']):>8}"
                f"  A {_value(s['absorbance']):>8}"
                f"  back-calc {_value(s['backCalculated']):>8}  error "
                + ("-" if s["errorPct"] is None else f"{num(s['errorPct'], 3)} %")
            )
        lines.append("")
    findings = doc.get("findings", [])
    lines.append(f"Run findings ({len(findings)}):" if findings else "Run findings: none")
    for f in findings:
        lines.append(f"  - {f['severity']}: {f['code']}: {f['message']}")
    lines += _emails_text(meta.get("emails", []))
    conc_header = f"conc {units}"
    lines += [
        "",
        f"{'pos':>4}  {'sampleId':<24} {'type':<20} {'A':>8}  {conc_header:>18}  verdict  findings",
    ]
    for r in results:
        seq = "-" if r.get("sequence") is None else str(r["sequence"])
        lines.append(
            f"{seq:>4}  {r['sampleId']:<24} {r['sampleType']:<20} {num(r['absorbance'], 4):>8}  "
            f"{_concentration(r, meta):>18}  {r['verdict']:<7}  {', '.join(r['findings']) or '-'}"
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One line of `uvqc runs list`."""

    batch_id: str
    method: str
    status: str
    verdict: str
    positions: int  # results with a sequence (one per position)
    batch_size: int | None
    flagged: int
    findings: int
    last_at: datetime
    results: int = 0  # every result listed, with or without a sequence

    def to_dict(self) -> dict[str, Any]:
        return {
            "batchId": self.batch_id,
            "method": self.method,
            "status": self.status,
            "verdict": self.verdict,
            "positions": self.positions,
            "results": self.results,
            "batchSize": self.batch_size,
            "flagged": self.flagged,
            "findings": self.findings,
            "lastArrival": _iso(self.last_at),
        }


def summary_from_decision(
    batch_id: str, method: str, decision: dict[str, Any] | None, last_at: datetime, status: str
) -> RunSummary:
    doc = decision or {}
    results = doc.get("results", [])
    return RunSummary(
        batch_id=batch_id,
        method=method,
        status=doc.get("status", status),
        verdict=doc.get("verdict", "pass"),
        positions=sum(1 for r in results if r.get("sequence") is not None),
        results=len(results),
        batch_size=doc.get("meta", {}).get("batchSize"),
        flagged=sum(1 for r in results if r.get("verdict") != "pass"),
        findings=len(doc.get("findings", [])),
        last_at=last_at,
    )


@dataclass(frozen=True, slots=True)
class VerdictChange:
    """A result's verdict as run QC changed it (its record keeps the check-time verdict)."""

    record_id: str
    batch_id: str
    at: datetime
    verdict: str
    findings: tuple[str, ...]


def _emails_text(emails: list[dict[str, Any]]) -> list[str]:
    """Which e-mail announced each decision (uvqc.runs.grouping.coverage)."""
    if not emails:
        return []
    lines = ["", "E-mails (each decision is announced once):"]
    for e in emails:
        what = f"{e['code']} ({len(e['affected'])} sample(s))"
        if e["email"] == "held":
            at = datetime.fromtimestamp(e["heldUntil"], UTC)
            lines.append(f"  - {what}: held for the group e-mail due {_iso(at)}")
        else:
            lines.append(f"  - {what}: {email_phrase(e)}")
    return lines


def email_phrase(e: Mapping[str, Any]) -> str:
    """How a decision was e-mailed and whether it still stands, for `runs show` and `trace`
    (an entry of uvqc.runs.grouping.coverage): "its own e-mail, key K", "in the group
    e-mail, key K", "not sent: withdrawn while held", each sent one that is no longer
    current followed by "; withdrawn (no longer a finding)" or "; superseded by decision
    <its decision key's prefix>" (the replacement's own line says which e-mail carried it)."""
    replaced = e.get("supersededBy")
    if e["email"] == "withdrawn":  # held, then no longer current: never sent
        why = f"superseded by decision {str(replaced)[:12]}" if replaced else "withdrawn"
        return f"not sent: {why} while held"
    if e["email"] == "decision":
        phrase = f"its own e-mail, key {e['emailKey']}"
    elif e["email"] == "held":
        phrase = "held for the run's next group e-mail"
    else:
        phrase = f"in the {e['email']} e-mail, key {e['emailKey']}"
    if replaced:
        return f"{phrase}; superseded by decision {str(replaced)[:12]}"
    if e.get("state") == "withdrawn":
        return f"{phrase}; withdrawn (no longer a finding)"
    return phrase
