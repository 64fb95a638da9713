"""A run digest goes through the channels like a plain e-mail: the SMTP channel to a real
(strict) relay and the file outbox; what arrives parses back with every part."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import cast

from tests.embedded.conftest import relay  # noqa: F401
from tests.report.conftest import sample_report
from tests.support.relay import FaultyRelay
from uvqc.adapters.outbox import OutboxChannel
from uvqc.adapters.smtp import SmtpChannel, SmtpConfig
from uvqc.digest.compose import compose_digest
from uvqc.pipeline.ports import Mailable
from uvqc.report.render import render_html

NOW = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)


def digest() -> Mailable:
    run = sample_report()
    return compose_digest(
        run,
        key="k" * 40,
        mail_from="uvqc@lab.example",
        mail_to=["lab@lab.example"],
        date=NOW,
        report_html=render_html([run], generated=NOW),
        message_id="<uvqc.kkkk@lab.example>",
    )


def check(data: bytes) -> None:
    msg = cast(EmailMessage, message_from_bytes(data, policy=policy.default))
    assert msg["Message-ID"] == "<uvqc.kkkk@lab.example>"
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
    kinds = [p.get_content_type() for p in msg.walk()]
    assert "image/png" in kinds and kinds.count("text/html") == 2  # the part and the report


def test_the_smtp_channel_sends_a_digest_to_a_strict_relay(relay: FaultyRelay) -> None:  # noqa: F811
    mail = digest()
    with SmtpChannel(SmtpConfig(relay.host, relay.port, timeout=5)).open() as sender:
        assert sender.send(mail, ["lab@lab.example"]) == ("lab@lab.example",)
    (received,) = relay.messages()
    check(received.data)


def test_the_outbox_writes_a_digest_under_its_message_id(tmp_path: Path) -> None:
    channel = OutboxChannel(tmp_path, fsync=False)
    mail = digest()
    with channel.open() as sender:
        sender.send(mail, ["lab@lab.example"])
    (path,) = tmp_path.glob("*.eml")
    assert path.name == "uvqc.kkkk@lab.example.eml"
    assert channel.destination(mail) == f"file {path}"
    check(path.read_bytes())
