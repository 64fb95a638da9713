"""Addresses and headers through a strict relay and the outbox (issue 8, cases 3 and 4):
non-ASCII addresses never crash the notify stage, headers never carry a bare LF, and every
e-mail on the wire or in the outbox is valid RFC 5322."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.embedded.conftest import FAST
from tests.support.relay import FaultyRelay
from tests.support.rfc5322 import (
    LONG_NON_ASCII,
    SAMPLE_IDS,
    assert_valid,
    expected_addresses,
    mailboxes,
    read_addresses,
)
from uvqc.adapters.outbox import OutboxChannel
from uvqc.adapters.smtp import SmtpChannel, SmtpConfig
from uvqc.cli import main
from uvqc.core.verdicts import Finding, Severity, Verdict
from uvqc.errors import PermanentDeliveryError
from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker
from uvqc.pipeline.addresses import parse_addresses
from uvqc.pipeline.email import compose
from uvqc.pipeline.records import NotificationRequest, NotificationStatus

MakeRuntime = Callable[..., Runtime]
LONG_ID = "Zürichsee Süd Entnahmestelle 4 Tiefe 12 m"
PROPS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def flagged(sample_id: str) -> bytes:
    return json.dumps({"sampleId": sample_id, "absorbance": 3.5}).encode()


@pytest.fixture
def plain_relay() -> Iterator[FaultyRelay]:
    """A strict relay that does not offer SMTPUTF8 (most relays on the Internet)."""
    with FaultyRelay(seed=5, smtputf8=False) as relay:
        yield relay


def test_a_long_non_ascii_sample_id_reaches_a_strict_relay(
    relay: FaultyRelay, make_runtime: MakeRuntime
) -> None:
    """Header.encode() folded this Subject with a bare LF: Postfix answered 550."""
    rt = make_runtime(relay, mail_from="Labor Qualität <qc@lab.example>")
    rt.db.intake_port.submit([flagged(LONG_ID)])
    tally = Worker(rt).run_until_idle()
    assert (tally.notified, tally.dead_lettered, relay.counters.bare_newlines) == (1, 0, 0)
    (got,) = relay.messages()
    assert got.sample_id == LONG_ID
    msg = assert_valid(got.data)
    assert msg["Subject"] == f"Data Quality Issue for {LONG_ID}"
    assert msg["From"].addresses[0].display_name == "Labor Qualität"
    assert msg["From"].addresses[0].addr_spec == "qc@lab.example"
    assert got.mail_from == "qc@lab.example"  # the envelope sender is the bare address


def test_a_non_ascii_recipient_goes_out_with_smtputf8_when_the_relay_offers_it(
    relay: FaultyRelay, make_runtime: MakeRuntime
) -> None:
    rt = make_runtime(relay, mail_to="jürgen@lab.example, Ann <ann@lab.example>")
    rt.db.intake_port.submit([flagged("S-1")])
    assert Worker(rt).run_until_idle().notified == 1
    (got,) = relay.messages()
    assert got.smtputf8
    assert got.recipients == ("jürgen@lab.example", "ann@lab.example")
    msg = assert_valid(got.data, smtputf8=True)
    assert [a.addr_spec for a in msg["To"].addresses] == ["jürgen@lab.example", "ann@lab.example"]


def test_without_smtputf8_a_non_ascii_recipient_fails_permanently_with_the_reason(
    plain_relay: FaultyRelay, make_runtime: MakeRuntime
) -> None:
    """UVQC_MAIL_TO='jürgen@lab.example' crashed the notify thread with UnicodeEncodeError
    and left the ledger row in SENDING forever."""
    rt = make_runtime(plain_relay, mail_to="jürgen@lab.example, ann@lab.example")
    rt.db.intake_port.submit([flagged("S-1")])
    tally = Worker(rt).run_until_idle()
    assert (tally.notified, tally.dead_lettered) == (0, 1)
    (got,) = plain_relay.messages()  # the other recipient still got it
    assert got.recipients == ("ann@lab.example",) and not got.smtputf8
    assert_valid(got.data)
    (row,) = rt.db.ledger.notifications_for_sample("S-1")
    assert row.status is NotificationStatus.DEAD
    assert row.delivered_to == ("ann@lab.example",)
    assert row.last_error is not None and "SMTPUTF8" in row.last_error
    assert "jürgen@lab.example" in row.last_error
    (letter,) = rt.db.dead_letters.list()
    assert "SMTPUTF8" in letter.reason


def test_uvqc_run_with_a_non_ascii_address_warns_and_dead_letters_instead_of_crashing(
    plain_relay: FaultyRelay,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for key, value in FAST.items():
        monkeypatch.setenv(f"UVQC_{key.upper()}", str(value))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UVQC_MAIL_TO", "jürgen@lab.example")
    data = tmp_path / "day.jsonl"
    data.write_bytes(flagged("S-1") + b"\n")
    smtp = f"{plain_relay.host}:{plain_relay.port}"
    code = main(["run", str(data), "--db", str(tmp_path / "u.db"), "--smtp", smtp])
    assert code == 1  # a notification was dead-lettered: exit 1, no traceback
    assert "Traceback" not in capsys.readouterr().err
    assert any("SMTPUTF8" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert main(["dlq", "list", "--db", str(tmp_path / "u.db")]) == 0
    assert "SMTPUTF8" in capsys.readouterr().out


def test_a_non_ascii_sender_without_smtputf8_is_permanent(plain_relay: FaultyRelay) -> None:
    mail = compose(request("S-1"), mail_from="jürgen@lab.example", mail_to=["a@lab.example"])
    sender = SmtpChannel(SmtpConfig(plain_relay.host, plain_relay.port, timeout=5))
    with sender.open() as s, pytest.raises(PermanentDeliveryError, match="SMTPUTF8"):
        s.send(mail, ["a@lab.example"])


def test_the_strict_relay_refuses_a_bare_lf_like_postfix(relay: FaultyRelay) -> None:
    import smtplib

    with smtplib.SMTP(relay.host, relay.port, timeout=5) as smtp:
        data = b"Subject: a\r\n =?utf-8?b?w7w=?=\n =?utf-8?b?w7w=?=\r\n\r\nbody\r\n"
        with pytest.raises(smtplib.SMTPDataError) as err:
            smtp.sendmail("a@lab.example", ["b@lab.example"], data)
    assert err.value.smtp_code == 550
    assert relay.counters.bare_newlines == 1


# -- properties: every e-mail through the relay and into the outbox is valid -------------


def request(sample_id: str) -> NotificationRequest:
    return NotificationRequest(
        key="f" * 40,
        sample_id=sample_id,
        record_id="rec-1",
        verdict=Verdict.REJECT,
        findings=(Finding("over_range", Severity.FAIL, f"{sample_id} over range", 3.5, 3),),
        method="default",
        received_at=datetime(2026, 11, 28, 7, 0, tzinfo=UTC),
    )


@pytest.fixture(scope="module")
def module_relay() -> Iterator[FaultyRelay]:
    with FaultyRelay(seed=9) as relay:
        yield relay


@PROPS
@given(
    sample_id=SAMPLE_IDS | LONG_NON_ASCII,
    sender=mailboxes(),
    recipients=st.lists(mailboxes(non_ascii_local=True), min_size=1, max_size=3),
)
def test_every_email_a_strict_relay_receives_is_valid_rfc5322(
    module_relay: FaultyRelay, sample_id: str, sender: str, recipients: list[str]
) -> None:
    mail = compose(request(sample_id), mail_from=sender, mail_to=recipients)
    before = len(module_relay.messages())
    channel = SmtpChannel(SmtpConfig(module_relay.host, module_relay.port, timeout=5))
    envelope = [m.addr_spec for m in parse_addresses(recipients)]
    with channel.open() as s:
        assert set(s.send(mail, envelope)) == set(envelope)
    got = module_relay.messages()[before:]
    assert len(got) == 1 and module_relay.counters.bare_newlines == 0
    msg = assert_valid(got[0].data, smtputf8=got[0].smtputf8)
    assert read_addresses(msg, "To") == expected_addresses(recipients, smtputf8=got[0].smtputf8)
    assert got[0].sample_id == msg["X-UVQC-Sample-Id"]


@PROPS
@given(
    sample_id=SAMPLE_IDS | LONG_NON_ASCII,
    sender=mailboxes(),
    recipients=st.lists(mailboxes(non_ascii_local=True), min_size=1, max_size=3),
)
def test_every_email_in_the_outbox_is_valid_rfc5322(
    sample_id: str, sender: str, recipients: list[str]
) -> None:
    mail = compose(request(sample_id), mail_from=sender, mail_to=recipients)
    with tempfile.TemporaryDirectory() as folder:
        with OutboxChannel(Path(folder), fsync=False).open() as s:
            s.send(mail, ["x@lab.example"])
        (eml,) = Path(folder).glob("*.eml")
        data = eml.read_bytes()
    msg = assert_valid(data, smtputf8=mail.needs_smtputf8)
    assert read_addresses(msg, "To") == expected_addresses(recipients, smtputf8=mail.needs_smtputf8)
