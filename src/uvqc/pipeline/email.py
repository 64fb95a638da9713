"""Compose the notification e-mail for a request. Pure: same request -> same e-mail.

The Message-ID is derived from the notification key, so a resend after a crash between the
relay's acceptance and the ledger write is recognisable as the same message. Header values
built from data never carry CR/LF (identifiers are validated, and escaped here again).
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime

from uvqc.core.verdicts import Verdict
from uvqc.pipeline.records import NotificationRequest, iso, safe_excerpt

ACTIONS = {
    "dilution_required": "Dilute the sample (for example 1:2 or 1:5), re-measure, and report "
    "the result multiplied by the dilution factor.",
    "outside_calibration_range": "If below the range, report as below the reporting level "
    "(or estimated between the detection and reporting levels); if above, dilute and "
    "re-measure or extend the calibration.",
    "negative_absorbance": "Check the blank and the reference cuvette, re-zero, and re-measure.",
    "over_range": "The reading is beyond the photometric range: dilute and re-measure.",
    "spectrum_axis": "Check the instrument's scan settings and the export; re-export the scan.",
    "spectrum_saturation": "Dilute the sample or use a shorter path length, and re-scan.",
    "invalid_message": "The instrument or its interface sent a message uvqc cannot read: check "
    "the export settings and the interface, then re-send the result.",
}
DEFAULT_ACTION = "Review the result before reporting it."


def header_safe(value: str, limit: int = 128) -> str:
    """A header value with every control character escaped: no CR/LF can reach a header."""
    return safe_excerpt(value, limit)


def message_id(key: str, mail_from: str) -> str:
    domain = mail_from.rpartition("@")[2].strip("<> ") or "uvqc.invalid"
    return f"<uvqc.{key}@{header_safe(domain, 200)}>"


def _body(request: NotificationRequest) -> str:
    who = request.sample_id if request.sample_id is not None else "(no readable sample ID)"
    lines = [
        f"uvqc found a data quality issue for sample {who}.",
        "",
        f"Verdict:      {request.verdict.value}",
        f"Method:       {request.method or '-'}",
        f"Received at:  {iso(request.received_at)}",
        f"Record ID:    {request.record_id}",
        "",
        "Findings:",
    ]
    for f in request.findings:
        lines.append(f"  - [{f.severity.value}] {f.code}: {f.message}")
        if f.value is not None or f.limit is not None:
            lines.append(f"      value: {f.value}   limit: {f.limit}")
    lines += ["", "What to do:"]
    for code in dict.fromkeys(f.code for f in request.findings):
        lines.append(f"  - {ACTIONS.get(code, DEFAULT_ACTION)}")
    if request.verdict is Verdict.REJECT and request.excerpt:
        lines += ["", "Payload excerpt (escaped):", f"  {request.excerpt}"]
    lines += [
        "",
        f"Full story: uvqc trace {who if request.sample_id else request.record_id}",
        f"Notification key: {request.key}",
    ]
    return "\n".join(lines) + "\n"


def compose(
    request: NotificationRequest,
    *,
    mail_from: str,
    mail_to: Sequence[str],
    subject_prefix: str = "",
) -> EmailMessage:
    """The e-mail for a request; Subject and X-UVQC-Sample-Id name the sample."""
    who = header_safe(request.sample_id) if request.sample_id is not None else "unknown sample"
    what = "Rejected result" if request.verdict is Verdict.REJECT else "Data Quality Issue"
    msg = EmailMessage()
    msg["Subject"] = f"{subject_prefix}{what} for {who}"
    msg["From"] = mail_from
    msg["To"] = ", ".join(mail_to)
    msg["Message-ID"] = message_id(request.key, mail_from)
    msg["Date"] = format_datetime(request.received_at)
    msg["X-UVQC-Sample-Id"] = who
    msg["X-UVQC-Record-Id"] = header_safe(request.record_id)
    msg["X-UVQC-Notification-Key"] = request.key
    msg["X-UVQC-Verdict"] = request.verdict.value
    if request.correlation_id:
        msg["X-UVQC-Correlation-Id"] = header_safe(request.correlation_id)
    msg.set_content(_body(request))
    return msg
