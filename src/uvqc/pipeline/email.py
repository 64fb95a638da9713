"""Compose the notification e-mail for a request. Pure: same request -> same bytes.

The Message-ID is derived from the notification key, so a resend after a crash between the
relay's acceptance and the ledger write is recognisable as the same message. Header values
built from data never carry CR/LF (identifiers are validated, and escaped here again).

`Email` renders RFC 5322 bytes directly: the stdlib's EmailMessage costs about 1 ms per
message (header registry, generator), which capped the notify stage at a few hundred e-mails
per second; this costs under 0.1 ms and produces what any MIME parser reads back.
"""

from __future__ import annotations

import quopri
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header
from email.utils import format_datetime

from uvqc.core.display import display_lines
from uvqc.core.verdicts import Verdict
from uvqc.pipeline.records import NotificationRequest, iso, safe_excerpt

MAX_LINE = 998  # RFC 5322 section 2.1.1


@dataclass(frozen=True, slots=True)
class Email:
    """A plain-text e-mail: ordered headers (no CR/LF in any value) and a body."""

    headers: tuple[tuple[str, str], ...]
    body: str

    def __post_init__(self) -> None:
        for name, value in self.headers:
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} carries CR/LF: refused")

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return default

    def __getitem__(self, name: str) -> str | None:
        return self.get(name)

    @property
    def message_id(self) -> str:
        return self.get("Message-ID") or ""

    @property
    def mail_from(self) -> str:
        return self.get("From") or ""

    def as_bytes(self) -> bytes:
        """The message as sent: CRLF line ends, RFC 2047 for non-ASCII header values,
        7bit body when it can be, quoted-printable otherwise."""
        lines = [
            f"{name}: {value}"
            if value.isascii()
            else f"{name}: {Header(value, 'utf-8', header_name=name).encode()}"
            for name, value in self.headers
        ]
        raw = self.body.encode("utf-8")
        if self.body.isascii() and all(len(line) <= MAX_LINE for line in self.body.splitlines()):
            encoding, payload = "7bit", raw
        else:
            encoding, payload = "quoted-printable", quopri.encodestring(raw)
        lines += [
            "MIME-Version: 1.0",
            'Content-Type: text/plain; charset="utf-8"',
            f"Content-Transfer-Encoding: {encoding}",
            "",
            "",
        ]
        payload = payload.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return "\r\n".join(lines).encode("ascii") + payload


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
    return display_lines("\n".join(lines)) + "\n"  # no bidi override reorders the body


def compose(
    request: NotificationRequest,
    *,
    mail_from: str,
    mail_to: Sequence[str],
    subject_prefix: str = "",
) -> Email:
    """The e-mail for a request; Subject and X-UVQC-Sample-Id name the sample."""
    who = header_safe(request.sample_id) if request.sample_id is not None else "unknown sample"
    what = "Rejected result" if request.verdict is Verdict.REJECT else "Data Quality Issue"
    headers = [
        ("Subject", header_safe(f"{subject_prefix}{what} for {who}", 400)),
        ("From", header_safe(mail_from, 400)),
        ("To", header_safe(", ".join(mail_to), 900)),
        ("Message-ID", message_id(request.key, mail_from)),
        ("Date", format_datetime(request.received_at)),
        ("X-UVQC-Sample-Id", who),
        ("X-UVQC-Record-Id", header_safe(request.record_id)),
        ("X-UVQC-Notification-Key", header_safe(request.key)),
        ("X-UVQC-Verdict", request.verdict.value),
    ]
    if request.correlation_id:
        headers.append(("X-UVQC-Correlation-Id", header_safe(request.correlation_id)))
    return Email(tuple(headers), _body(request))
