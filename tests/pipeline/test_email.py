"""The notification e-mail: what lab staff read, and what no sample ID can break."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from uvqc.core.verdicts import Finding, Severity, Verdict
from uvqc.pipeline.email import Email, compose, message_id
from uvqc.pipeline.notify import MailSettings
from uvqc.pipeline.records import NotificationRequest
from uvqc.settings import load_settings

WHEN = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def request(sample_id: str | None = "S-1", **kw: object) -> NotificationRequest:
    finding = Finding(
        "dilution_required",
        Severity.FAIL,
        f"Absorbance for {sample_id} exceeds 1. Consider diluting the sample.",
        1.2,
        1.0,
    )
    fields: dict[str, object] = {
        "key": "k" * 40,
        "sample_id": sample_id,
        "record_id": "rec-1",
        "verdict": Verdict.FLAG,
        "findings": (finding,),
        "method": "default",
        "received_at": WHEN,
    }
    fields.update(kw)
    return NotificationRequest(**fields)  # type: ignore[arg-type]


def parsed(mail: Email) -> email.message.EmailMessage:
    msg = email.message_from_bytes(mail.as_bytes(), policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_the_subject_and_a_header_name_the_sample_like_the_original_system() -> None:
    msg = parsed(compose(request(), mail_from="uvqc@lab.example", mail_to=["a@lab.example"]))
    assert msg["Subject"] == "Data Quality Issue for S-1"
    assert msg["X-UVQC-Sample-Id"] == "S-1"
    body = msg.get_content()
    assert "Absorbance for S-1 exceeds 1. Consider diluting the sample." in body
    assert "value: 1.2   limit: 1.0" in body
    assert "Dilute the sample" in body


def test_the_message_id_is_derived_from_the_notification_key_so_a_resend_is_recognisable() -> None:
    a = compose(request(), mail_from="uvqc@lab.example", mail_to=["a@lab.example"])
    b = compose(request(), mail_from="uvqc@lab.example", mail_to=["a@lab.example"])
    assert a.as_bytes() == b.as_bytes()
    assert parsed(a)["Message-ID"] == message_id("k" * 40, "uvqc@lab.example")
    assert parsed(a)["Message-ID"] == "<uvqc." + "k" * 40 + "@lab.example>"


def test_non_ascii_sample_ids_and_bodies_round_trip_through_a_mime_parser() -> None:
    msg = parsed(
        compose(request("Brunnen-Süd-7"), mail_from="u@l.example", mail_to=["a@l.example"])
    )
    assert msg["Subject"] == "Data Quality Issue for Brunnen-Süd-7"
    assert msg["X-UVQC-Sample-Id"] == "Brunnen-Süd-7"
    assert "Absorbance for Brunnen-Süd-7 exceeds 1." in msg.get_content()


@pytest.mark.parametrize(
    "evil", ["S-1\r\nBcc: victim@example.com", "S-1\nX-Injected: yes", "S-1\r", "\u2028S"]
)
def test_header_injection_through_a_sample_id_is_impossible(evil: str) -> None:
    mail = compose(request(evil), mail_from="uvqc@lab.example", mail_to=["a@lab.example"])
    msg = parsed(mail)
    assert msg["Bcc"] is None
    assert msg["X-Injected"] is None
    head = mail.as_bytes().split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0] for line in head.split(b"\r\n")]
    assert b"Bcc" not in names and b"X-Injected" not in names
    assert "\n" not in str(msg["Subject"]) and "\r" not in str(msg["Subject"])


def test_an_email_refuses_a_header_value_with_a_line_break() -> None:
    with pytest.raises(ValueError, match="CR/LF"):
        Email((("Subject", "a\r\nBcc: x@y"),), "body")


def test_a_reject_quotes_a_safe_excerpt_of_the_payload() -> None:
    req = request(None, verdict=Verdict.REJECT, excerpt="not json \\x0d\\x0a", findings=())
    msg = parsed(compose(req, mail_from="uvqc@lab.example", mail_to=["a@lab.example"]))
    assert msg["Subject"] == "Rejected result without a readable sample ID"
    assert msg["X-UVQC-Sample-Id"] is None  # omitted, not "unknown sample" (issue 8, case 8)
    assert "Payload excerpt (escaped):" in msg.get_content()
    assert "not json \\x0d\\x0a" in msg.get_content()


def test_long_lines_are_sent_quoted_printable_within_the_rfc_line_limit() -> None:
    long_id = "S" * 128
    req = request(long_id, excerpt="x" * 300)
    raw = compose(req, mail_from="uvqc@lab.example", mail_to=["a@lab.example"]).as_bytes()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    mail = Email((("Subject", "s"),), "y" * 2000 + "\n")
    raw = mail.as_bytes()
    assert b"Content-Transfer-Encoding: quoted-printable" in raw
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    # Python's parser keeps the canonical CRLF of a quoted-printable text body, as it does
    # for e-mails the stdlib itself generates.
    assert parsed(mail).get_content().replace("\r\n", "\n") == "y" * 2000 + "\n"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, ""),
        ({"db": "var/uvqc.db"}, ""),
        ({"db": "/srv/lab db/uvqc.db"}, " --db '/srv/lab db/uvqc.db'"),
        ({"runtime": "aws"}, " --aws"),
    ],
)
def test_the_trace_command_in_the_email_names_where_the_records_are(
    overrides: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no uvqc.toml
    for name in ("UVQC_DB", "UVQC_RUNTIME", "UVQC_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    mail = MailSettings.from_settings(load_settings(**overrides))
    assert mail.trace_options == expected
    req = request(source="day.jsonl:12", context=(("batchId", "B-7"),))
    body = parsed(
        compose(req, mail_from="u@lab.example", mail_to=["a@lab.example"], trace_options=expected)
    ).get_content()
    assert f"Full story: uvqc trace {'k' * 40}{expected}" in body.splitlines()
    assert "Batch:        B-7" in body and "Source:       day.jsonl:12" in body
    assert "Instrument:   -" in body  # absent fields are shown as absent, not left out
