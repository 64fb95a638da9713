"""Compose the notification e-mail for a request. Pure: same request -> same bytes.

The Message-ID is derived from the notification key, so a resend after a crash between the
relay's acceptance and the ledger write is recognisable as the same message. Header values
built from data never carry CR/LF (identifiers are validated, and escaped here again).

`Email` renders RFC 5322 bytes directly: the stdlib's EmailMessage costs about 1 ms per
message (header registry, generator), which capped the notify stage at a few hundred e-mails
per second; this costs under 0.1 ms and produces what any MIME parser reads back.
"""

from __future__ import annotations

import hashlib
import quopri
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import format_datetime

from uvqc.core.display import display_lines
from uvqc.core.verdicts import Verdict
from uvqc.pipeline.addresses import idna_domain, parse_address_list
from uvqc.pipeline.headers import ADDRESS_FIELDS, render
from uvqc.pipeline.records import NotificationRequest, is_digest, iso, safe_excerpt

MAX_LINE = 998  # RFC 5322 section 2.1.1


@dataclass(frozen=True, slots=True)
class Email:
    """A plain-text e-mail: ordered headers (no CR/LF in any value) and a body; with `html`,
    multipart/alternative of the body (complete on its own) and that prepared HTML."""

    headers: tuple[tuple[str, str], ...]
    body: str
    html: str | None = None

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

    @property
    def needs_smtputf8(self) -> bool:
        """True if an address in From/To has a non-ASCII local part: only SMTPUTF8
        (RFC 6531) can carry it (a non-ASCII domain is sent as IDNA A-labels instead)."""
        return any(
            m.needs_smtputf8
            for name, value in self.headers
            if name.lower() in ADDRESS_FIELDS
            for m in parse_address_list(value)
        )

    def as_bytes(self, *, smtputf8: bool = False) -> bytes:
        """The message as sent: CRLF line ends only, header lines folded (<= 998 octets,
        78 where the text has spaces), RFC 2047 encoded-words for non-ASCII display names
        and unstructured text, 7bit body when it can be, quoted-printable otherwise.

        smtputf8=True (a relay that offers SMTPUTF8, or the outbox) writes addresses with
        non-ASCII local parts as UTF-8 (RFC 6532); without it they are left out of To and
        a sender raises NeedsSmtpUtf8Error (uvqc.pipeline.headers)."""
        lines = [render(name, value, smtputf8=smtputf8) for name, value in self.headers]
        if self.html is not None:
            return self._alternative(lines, smtputf8=smtputf8)
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
        return "\r\n".join(lines).encode("utf-8" if smtputf8 else "ascii") + payload

    def _alternative(self, lines: list[str], *, smtputf8: bool) -> bytes:
        """multipart/alternative (RFC 2046 s. 5.1.4): text/plain first, text/html last (the
        preferred). Both parts are quoted-printable, which encodes every "=", so the
        boundary ("=_" + a hash of the parts) can never occur inside them."""
        text, html = self.body.encode("utf-8"), (self.html or "").encode("utf-8")
        boundary = "=_uvqc_" + hashlib.sha256(text + b"\0" + html).hexdigest()[:32]
        out = "\r\n".join(
            [
                *lines,
                "MIME-Version: 1.0",
                f'Content-Type: multipart/alternative; boundary="{boundary}"',
                "",
                "",
            ]
        ).encode("utf-8" if smtputf8 else "ascii")
        for subtype, raw in (("plain", text), ("html", html)):
            part = quopri.encodestring(raw.replace(b"\r\n", b"\n"))
            out += (
                f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            ).encode("ascii")
            out += part.replace(b"\n", b"\r\n").rstrip(b"\r\n") + b"\r\n"
        return out + f"--{boundary}--\r\n".encode("ascii")


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
    "spectrum_spikes": "Check the cuvette for bubbles or particles, clean it, and re-scan.",
    "spectrum_noise": "Check the lamp hours and the cuvette; re-scan more slowly.",
    "spectrum_lamp_step": "Let the lamps warm up, re-run the baseline, and re-scan.",
    "spectrum_baseline": "Re-run the baseline (blank); check for turbidity or a scratched cuvette.",
    "spectrum_flat_top": "The detector saturated: dilute or use a shorter path length; re-scan.",
    "spectrum_resolution": "Re-scan with the method's range and step (the scan was aborted or "
    "too coarse).",
    "spectrum_covers_wavelength": "Re-scan over the method's wavelength range.",
    "spectrum_reading_mismatch": "Check that the reading, the scan and the wavelength belong "
    "to the same cuvette and file; re-measure.",
    "suva254_above": "Check the DOC result and the UV254 reading (same sample, same filtration).",
    "nitrate_screening_above": "Dilute the sample into the calibrated range and re-measure.",
    "invalid_message": "The instrument or its interface sent a message uvqc cannot read: check "
    "the export settings and the interface, then re-send the result.",
}
DEFAULT_ACTION = "Review the result before reporting it."


def header_safe(value: str, limit: int = 128) -> str:
    """A header value with every control character escaped: no CR/LF can reach a header."""
    return safe_excerpt(value, limit)


def message_id(key: str, mail_from: str) -> str:
    domain = idna_domain(mail_from.rpartition("@")[2].strip("<> ")) or "uvqc.invalid"
    return f"<uvqc.{key}@{header_safe(domain or 'uvqc.invalid', 200)}>"


CONTEXT_LABELS = {
    "batchId": "Batch:",
    "instrumentId": "Instrument:",
    "measuredAt": "Measured at:",
    "sampleType": "Sample type:",
}


def trace_command(request: NotificationRequest, trace_options: str = "") -> str:
    """The exact command that shows this notification, every result it covered and where
    each e-mail went (the notification key is unique and shell-safe)."""
    return f"uvqc trace {request.key}{trace_options}"


def _body(request: NotificationRequest, trace_options: str = "") -> str:
    who = request.sample_id if request.sample_id is not None else "(no readable sample ID)"
    context = dict(request.context)
    lines = [
        f"uvqc found a data quality issue for sample {who}.",
        "",
        f"Verdict:      {request.verdict.value}",
        f"Sample:       {who}",
    ]
    for name, label in CONTEXT_LABELS.items():
        lines.append(f"{label:<14}{context.get(name, '-')}")
    lines += [
        f"Source:       {request.source or '-'}",
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
        f"Full story: {trace_command(request, trace_options)}",
        f"Notification key: {request.key}",
    ]
    return display_lines("\n".join(lines)) + "\n"  # no bidi override reorders the body


def _subject_who(request: NotificationRequest) -> str:
    if request.sample_id is not None:
        return f"for {header_safe(request.sample_id)}"
    if request.source:
        return f"without a readable sample ID, from {header_safe(request.source, 200)}"
    return "without a readable sample ID"


def compose(
    request: NotificationRequest,
    *,
    mail_from: str,
    mail_to: Sequence[str],
    subject_prefix: str = "",
    trace_options: str = "",
) -> Email:
    """The e-mail for a request. Subject and X-UVQC-Sample-Id name the sample; without a
    readable sample ID there is no X-UVQC-Sample-Id header and the Subject names the source.
    `trace_options` (` --db PATH`, ` --aws`) completes the trace command in the body.
    A run decision: Subject "Run <batchId>: <decision>", its body lists the affected
    samples."""
    if request.run is not None:
        return _run_email(request, mail_from, mail_to, subject_prefix, trace_options)
    what = "Rejected result" if request.verdict is Verdict.REJECT else "Data Quality Issue"
    headers = [
        ("Subject", header_safe(f"{subject_prefix}{what} {_subject_who(request)}", 400)),
        ("From", mail_from),  # validated address lists (settings): no control characters
        ("To", ", ".join(mail_to)),
        ("Message-ID", message_id(request.key, mail_from)),
        ("Date", format_datetime(request.received_at)),
    ]
    if request.sample_id is not None:
        headers.append(("X-UVQC-Sample-Id", header_safe(request.sample_id)))
    headers += [
        ("X-UVQC-Record-Id", header_safe(request.record_id)),
        ("X-UVQC-Notification-Key", header_safe(request.key)),
        ("X-UVQC-Verdict", request.verdict.value),
    ]
    if request.source:
        headers.append(("X-UVQC-Source", header_safe(request.source, 300)))
    if request.correlation_id:
        headers.append(("X-UVQC-Correlation-Id", header_safe(request.correlation_id)))
    return Email(tuple(headers), _body(request, trace_options))


def _run_email(
    request: NotificationRequest,
    mail_from: str,
    mail_to: Sequence[str],
    subject_prefix: str,
    trace_options: str = "",
) -> Email:
    """A prepared notice's e-mail: a run decision (uvqc.runs.notices composed subject and
    body) or a daily digest (uvqc.daily.digest: also a prepared, escaped HTML alternative
    in `run["html"]`). The commands it names get this runtime's options (` --db PATH`,
    ` --aws`)."""
    run = request.run or {}
    headers = [
        ("Subject", header_safe(f"{subject_prefix}{run.get('subject', 'Run decision')}", 400)),
        ("From", mail_from),  # validated address lists (settings): no control characters
        ("To", ", ".join(mail_to)),
        ("Message-ID", message_id(request.key, mail_from)),
        ("Date", format_datetime(request.received_at)),
    ]
    if "batchId" in run:
        headers.append(("X-UVQC-Batch-Id", header_safe(str(run.get("batchId", "")))))
    daily = run.get("kind") == "daily"
    if daily:
        headers.append(("X-UVQC-Digest-Date", header_safe(str(run.get("date", "")))))
    else:
        headers.append(("X-UVQC-Run-Decision", header_safe(str(run.get("code", "")))))
    if run.get("update") and (daily or is_digest(request)):  # a digest re-sent, changed
        headers.append(("X-UVQC-Digest-Update", "true"))
    headers += [
        ("X-UVQC-Notification-Key", header_safe(request.key)),
        ("X-UVQC-Verdict", request.verdict.value),
    ]
    body = [  # IDs from instruments: a bidi override must not reorder the lines shown
        display_lines(
            line + (trace_options if line.startswith("Full run: uvqc runs show ") else "")
        )
        for line in str(run.get("body", "")).splitlines()
    ]
    lines = [*body, f"Notification key: {request.key}"]
    html = run.get("html")
    return Email(tuple(headers), "\n".join(lines) + "\n", html if isinstance(html, str) else None)
