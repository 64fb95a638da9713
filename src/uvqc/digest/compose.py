"""Compose a run digest: multipart/alternative (text, HTML) inside multipart/related (inline
PNG figures referenced by Content-ID), inside multipart/mixed when the HTML report is
attached. The text part alone says everything: verdict, counts, decisions, reanalysis list.

Built with the stdlib's EmailMessage (policy SMTP: CRLF line ends, RFC 2047 headers): a
digest is one e-mail per run, so its cost does not matter the way a per-result e-mail's does.

Size limits (the whole message as sent): SES SendRawEmail takes at most 10 MB; SMTP relays
commonly refuse above 10-25 MB; SNS carries only text (256 KB), so the SNS channel sends the
text part. The report is attached only while the message stays under `max_bytes`
(default 8 MB); otherwise the text says where to get it (`uvqc report BATCH_ID`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from html import escape

from uvqc.core.display import display_lines, display_safe
from uvqc.pipeline.email import header_safe
from uvqc.report.figures import RunFigures, calibration_figure, control_chart_figure
from uvqc.report.model import RunReport
from uvqc.runs.notices import withdrawn_lines

MAX_BYTES = 8 * 1024 * 1024  # below SES's 10 MB raw-message limit, with room for base64


@dataclass(frozen=True, slots=True)
class Digest:
    """A composed digest: the bytes to send and what identifies it."""

    message_id: str
    mail_from: str
    subject: str
    text: str
    data: bytes
    report_attached: bool
    headers: tuple[tuple[str, str], ...] = ()  # the top-level headers, as given

    def as_bytes(self, *, smtputf8: bool = False) -> bytes:
        """The message as sent (already 7-bit: RFC 2047 headers, base64/QP parts)."""
        return self.data

    @property
    def body(self) -> str:
        """The complete plain text (what a text-only channel such as SNS carries)."""
        return self.text

    @property
    def needs_smtputf8(self) -> bool:
        return False  # addresses are checked where the channel is configured

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), default)


def digest_text(run: RunReport, *, trace_hint: str = "", withdrawn: Sequence[str] = ()) -> str:
    """The complete plain-text digest of a run; `withdrawn`: decisions e-mailed earlier that
    are no longer findings (uvqc.runs.withdrawal), said under "Withdrawn since announced"."""
    counts = ", ".join(f"{n} {v}" for v, n in sorted(run.counts().items())) or "no results"
    lines = [
        f"Run {run.batch_id}: {run.verdict.upper()} ({run.status})",
        "",
        f"Method:      {run.method or '-'}",
        f"Analyte:     {run.analyte or '-'} ({run.units})",
        f"Instrument:  {run.instrument or '-'}",
        f"Results:     {len(run.results)} ({counts})",
    ]
    for i, cal in enumerate(run.calibrations, 1):
        r = "-" if cal.r is None else f"{cal.r:.5f}"
        state = "accepted" if cal.passed else "FAILED"
        span = "" if cal.range is None else f", range {cal.range[0]:g}-{cal.range[1]:g} {cal.units}"
        lines.append(f"Calibration {i}: {cal.model}, r = {r}{span}: {state}")
    if run.findings:
        lines += ["", "Decisions:"]
        for f in run.findings:
            lines.append(f"  - [{f.severity}] {f.code}: {f.message}")
            if f.affected:
                lines.append(f"      affected: {', '.join(f.affected)}")
    lines += withdrawn_lines(withdrawn)
    if run.reanalysis:
        lines += ["", "Re-measure:"] + [f"  - {s}" for s in run.reanalysis]
    for chart in run.charts:
        for v in chart.violations:
            where = ", ".join(
                f"{chart.points[i].batch_id}#{chart.points[i].sequence or '-'}" for i in v.points
            )
            lines.append(f"Control chart {chart.name}: Westgard {v.rule} ({where})")
    if trace_hint:
        lines += ["", trace_hint]
    return "\n".join(lines) + "\n"


def _html(run: RunReport, text: str, images: Sequence[tuple[str, str]]) -> str:
    figures = "".join(
        f'<p><img src="cid:{cid.strip("<>")}" alt="{escape(alt)}" style="max-width:100%"></p>'
        for cid, alt in images
    )
    return (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<h2>Run {escape(display_safe(run.batch_id))}: {escape(run.verdict)}</h2>"
        f'<pre style="font:13px monospace;white-space:pre-wrap">{escape(text)}</pre>'
        f"{figures}</body></html>"
    )


def compose_digest(
    run: RunReport,
    *,
    key: str,
    mail_from: str,
    mail_to: Sequence[str],
    date: datetime,
    report_html: str | None = None,
    trace_hint: str = "",
    max_bytes: int = MAX_BYTES,
    message_id: str | None = None,
    figures: RunFigures | None = None,
    update: bool = False,
    withdrawn: Sequence[str] = (),
) -> Digest:
    """The digest e-mail of one run; `key` makes the Message-ID (a resend is recognisable)
    unless the caller gives it (the notify stage: the one its ledger records). Inline PNG:
    each calibration curve and each control chart with a Westgard violation of this run.
    `figures`: the run's PNG figures already drawn (run_figures(run, "png"), shared with
    the attached report), else those shown are drawn here. `update`: an earlier digest of
    the run was sent (Subject "... (update)", header `X-UVQC-Digest-Update: true`, as the
    daily digest); `withdrawn`: lines on decisions withdrawn since announced."""
    if figures is not None and figures.fmt != "png":
        raise ValueError(f"a digest's inline figures are PNG, got {figures.fmt}")
    domain = mail_from.rpartition("@")[2].strip("<> ") or "uvqc.invalid"
    message_id = message_id or f"<uvqc.digest.{key}@{domain}>"
    # IDs from instruments: controls and bidi overrides spelled out in headers and text
    subject = header_safe(
        f"Run {run.batch_id}: {run.verdict}" + (" (update)" if update else ""), 400
    )
    text = display_lines(digest_text(run, trace_hint=trace_hint, withdrawn=withdrawn))
    images: list[tuple[str, str, bytes]] = []
    for i, cal in enumerate(run.calibrations):
        png = calibration_figure(cal, "png") if figures is None else figures.calibrations[i]
        images.append((make_msgid("cal", domain), f"calibration {i + 1}", png))
    for i, chart in enumerate(run.charts):
        if chart.violations:
            png = control_chart_figure(chart, "png") if figures is None else figures.charts[i]
            images.append((make_msgid("chart", domain), chart.name, png))

    def build(attach: bool) -> bytes:
        msg = EmailMessage(policy=SMTP)
        msg["Subject"] = subject
        msg["From"] = mail_from
        msg["To"] = ", ".join(mail_to)
        msg["Message-ID"] = message_id
        msg["Date"] = format_datetime(date)
        msg["X-UVQC-Batch-Id"] = header_safe(run.batch_id, 200)
        msg["X-UVQC-Notification-Key"] = key
        msg["X-UVQC-Verdict"] = run.verdict
        if update:
            msg["X-UVQC-Digest-Update"] = "true"
        msg.set_content(text)
        msg.add_alternative(
            _html(run, text, [(cid, alt) for cid, alt, _ in images]), subtype="html"
        )
        html_part = msg.get_body(preferencelist=("html",))
        assert html_part is not None  # added just above
        for cid, alt, png in images:
            html_part.add_related(
                png, "image", "png", cid=cid, filename=f"{alt}.png", disposition="inline"
            )
        if attach and report_html is not None:
            msg.add_attachment(
                report_html.encode("utf-8"),
                maintype="text",
                subtype="html",
                filename=f"uvqc-run-{_safe(run.batch_id)}.html",
            )
        return msg.as_bytes()

    data = build(True)
    attached = report_html is not None
    if len(data) > max_bytes and attached:
        data, attached = build(False), False
    headers = (
        ("Subject", subject),
        ("From", mail_from),
        ("To", ", ".join(mail_to)),
        ("Message-ID", message_id),
        ("X-UVQC-Batch-Id", header_safe(run.batch_id, 200)),
        ("X-UVQC-Notification-Key", key),
        ("X-UVQC-Verdict", run.verdict),
        *((("X-UVQC-Digest-Update", "true"),) if update else ()),
    )
    return Digest(message_id, mail_from, subject, text, data, attached, headers)


def _safe(name: str) -> str:
    """A file name part: ASCII letters, digits, '-' and '_' (anything else, '.' included,
    becomes '_'), at most 80 characters."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in name)[:80]
