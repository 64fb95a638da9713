"""From results to run decisions to e-mails: what the run stores of each result
(`arrival_for`), which decisions to announce (`to_announce`), and the notification request
of one decision (`notice_request`). Pure: the run stores call these inside their writes.

One e-mail per run decision, never one per sample. A decision is named by its anchor (its
QC sample, gap or block); its notification key is derived from (batchId, code, anchor,
affected set), so a re-evaluation that reaches the same decision is not e-mailed again, and
the ledger drops a repeated key anyway. While a run is open a decision is announced once,
as soon as every position up to the one that makes it certain is present; when the run is
final, a decision whose affected set changed since it was announced is announced again.
A decision that stops being a finding is never announced if it was still held, and said in
the final run digest ("Withdrawn since announced") if it was (uvqc.runs.withdrawal).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from uvqc.core.verdicts import Finding, Severity, Verdict
from uvqc.pipeline.records import DIGEST_KIND, NotificationRequest, ResultRecord
from uvqc.runs.evaluate import RunDecision, RunFinding, RunResult
from uvqc.runs.grouping import GROUP, group_key
from uvqc.runs.reanalysis import reanalysis as reanalysis_of

if TYPE_CHECKING:
    from uvqc.core.methods import MethodBook
    from uvqc.core.models import ResultMessage

RUN_RECORD_PREFIX = "run:"

ACTIONS = {
    "calibration_failed": "Recalibrate (fresh standards if needed), then re-measure the listed "
    "samples: they have no reportable concentration.",
    "check_standard_failed": "Re-run the check standard once; if it fails again, recalibrate "
    "and re-measure every listed sample (SM 2020 B; EPA 353.2 / 365.1 section 9). A check "
    "standard without a nominal (true value) is a configuration problem, not a failed "
    "recovery: do not recalibrate; give its naming rule a `nominal` (uvqc ingest, "
    "docs/INGEST.md) or send `nominal` in the message, then send the check standard again.",
    "blank_contamination": "Find the source of contamination (reagents, cuvettes, water), "
    "then re-measure the listed samples; results at or above 10x the blank stand.",
    "qc_frequency": "Add the missing check standards, duplicates or spikes and re-measure the "
    "samples they should have covered.",
    "run_incomplete": "Send the missing positions (or re-measure them); the run stays "
    "incomplete until they arrive.",
    "above_calibration": "Dilute the sample into the calibrated range, re-measure, and send it "
    "with its dilutionFactor.",
    "control_chart": "Look at the control chart (`uvqc report`): a rejection rule means the "
    "method is out of control; find the cause (standards, reagents, lamp, cuvettes) before "
    "releasing the run's results (Westgard et al. 1981, Clin. Chem. 27:493).",
    "duplicate_rpd": "Check the sample's homogeneity and the cuvette; re-measure both.",
    "spike_recovery": "Matrix interference: report the unspiked sample's result qualified, or "
    "re-measure it diluted or by standard addition.",
}


@dataclass(frozen=True, slots=True)
class RunArrival:
    """A recorded result that belongs to a run judged with a `[run]` method."""

    batch_id: str
    method: str
    result: RunResult
    instrument: str | None = None  # the message's instrumentId (charts are kept per instrument)


def arrival_for(
    message: ResultMessage | None, record: ResultRecord, methods: MethodBook
) -> RunArrival | None:
    """The run result of a recorded message with a `batchId` (None without one). Results of a
    method without a `[run]` section are listed under their run, not judged by run QC."""
    method = record.method
    if message is None or message.batch_id is None or method is None or method not in methods:
        return None  # (a method not loaded: the result was rejected for it)
    result = RunResult(
        record_id=record.record_id,
        sample_id=message.sample_id,
        sample_type=message.sample_type.value,
        absorbance=message.absorbance,
        received_at=record.received_at,
        sequence=message.sequence,
        batch_size=message.batch_size,
        nominal=message.nominal,
        dilution_factor=message.dilution_factor or 1.0,
        duplicate_of=message.duplicate_of,
        spike_of=message.spike_of,
        spike_added=message.spike_added,
        measured_at=message.measured_at,
        verdict=record.verdict.value,
        findings=tuple(f.code for f in record.findings),
    )
    return RunArrival(message.batch_id, method, result, message.instrument_id)


def notice_key(batch_id: str, finding: RunFinding) -> str:
    """The notification key of a run decision: (batchId, code, anchor, affected set)."""
    identity = ["run", batch_id, finding.code, finding.anchor, sorted(finding.affected)]
    canonical = json.dumps(identity, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]


def to_announce(
    decision: RunDecision, announced: Mapping[str, tuple[str, ...]]
) -> list[RunFinding]:
    """Ready decisions not announced yet; when final, also those whose affected set changed.
    `announced` maps an anchor to the affected set last announced for it."""
    chosen: list[RunFinding] = []
    for finding in decision.ready():
        before = announced.get(finding.anchor)
        if before is None or (decision.status == "final" and before != finding.affected):
            chosen.append(finding)
    return chosen


def _section(
    code: str, message: str, affected: Sequence[str], positions: Sequence[int]
) -> list[str]:
    """A decision's message, affected samples and what to do (its e-mail, or its part of a
    group e-mail)."""
    lines = [message, ""]
    if affected:
        lines.append(f"Affected samples ({len(affected)}):")
        pairs = sorted(zip(positions, affected, strict=False))
        lines += [f"  position {pos:>4}  {sample}" for pos, sample in pairs]
        lines.append("")
    lines += [
        "What to do:",
        f"  - {ACTIONS.get(code, 'Review the run before reporting it.')}",
        "",
    ]
    return lines


def _body(decision: RunDecision, finding: RunFinding, method: str | None) -> str:
    size = decision.batch_size if decision.batch_size is not None else "unknown"
    lines = [
        f"uvqc run QC for run {decision.batch_id}: {finding.code} ({finding.severity}).",
        "",
        *_section(finding.code, finding.message, finding.affected, finding.positions),
        f"Method:       {method or '-'}",
        f"Run status:   {decision.status} (positions 1-{decision.prefix} present; "
        f"batch size {size})",
        "",
        f"Full run: uvqc runs show {decision.batch_id}",
    ]
    return "\n".join(lines) + "\n"


def notice_request(
    decision: RunDecision, finding: RunFinding, *, method: str | None, decided_at: datetime
) -> NotificationRequest:
    """The notify-queue message of one run decision (an e-mail listing the affected samples)."""
    key = notice_key(decision.batch_id, finding)
    verdict_finding = Finding(finding.code, Severity(finding.severity), finding.message)
    return NotificationRequest(
        key=key,
        sample_id=None,
        record_id=RUN_RECORD_PREFIX + decision.batch_id,
        verdict=Verdict.FLAG,
        findings=(verdict_finding,),
        method=method,
        received_at=decided_at,
        run={
            "batchId": decision.batch_id,
            "code": finding.code,
            "anchor": finding.anchor,
            "affected": list(finding.affected),
            "positions": list(finding.positions),
            "subject": f"Run {decision.batch_id}: {finding.code}",
            "body": _body(decision, finding, method),
        },
    )


def requests_for(
    decision: RunDecision,
    announced: Mapping[str, tuple[str, ...]],
    *,
    method: str | None,
    decided_at: datetime,
) -> list[NotificationRequest]:
    return [
        notice_request(decision, f, method=method, decided_at=decided_at)
        for f in to_announce(decision, announced)
    ]


def group_request(
    batch_id: str,
    members: Sequence[NotificationRequest],
    *,
    method: str | None,
    decided_at: datetime,
    interval_seconds: float,
) -> NotificationRequest:
    """ONE e-mail listing a run's held decisions (uvqc.runs.grouping), in the order they
    were decided. Its key is derived from the members' keys (`grouping.group_key`); its
    `run["members"]` lists them, so the store knows which decisions it covers."""
    if not members:
        raise ValueError(f"run {batch_id}: a group e-mail needs at least one decision")
    runs = [m.run or {} for m in members]
    codes = list(dict.fromkeys(str(r.get("code", "")) for r in runs))
    lines = [
        f"uvqc run QC for run {batch_id}: {len(members)} decision(s) "
        f"(grouped over {interval_seconds:g} s).",
        "",
    ]
    for n, (member, run) in enumerate(zip(members, runs, strict=True), start=1):
        finding = member.findings[0] if member.findings else None
        severity = finding.severity.value if finding else "flag"
        code = str(run.get("code", ""))
        lines += [f"{n}. {code} ({severity})", ""]
        lines += _section(
            code,
            finding.message if finding else "",
            [str(a) for a in run.get("affected", [])],
            [int(p) for p in run.get("positions", [])],
        )
    lines += [f"Method:       {method or '-'}", "", f"Full run: uvqc runs show {batch_id}"]
    return NotificationRequest(
        key=group_key(batch_id, [m.key for m in members]),
        sample_id=None,
        record_id=RUN_RECORD_PREFIX + batch_id,
        verdict=Verdict.FLAG,
        findings=tuple(f for m in members for f in m.findings),
        method=method,
        received_at=decided_at,
        run={
            "batchId": batch_id,
            "kind": GROUP,
            "code": GROUP,
            "anchor": GROUP,
            "affected": list(dict.fromkeys(str(a) for r in runs for a in r.get("affected", []))),
            "positions": [],
            "members": [m.key for m in members],
            "subject": f"Run {batch_id}: {len(members)} decisions ({', '.join(codes)})"
            if len(members) > 1
            else f"Run {batch_id}: {codes[0]}",
            "body": "\n".join(lines) + "\n",
        },
    )


DIGEST = DIGEST_KIND  # the kind, code and anchor of a run digest notice


def digest_key(decision: RunDecision, withdrawn: Sequence[str] = ()) -> str:
    """A run digest's notification key: (batchId, "digest", the decision's content, and the
    decisions withdrawn since announced when there are any), so a final run re-decided
    unchanged is not sent again, and a changed decision is."""
    identity: list[Any] = ["run", decision.batch_id, DIGEST, decision.to_dict()]
    if withdrawn:
        identity.append(list(withdrawn))
    canonical = json.dumps(identity, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]


def withdrawn_lines(withdrawn: Sequence[str]) -> list[str]:
    """The digest's part on decisions e-mailed earlier and withdrawn since (empty if none):
    staff learn of a withdrawal here, not in an e-mail of its own."""
    if not withdrawn:
        return []
    return ["", "Withdrawn since announced:", *(f"  - {w}" for w in withdrawn)]


def digest_text(decision: RunDecision, method: str | None, withdrawn: Sequence[str] = ()) -> str:
    """The plain text of a run digest (complete on its own; the digest e-mail composed by
    uvqc.digest adds the HTML part, figures and the report). `withdrawn`: the decisions
    e-mailed earlier that are no longer findings (uvqc.runs.withdrawal)."""
    counts: dict[str, int] = {}
    for r in decision.results:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    reanalysis = reanalysis_of((*decision.findings, *decision.notices))
    lines = [
        f"uvqc run digest for run {decision.batch_id}: {decision.verdict.upper()} "
        f"({decision.status}).",
        "",
        f"Method:   {method or '-'}",
        f"Results:  {len(decision.results)} "
        f"({', '.join(f'{n} {v}' for v, n in sorted(counts.items())) or 'none'})",
    ]
    if decision.findings or decision.notices:
        lines += ["", "Decisions:"]
        lines += [
            f"  - [{f.severity}] {f.code}: {f.message}"
            for f in (*decision.findings, *decision.notices)
        ]
    lines += withdrawn_lines(withdrawn)
    if reanalysis:
        lines += ["", "Re-measure:", *(f"  - {s}" for s in reanalysis)]
    lines += ["", f"Full report: uvqc report {decision.batch_id}"]
    return "\n".join(lines) + "\n"


def digest_request(
    decision: RunDecision,
    *,
    method: str | None,
    decided_at: datetime,
    withdrawn: Sequence[str] = (),
    update: bool = False,
) -> NotificationRequest:
    """The digest notice of a final run (its e-mail: uvqc.digest.compose). `withdrawn`:
    decisions e-mailed earlier and no longer findings (`run["withdrawn"]`, said in the
    text); `update`: an earlier digest of the run was queued, so this one says it is an
    update (`run["update"]`: Subject "... (update)", header `X-UVQC-Digest-Update`)."""
    findings = tuple(
        Finding(f.code, Severity(f.severity), f.message)
        for f in (*decision.findings, *decision.notices)
    )
    subject = f"Run {decision.batch_id}: {decision.verdict} (digest)"
    return NotificationRequest(
        key=digest_key(decision, withdrawn),
        sample_id=None,
        record_id=RUN_RECORD_PREFIX + decision.batch_id,
        verdict=Verdict.FLAG if decision.verdict == "flag" else Verdict.PASS,
        findings=findings,
        method=method,
        received_at=decided_at,
        run={
            "batchId": decision.batch_id,
            "kind": DIGEST,
            "code": DIGEST,
            "anchor": DIGEST,
            "affected": [],
            "positions": [],
            "subject": subject + (" (update)" if update else ""),
            "body": digest_text(decision, method, withdrawn),
            "withdrawn": list(withdrawn),
            "update": update,
        },
    )


def result_verdicts(decision: RunDecision) -> dict[str, tuple[str, tuple[str, ...]]]:
    """record id -> (run verdict, finding codes) for every sequenced position."""
    return {
        r.record_id: (r.verdict, r.findings) for r in decision.results if r.sequence is not None
    }


__all__: Sequence[str] = [
    "DIGEST",
    "RunArrival",
    "arrival_for",
    "digest_key",
    "digest_request",
    "group_request",
    "notice_key",
    "notice_request",
    "requests_for",
    "result_verdicts",
    "to_announce",
    "withdrawn_lines",
]
