"""The smtp channel against a real relay that fails on purpose."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.support.relay import FaultyRelay
from uvqc.adapters.smtp import SmtpChannel, SmtpConfig
from uvqc.errors import PermanentDeliveryError, TransientDeliveryError
from uvqc.pipeline.email import Email


def email(sample_id: str = "S-1") -> Email:
    return Email(
        (
            ("From", "uvqc@lab.example"),
            ("To", "lab@lab.example"),
            ("Subject", f"Data Quality Issue for {sample_id}"),
            ("Message-ID", f"<uvqc.{sample_id}@lab.example>"),
            ("X-UVQC-Sample-Id", sample_id),
        ),
        "body\n",
    )


def channel(relay: FaultyRelay, **kw: object) -> SmtpChannel:
    return SmtpChannel(SmtpConfig(relay.host, relay.port, timeout=5, **kw))  # type: ignore[arg-type]


def test_one_connection_serves_a_whole_batch(relay: FaultyRelay) -> None:
    with channel(relay).open() as sender:
        for i in range(5):
            assert sender.send(email(f"S-{i}"), ["lab@lab.example"]) == ("lab@lab.example",)
    assert relay.counters.connections == 1
    assert len(relay.messages()) == 5


def test_a_4xx_reply_is_transient(relay: FaultyRelay) -> None:
    relay.set_faults(transient_rate=1.0)
    with channel(relay).open() as sender, pytest.raises(TransientDeliveryError, match="451"):
        sender.send(email(), ["lab@lab.example"])


def test_a_dropped_connection_is_reopened_once_then_transient(relay: FaultyRelay) -> None:
    relay.set_faults(drop_rate=1.0)
    with channel(relay).open() as sender, pytest.raises(TransientDeliveryError, match="lost"):
        sender.send(email(), ["lab@lab.example"])
    assert relay.counters.dropped == 2  # first try and the one reconnect


def test_a_rejected_sample_is_permanent(relay: FaultyRelay) -> None:
    relay.reject_sample = "S-BAD"
    with channel(relay).open() as sender:
        with pytest.raises(PermanentDeliveryError, match="550"):
            sender.send(email("S-BAD"), ["lab@lab.example"])
        assert sender.send(email("S-OK"), ["lab@lab.example"])  # the link survives a 5xx


def test_a_partially_refused_delivery_keeps_who_accepted(relay: FaultyRelay) -> None:
    relay.reject_recipient = "gone@lab.example"
    with channel(relay).open() as sender, pytest.raises(PermanentDeliveryError) as err:
        sender.send(email(), ["lab@lab.example", "gone@lab.example"])
    assert err.value.accepted == ("lab@lab.example",)
    assert relay.messages()[0].recipients == ("lab@lab.example",)


def test_an_outage_is_transient_whether_421_or_refused(relay: FaultyRelay) -> None:
    relay.set_outage("421")
    with channel(relay).open() as sender, pytest.raises(TransientDeliveryError, match="421"):
        sender.send(email(), ["lab@lab.example"])
    relay.set_outage("refuse")
    with channel(relay).open() as sender, pytest.raises(TransientDeliveryError, match="refused"):
        sender.send(email(), ["lab@lab.example"])
    relay.set_outage(None)
    with channel(relay).open() as sender:
        assert sender.send(email(), ["lab@lab.example"])


def test_auth_with_the_right_password_and_no_password_in_errors() -> None:
    with FaultyRelay(auth=("uvqc", "s3cret-pw")) as relay:
        with channel(relay, username="uvqc", password="s3cret-pw").open() as sender:
            assert sender.send(email(), ["lab@lab.example"])
        bad = channel(relay, username="uvqc", password="wrong-pw")
        with bad.open() as sender, pytest.raises(PermanentDeliveryError) as err:
            sender.send(email(), ["lab@lab.example"])
        assert "535" in str(err.value)
        assert "wrong-pw" not in str(err.value) + repr(bad.config)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed for a test cert")
def test_starttls(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    with FaultyRelay(tls_context=server_ctx) as relay:
        sender_channel = channel(relay, starttls=True, ssl_context=client_ctx)
        with sender_channel.open() as sender:
            assert sender.send(email(), ["lab@lab.example"])
    assert relay.messages()[0].sample_id == "S-1"
