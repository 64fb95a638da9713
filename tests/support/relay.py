"""A fault-injecting SMTP relay on aiosmtpd, for the tests, the AWS end-to-end tests and the
benchmarks: a real SMTP server on 127.0.0.1 that fails on purpose.

    with FaultyRelay(transient_rate=0.2, drop_rate=0.1, seed=7) as relay:
        ... deliver to relay.host:relay.port ...
        relay.reject_sample = None      # lift a permanent fault, then redrive
        relay.set_outage("421")         # every transaction answered 421 (or "refuse")
        assert relay.message_ids().count(mid) == 1

Faults (decided per delivery with a seeded RNG, so a run is reproducible):
- transient_rate: share of deliveries answered `451 4.3.0` at DATA;
- drop_rate: share of deliveries whose connection is closed mid-transaction (at DATA);
- reject_recipient: this address gets `550 5.1.1` at RCPT;
- reject_sample: a message whose X-UVQC-Sample-Id is this gets `550 5.7.1` at DATA;
- auth=(user, password): require AUTH LOGIN/PLAIN; tls_context: offer (and require) STARTTLS;
- outage: "421" answers every MAIL with `421 4.3.2` (smtplib then closes the link);
  "refuse" stops listening (connection refused) until the outage is lifted.
"""

from __future__ import annotations

import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# Headers only, compat32: a relay that parsed whole messages with the modern policy spent
# about 1 ms per e-mail, and made itself the bottleneck of every benchmark that uses it.
_HEADERS = BytesParser(policy=compat32)


def _header(msg: Message, name: str) -> str | None:
    value = msg.get(name)
    if value is None:
        return None
    text = str(value)
    return str(make_header(decode_header(text))) if "=?" in text else text


Outage = Literal["421", "refuse"] | None


@dataclass(frozen=True)
class Received:
    """One message the relay accepted."""

    message_id: str
    sample_id: str | None
    recipients: tuple[str, ...]
    mail_from: str
    subject: str
    at: float
    data: bytes


@dataclass
class Counters:
    connections: int = 0
    accepted: int = 0
    transient: int = 0
    dropped: int = 0
    rejected_recipients: int = 0
    rejected_samples: int = 0
    outage_replies: int = 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self, relay: FaultyRelay) -> None:
        self.relay = relay

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        r = self.relay
        with r.lock:
            if r.outage == "421":
                r.counters.outage_replies += 1
                return "421 4.3.2 Service not available, closing transmission channel"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        r = self.relay
        with r.lock:
            if r.reject_recipient is not None and address == r.reject_recipient:
                r.counters.rejected_recipients += 1
                return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        r = self.relay
        data: bytes = envelope.original_content or envelope.content
        msg = _HEADERS.parsebytes(data, headersonly=True)
        sample = _header(msg, "X-UVQC-Sample-Id")
        with r.lock:
            if r.reject_sample is not None and sample == r.reject_sample:
                r.counters.rejected_samples += 1
                return "550 5.7.1 Message rejected by policy"
            roll = r.rng.random()
            if roll < r.drop_rate:
                r.counters.dropped += 1
                server.transport.close()
                return "421 4.4.2 Connection dropped"  # never reaches the client
            if roll < r.drop_rate + r.transient_rate:
                r.counters.transient += 1
                return "451 4.3.0 Temporary failure, try again later"
            r.counters.accepted += 1
            r.received.append(
                Received(
                    message_id=_header(msg, "Message-ID") or "",
                    sample_id=sample,
                    recipients=tuple(envelope.rcpt_tos),
                    mail_from=str(envelope.mail_from),
                    subject=_header(msg, "Subject") or "",
                    at=time.time(),
                    data=data,
                )
            )
        return "250 Message accepted for delivery"


class _Controller(Controller):  # type: ignore[misc]
    def __init__(self, relay: FaultyRelay, **kwargs: Any) -> None:
        self.relay = relay
        super().__init__(_Handler(relay), **kwargs)

    def factory(self) -> SMTP:
        with self.relay.lock:
            self.relay.counters.connections += 1
        return super().factory()


class FaultyRelay:
    """A real SMTP relay on 127.0.0.1 with switchable faults; thread-safe."""

    def __init__(
        self,
        *,
        transient_rate: float = 0.0,
        drop_rate: float = 0.0,
        reject_recipient: str | None = None,
        reject_sample: str | None = None,
        outage: Outage = None,
        seed: int = 0,
        auth: tuple[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        port: int | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.transient_rate = transient_rate
        self.drop_rate = drop_rate
        self.reject_recipient = reject_recipient
        self.reject_sample = reject_sample
        self.outage: Outage = None
        self.received: list[Received] = []
        self.counters = Counters()
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.auth = auth
        self.tls_context = tls_context
        self._controller: _Controller | None = None
        self._initial_outage = outage

    # -- lifecycle ----------------------------------------------------------------------
    def _make_controller(self) -> _Controller:
        kwargs: dict[str, Any] = {"hostname": self.host, "port": self.port, "ready_timeout": 10}
        if self.auth is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        if self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context, require_starttls=True)
        return _Controller(self, **kwargs)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.auth is not None
            and (data.login.decode(), data.password.decode()) == self.auth
        )
        return AuthResult(success=ok, handled=False)

    def _start_controller(self) -> None:
        with self.lock:
            before = self.counters.connections
        self._controller = self._make_controller()
        self._controller.start()
        with self.lock:  # the controller's own readiness probe is not a client
            self.counters.connections = before

    def start(self) -> FaultyRelay:
        self._start_controller()
        if self._initial_outage is not None:
            self.set_outage(self._initial_outage)
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> FaultyRelay:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- faults -------------------------------------------------------------------------
    def set_outage(self, outage: Outage) -> None:
        """ "421": answer every transaction 421; "refuse": stop listening; None: back up."""
        with self.lock:
            previous, self.outage = self.outage, outage
        if outage == "refuse" and previous != "refuse":
            self.stop()
        elif previous == "refuse" and outage != "refuse":
            self._start_controller()

    def set_faults(
        self, *, transient_rate: float | None = None, drop_rate: float | None = None
    ) -> None:
        with self.lock:
            if transient_rate is not None:
                self.transient_rate = transient_rate
            if drop_rate is not None:
                self.drop_rate = drop_rate

    def clear_faults(self) -> None:
        with self.lock:
            self.transient_rate = self.drop_rate = 0.0
            self.reject_recipient = self.reject_sample = None
        self.set_outage(None)

    # -- what arrived -------------------------------------------------------------------
    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def message_ids(self) -> list[str]:
        return [r.message_id for r in self.messages()]

    def by_sample(self, sample_id: str) -> list[Received]:
        return [r for r in self.messages() if r.sample_id == sample_id]
