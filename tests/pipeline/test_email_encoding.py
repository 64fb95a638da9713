"""Header encoding (issue 8, case 4): CRLF only on the wire, RFC 2047 only for display
names and unstructured text, lines within 998 octets, parseable From/To, whatever the
sample ID and the addresses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.rfc5322 import (
    LONG_NON_ASCII,
    SAMPLE_IDS,
    assert_valid,
    expected_addresses,
    expected_sample_header,
    mailboxes,
    read_addresses,
)
from uvqc.core.verdicts import Finding, Severity, Verdict
from uvqc.pipeline.email import Email, compose
from uvqc.pipeline.headers import NeedsSmtpUtf8Error
from uvqc.pipeline.records import NotificationRequest

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG_ID = "Zürichsee Süd Entnahmestelle 4 Tiefe 12 m"


def request(sample_id: str | None) -> NotificationRequest:
    return NotificationRequest(
        key="k" * 40,
        sample_id=sample_id,
        record_id="rec-1",
        verdict=Verdict.FLAG,
        findings=(Finding("dilution_required", Severity.FAIL, f"too high: {sample_id}", 1.2, 1),),
        method="default",
        received_at=datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
    )


def test_a_long_non_ascii_sample_id_folds_with_crlf_not_a_bare_lf() -> None:
    raw = compose(request(LONG_ID), mail_from="qc@lab.example", mail_to=["a@lab.example"])
    data = raw.as_bytes()
    head = data.split(b"\r\n\r\n")[0]
    assert b"\n" not in head.replace(b"\r\n", b"")  # the old Header.encode() folded with LF
    msg = assert_valid(data)
    assert msg["Subject"] == f"Data Quality Issue for {LONG_ID}"
    assert msg["X-UVQC-Sample-Id"] == LONG_ID
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))


def test_a_display_name_is_encoded_apart_from_its_address() -> None:
    mail = compose(
        request("S-1"),
        mail_from="Labor Qualität <qc@lab.example>",
        mail_to=['"Smith, Ann" <a@x.example>', "Jörg Müller <j@bücher.example>"],
    )
    msg = assert_valid(mail.as_bytes())
    assert msg["From"].addresses[0].display_name == "Labor Qualität"
    assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [
        ("Smith, Ann", "a@x.example"),
        ("Jörg Müller", "j@xn--bcher-kva.example"),
    ]
    assert b"<qc@lab.example>" in mail.as_bytes()  # the addr-spec is never encoded


def test_a_non_ascii_local_part_is_written_only_with_smtputf8() -> None:
    mail = compose(
        request("S-1"), mail_from="qc@lab.example", mail_to=["jürgen@lab.example", "a@x.example"]
    )
    assert mail.needs_smtputf8
    ascii_msg = assert_valid(mail.as_bytes())
    assert read_addresses(ascii_msg, "To") == [("", "a", "x.example")]
    utf8_msg = assert_valid(mail.as_bytes(smtputf8=True), smtputf8=True)
    assert [a.addr_spec for a in utf8_msg["To"].addresses] == ["jürgen@lab.example", "a@x.example"]
    alone = compose(request("S-1"), mail_from="qc@lab.example", mail_to=["jürgen@lab.example"])
    assert str(assert_valid(alone.as_bytes())["To"]) == "undisclosed-recipients:;"


def test_a_non_ascii_sender_cannot_be_written_without_smtputf8() -> None:
    mail = compose(request("S-1"), mail_from="jürgen@lab.example", mail_to=["a@x.example"])
    with pytest.raises(NeedsSmtpUtf8Error, match="SMTPUTF8"):
        mail.as_bytes()
    assert_valid(mail.as_bytes(smtputf8=True), smtputf8=True)


def test_a_word_too_long_for_a_line_is_split_into_encoded_words() -> None:
    mail = Email(
        (("From", "qc@lab.example"), ("To", "a@lab.example"), ("Subject", "x" * 1500)), "body\n"
    )
    msg = assert_valid(mail.as_bytes())
    assert msg["Subject"] == "x" * 1500


@PROPS
@given(
    sample_id=SAMPLE_IDS | LONG_NON_ASCII,
    sender=mailboxes(),
    recipients=st.lists(mailboxes(non_ascii_local=True), min_size=1, max_size=3),
    prefix=st.sampled_from(["", "[uvqc] ", "[Qualität] "]),
    smtputf8=st.booleans(),
)
def test_every_email_is_valid_rfc5322_with_parseable_addresses(
    sample_id: str, sender: str, recipients: list[str], prefix: str, smtputf8: bool
) -> None:
    mail = compose(request(sample_id), mail_from=sender, mail_to=recipients, subject_prefix=prefix)
    msg = assert_valid(mail.as_bytes(smtputf8=smtputf8), smtputf8=smtputf8)
    safe = expected_sample_header(sample_id)
    assert msg["X-UVQC-Sample-Id"] == safe
    assert msg["Subject"] == f"{prefix}Data Quality Issue for {safe}"
    assert read_addresses(msg, "From") == expected_addresses([sender], smtputf8=smtputf8)
    wanted = expected_addresses(recipients, smtputf8=smtputf8)
    assert read_addresses(msg, "To") == wanted
