"""The daily digest of one lab day: pure, no I/O, no plotting (the stdlib and uvqc's pure
modules only, so the lean AWS functions carry it).

A lab day is a calendar date in the lab's IANA time zone (`zoneinfo`; default UTC): from
00:00 local time to the next day's 00:00, converted to UTC (a day is 23 or 25 hours long at
a daylight-saving change). It holds:

- the runs of the day: runs whose last result arrived that day, final ones with their
  verdict, result counts, reanalysis count and decisions (`control_chart` = Westgard);
- the runs still open (at the time of writing) whose last result arrived by the day's end;
- the flagged and rejected results outside runs received that day (a result is in a run
  when its message names a `batchId`, docs/RUNS.md), counted, with their sample IDs;
- the depth of the notify dead-letter queue when known (a reading at the time of writing,
  so it is not part of the content hash).

Identity (exactly-once through the notify ledger): the content hash is SHA-256 of the
canonical JSON of everything above except the DLQ depth; the notification key is
`sha256(["daily", lab, date, hash])[:40]`. The same content is never sent twice; a changed
day (late results, a run finalised since) gets a new key and is marked as an update.

Size: the request travels on SQS (256 KiB per message) and SNS carries the text alone (256 KB
per message). Every list is capped (`and N more`) and every text is cut; `daily_request`
shortens the lists (TIERS) until the request is under MAX_REQUEST_BYTES, whatever the day
holds.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from uvqc.core.display import display_lines, display_safe
from uvqc.core.verdicts import Verdict
from uvqc.errors import UsageError
from uvqc.pipeline.records import NotificationRequest, iso, message_context
from uvqc.runs.reanalysis import document_reanalysis

KIND = "daily"  # request.run["kind"] of a daily digest
RECORD_PREFIX = "daily:"  # its ledger record id: daily:<lab>:<date>
MAX_FINDINGS = 8  # decisions kept per run
MAX_SAMPLES = 100  # sample IDs kept per verdict outside runs
ID_CHARS = 80  # a sample ID or batch ID as shown
MESSAGE_CHARS = 240  # a decision's message as shown
# SQS takes 262,144 bytes per message (body + attributes); SNS 262,144 bytes. A request is
# rendered with the first of these (runs per section, decisions per run, sample IDs per
# verdict) that keeps it under MAX_REQUEST_BYTES; the last lists nothing, only counts.
MAX_REQUEST_BYTES = 200 * 1024
TIERS: tuple[tuple[int, int, int], ...] = ((40, 8, 100), (15, 4, 40), (5, 2, 10), (0, 0, 0))
Tier = tuple[int, int, int]


class DailyDigestError(UsageError):
    """When a lab day cannot be named: an unknown time zone or a malformed date."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (`Europe/Berlin`, `UTC`); DailyDigestError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DailyDigestError(
            f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)"
        ) from exc


def parse_day(text: str) -> date:
    """A `YYYY-MM-DD` date; DailyDigestError otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise DailyDigestError(f"invalid date {text!r}: write YYYY-MM-DD") from exc


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of the lab day in UTC: local midnight to the next local midnight.
    DailyDigestError for a day at the edge of the calendar (0001-01-01, 9999-12-31), whose
    bounds Python's datetime cannot hold."""
    where = zone(tz)
    try:
        start = datetime.combine(day, time(0), where)
        end = datetime.combine(day + timedelta(days=1), time(0), where)
        return start.astimezone(UTC), end.astimezone(UTC)
    except OverflowError as exc:
        raise DailyDigestError(f"date {day.isoformat()} is out of range") from exc


def lab_today(now: datetime, tz: str) -> date:
    """The lab day `now` falls in."""
    return now.astimezone(zone(tz)).date()


def check_day(day: date, now: datetime, tz: str) -> bool:
    """Whether a digest of `day` may be queued at `now`: DailyDigestError for a day after
    the lab's today (nothing has happened yet); True when `day` is today (allowed, but the
    day is not over: a later digest of it is sent as an update), else False."""
    today = lab_today(now, tz)
    if day > today:
        raise DailyDigestError(
            f"date {day.isoformat()} is in the future (today is {today.isoformat()} in {tz}): "
            "a digest reports a day that has begun"
        )
    day_bounds(day, tz)  # refuses a day whose bounds do not exist
    return day == today


def previous_day(now: datetime, tz: str) -> date:
    """The lab day before the one `now` falls in (what a morning digest reports)."""
    return now.astimezone(zone(tz)).date() - timedelta(days=1)


def _cut(text: str, limit: int) -> str:
    """One line of at most `limit` characters (+ "..."), every control, line-breaking and
    bidirectional character spelled out (uvqc.core.display: `W-1\\u202eG` stays one ID)."""
    shown = display_safe(text[: limit * 2])
    return shown[:limit] + ("..." if len(shown) > limit or len(text) > limit * 2 else "")


@dataclass(frozen=True, slots=True)
class Decision:
    """A run decision as the digest shows it."""

    severity: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class RunOfDay:
    """One run in the digest, read from its stored decision document."""

    batch_id: str
    method: str
    status: str  # "final" | "open"
    verdict: str  # "pass" | "flag"
    results: int
    counts: tuple[tuple[str, int], ...]  # (run verdict of a result, how many), sorted
    reanalysis: int  # the report's reanalysis list, counted (uvqc.runs.reanalysis)
    decisions: tuple[Decision, ...]  # at most MAX_FINDINGS, fail first
    more_decisions: int = 0
    westgard: tuple[str, ...] = ()  # the rules of its control_chart decisions


def run_of_day(document: Mapping[str, Any], method: str | None = None) -> RunOfDay:
    """A run's line from its decision document (uvqc.runs.report.decision_document, the
    same on both runtimes). The re-measure count is the length of the run's reanalysis list
    as the HTML report lists it (uvqc.runs.reanalysis.document_reanalysis)."""
    results = list(document.get("results") or [])
    counts: dict[str, int] = {}
    for r in results:
        verdict = str(r.get("verdict", "pass"))
        counts[verdict] = counts.get(verdict, 0) + 1
    findings = list(document.get("findings") or [])
    ordered = sorted(findings, key=lambda f: (f.get("severity") != "fail", str(f.get("code"))))
    decisions = tuple(
        Decision(
            str(f.get("severity", "")),
            str(f.get("code", "")),
            _cut(str(f.get("message", "")), MESSAGE_CHARS),
        )
        for f in ordered[:MAX_FINDINGS]
    )
    westgard = tuple(
        dict.fromkeys(
            _rule(str(f.get("message", ""))) for f in findings if f.get("code") == "control_chart"
        )
    )
    meta = document.get("meta") or {}
    return RunOfDay(
        batch_id=_cut(str(document.get("batchId", "")), ID_CHARS),
        method=_cut(str(method or meta.get("method") or "-"), ID_CHARS),
        status=str(document.get("status", "open")),
        verdict=str(document.get("verdict", "pass")),
        results=len(results),
        counts=tuple(sorted(counts.items())),
        reanalysis=len(document_reanalysis(document)),
        decisions=decisions,
        more_decisions=max(0, len(findings) - MAX_FINDINGS),
        westgard=tuple(w for w in westgard if w),
    )


_WESTGARD = re.compile(r"Westgard (1-2s|1-3s|2-2s|R-4s|4-1s|10x)\b")


def _rule(message: str) -> str:
    """The Westgard rule a control_chart decision names (uvqc.charts.findings: "... Westgard
    1-3s (...)"), else ''."""
    found = _WESTGARD.search(message)
    return found.group(1) if found else ""


@dataclass(frozen=True, slots=True)
class LooseResult:
    """A flagged or rejected result outside runs."""

    sample_id: str | None
    verdict: str  # "flag" | "reject"


def in_run(raw: str) -> bool:
    """Whether a recorded message belongs to a run: it names a `batchId`."""
    return "batchId" in message_context(raw)


@dataclass(frozen=True, slots=True)
class Outside:
    """Flagged and rejected results outside runs: counts, and (sample ID, results) of the
    first MAX_SAMPLES IDs of each verdict in ID order (a re-measured sample is one line)."""

    flagged: int = 0
    rejected: int = 0
    flagged_ids: tuple[tuple[str, int], ...] = ()
    rejected_ids: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, results: Iterable[LooseResult]) -> Outside:
        """Counted and capped; a result without a readable sample ID is listed as `(no ID)`."""
        counts = {"flag": 0, "reject": 0}
        ids: dict[str, dict[str | None, int]] = {"flag": {}, "reject": {}}
        for r in results:
            if r.verdict not in counts:
                continue
            counts[r.verdict] += 1
            ids[r.verdict][r.sample_id] = ids[r.verdict].get(r.sample_id, 0) + 1

        def listed(found: dict[str | None, int]) -> tuple[tuple[str, int], ...]:
            first = sorted(found.items(), key=lambda kv: (kv[0] is not None, kv[0] or ""))
            return tuple(
                ("(no ID)" if sid is None else _cut(sid, ID_CHARS), n)
                for sid, n in first[:MAX_SAMPLES]
            )

        return cls(counts["flag"], counts["reject"], listed(ids["flag"]), listed(ids["reject"]))


@dataclass(frozen=True, slots=True)
class DayFacts:
    """Everything one daily digest says."""

    lab: str
    day: date
    tz: str
    runs: tuple[RunOfDay, ...] = ()  # final runs of the day, in batch order
    open_runs: tuple[RunOfDay, ...] = ()
    outside: Outside = field(default_factory=Outside)
    dlq_depth: int | None = None  # not hashed: a reading at the time of writing

    @property
    def empty(self) -> bool:
        return not (self.runs or self.open_runs or self.outside.flagged or self.outside.rejected)

    @property
    def needs_attention(self) -> bool:
        """A run of the day or a still open run flagged, a result outside runs flagged or
        rejected, or e-mails not delivered (notify DLQ depth > 0)."""
        return bool(
            any(r.verdict != "pass" for r in (*self.runs, *self.open_runs))
            or self.outside.flagged
            or self.outside.rejected
            or self.dlq_depth
        )


def content_hash(facts: DayFacts) -> str:
    """SHA-256 (hex) of the day's content: canonical JSON of the facts without the DLQ depth."""
    data = asdict(facts)
    data.pop("dlq_depth")
    data["day"] = facts.day.isoformat()
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def daily_key(lab: str, day: date, digest: str) -> str:
    """The notification key of a daily digest: ("daily", lab, date, content hash)."""
    identity = json.dumps([KIND, lab, day.isoformat(), digest], separators=(",", ":"))
    return hashlib.sha256(identity.encode()).hexdigest()[:40]


def subject(facts: DayFacts, *, update: bool) -> str:
    """`Daily digest <lab> <date>: needs attention | nothing to report | all passed`, in that
    order of precedence: undelivered e-mails (DLQ > 0) or a flagged open run need attention
    even on a day with nothing else to report."""
    if facts.needs_attention:
        state = "needs attention"
    else:
        state = "nothing to report" if facts.empty else "all passed"
    head = f"Daily digest {_cut(facts.lab, 60)} {facts.day.isoformat()}: {state}"
    return head + (" (update)" if update else "")


def _runs_lines(title: str, runs: Sequence[RunOfDay], tier: Tier) -> list[str]:
    max_runs, max_decisions, _ = tier
    lines = ["", f"{title} ({len(runs)}):"]
    for r in runs[:max_runs]:
        counts = ", ".join(f"{n} {v}" for v, n in r.counts) or "no results"
        lines.append(
            f"  - {r.batch_id}  {r.verdict.upper()}  ({r.status}; method {r.method}; "
            f"{r.results} results: {counts}; re-measure {r.reanalysis})"
        )
        for d in r.decisions[:max_decisions]:
            lines.append(f"      [{d.severity}] {d.code}: {d.message}")
        more = r.more_decisions + max(0, len(r.decisions) - max_decisions)
        if more:
            lines.append(f"      and {more} more decision(s): uvqc runs show {r.batch_id}")
        if r.westgard:
            lines.append(f"      Westgard: {', '.join(r.westgard)}")
    if len(runs) > max_runs:
        lines.append(f"  and {len(runs) - max_runs} more run(s): uvqc runs list")
    return lines


def _times(n: int) -> str:
    return f" ({n} results)" if n > 1 else ""


def _ids_lines(label: str, count: int, ids: Sequence[tuple[str, int]], tier: Tier) -> list[str]:
    if not count:
        return []
    shown = ids[: tier[2]]
    lines = [f"  {label}: {count}"]
    lines += [f"    {s}{_times(n)}" for s, n in shown]
    left = count - sum(n for _, n in shown)
    if left:
        lines.append(f"    and {left} more (uvqc export --since DATE)")
    return lines


def digest_text(facts: DayFacts, *, update: bool = False, tier: Tier = TIERS[0]) -> str:
    """The complete plain text (what SNS carries, and the text part of the e-mail)."""
    start, end = day_bounds(facts.day, facts.tz)
    lines = [
        f"uvqc daily digest for {facts.lab}, {facts.day.isoformat()} ({facts.tz}; "
        f"{iso(start)} to {iso(end)})",
    ]
    if update:
        lines.append(
            "This is an UPDATE: the day changed since its digest was sent "
            "(late results, or runs finalised since)."
        )
    if facts.empty:
        lines += ["", NOTHING]
    if facts.runs:
        lines += _runs_lines("Runs of the day", facts.runs, tier)
    if facts.open_runs:
        lines += _runs_lines("Runs still open", facts.open_runs, tier)
    o = facts.outside
    if o.flagged or o.rejected:
        lines += ["", "Results outside runs:"]
        lines += _ids_lines("flagged", o.flagged, o.flagged_ids, tier)
        lines += _ids_lines("rejected", o.rejected, o.rejected_ids, tier)
    if facts.dlq_depth is not None:
        state = (
            "empty"
            if facts.dlq_depth == 0
            else f"{facts.dlq_depth} notification(s) NOT delivered: uvqc dlq list --queue notify"
        )
        lines += ["", f"Notify dead-letter queue (now): {state}"]
    lines += ["", "Each run: uvqc runs show BATCH_ID; each sample: uvqc trace SAMPLE_ID"]
    return display_lines("\n".join(lines)) + "\n"


NOTHING = "Nothing to report: no run ended and no result was flagged or rejected."


def _h(text: str) -> str:
    """Escaped for HTML, with bidirectional and control characters spelled out."""
    return escape(display_safe(text), quote=True)


def _runs_html(title: str, runs: Sequence[RunOfDay], tier: Tier) -> str:
    max_runs, max_decisions, _ = tier
    rows = []
    for r in runs[:max_runs]:
        counts = ", ".join(f"{n} {v}" for v, n in r.counts) or "no results"
        decisions = "".join(
            f"<li>[{_h(d.severity)}] {_h(d.code)}: {_h(d.message)}</li>"
            for d in r.decisions[:max_decisions]
        )
        more = r.more_decisions + max(0, len(r.decisions) - max_decisions)
        if more:
            decisions += f"<li>and {more} more</li>"
        westgard = f"<br>Westgard: {_h(', '.join(r.westgard))}" if r.westgard else ""
        colour = "#b00" if r.verdict != "pass" else "#060"
        rows.append(
            f"<tr><td>{_h(r.batch_id)}</td>"
            f'<td style="color:{colour};font-weight:bold">{_h(r.verdict.upper())}</td>'
            f"<td>{_h(r.status)}</td><td>{_h(r.method)}</td><td>{r.results} ({_h(counts)})</td>"
            f"<td>{r.reanalysis}</td><td><ul>{decisions}</ul>{westgard}</td></tr>"
        )
    more_runs = (
        f'<tr><td colspan="7">and {len(runs) - max_runs} more run(s)</td></tr>'
        if len(runs) > max_runs
        else ""
    )
    return (
        f"<h3>{_h(title)} ({len(runs)})</h3>"
        '<table border="1" cellpadding="4" style="border-collapse:collapse">'
        "<tr><th>run</th><th>verdict</th><th>status</th><th>method</th><th>results</th>"
        "<th>re-measure</th><th>decisions</th></tr>" + "".join(rows) + more_runs + "</table>"
    )


def _ids_html(label: str, count: int, ids: Sequence[tuple[str, int]], tier: Tier) -> str:
    if not count:
        return ""
    shown = ids[: tier[2]]
    items = "".join(f"<li><code>{_h(s)}</code>{_times(n)}</li>" for s, n in shown)
    left = count - sum(n for _, n in shown)
    more = f"<li>and {left} more</li>" if left else ""
    return f"<p>{_h(label)}: {count}</p><ul>{items}{more}</ul>"


def digest_html(facts: DayFacts, *, update: bool = False, tier: Tier = TIERS[0]) -> str:
    """The HTML alternative: the same facts as tables; every value escaped."""
    parts = [
        '<!doctype html><html><body style="font-family:sans-serif">',
        f"<h2>{_h(subject(facts, update=update))}</h2>",
        f"<p>Time zone {_h(facts.tz)}.</p>",
    ]
    if update:
        parts.append("<p><strong>Update:</strong> the day changed since its digest was sent.</p>")
    if facts.empty:
        parts.append(f"<p>{_h(NOTHING)}</p>")
    if facts.runs:
        parts.append(_runs_html("Runs of the day", facts.runs, tier))
    if facts.open_runs:
        parts.append(_runs_html("Runs still open", facts.open_runs, tier))
    o = facts.outside
    if o.flagged or o.rejected:
        parts.append("<h3>Results outside runs</h3>")
        parts.append(_ids_html("flagged", o.flagged, o.flagged_ids, tier))
        parts.append(_ids_html("rejected", o.rejected, o.rejected_ids, tier))
    if facts.dlq_depth:
        parts.append(
            f"<p><strong>{facts.dlq_depth} notification(s) in the notify dead-letter queue"
            "</strong> (<code>uvqc dlq list --queue notify</code>).</p>"
        )
    parts.append("</body></html>")
    return "".join(parts)


def daily_request(facts: DayFacts, *, update: bool, now: datetime) -> NotificationRequest:
    """The notify-queue message of a daily digest: subject, text and HTML prepared here, so
    the notify stage sends it as it is (uvqc.pipeline.email, multipart text + HTML). The
    lists are as long as fits under MAX_REQUEST_BYTES (TIERS); counts are always whole."""
    digest = content_hash(facts)
    key = daily_key(facts.lab, facts.day, digest)
    for tier in TIERS:
        request = NotificationRequest(
            key=key,
            sample_id=None,
            record_id=f"{RECORD_PREFIX}{_cut(facts.lab, 60)}:{facts.day.isoformat()}",
            verdict=Verdict.FLAG if facts.needs_attention else Verdict.PASS,
            findings=(),
            method=None,
            received_at=now,
            run={
                "kind": KIND,
                "code": KIND,
                "anchor": facts.day.isoformat(),
                "lab": facts.lab,
                "date": facts.day.isoformat(),
                "contentHash": digest,
                "update": update,
                "affected": [],
                "positions": [],
                "subject": subject(facts, update=update),
                "body": digest_text(facts, update=update, tier=tier),
                "html": digest_html(facts, update=update, tier=tier),
            },
        )
        if len(request.to_json().encode("utf-8", "surrogatepass")) <= MAX_REQUEST_BYTES:
            return request
    raise DailyDigestError(  # counts only: a few hundred bytes plus two 60-character names
        f"the daily digest of {facts.day} does not fit {MAX_REQUEST_BYTES} bytes"
    )


__all__ = [
    "KIND",
    "DailyDigestError",
    "DayFacts",
    "Decision",
    "LooseResult",
    "Outside",
    "RunOfDay",
    "check_day",
    "content_hash",
    "daily_key",
    "daily_request",
    "day_bounds",
    "digest_html",
    "digest_text",
    "in_run",
    "lab_today",
    "parse_day",
    "previous_day",
    "run_of_day",
    "zone",
]
