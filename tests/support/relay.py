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
  "refuse" stops listening (connection refused) until the outage is lifted; "silent"
  accepts TCP connections and never answers (a hung relay: every client waits for its
  timeout).

Strict like real relays (`strict=True`, what the tests use by default):
- a bare LF or bare CR anywhere in DATA is refused with `550 5.5.2` (Postfix
  smtpd_forbid_bare_newline; the SMTP smuggling fix);
- a non-ASCII envelope address without the SMTPUTF8 parameter gets `553 5.6.7`, and so
  do 8-bit header fields without it (RFC 6531/6532);
- `smtputf8=False` does not advertise SMTPUTF8 at all (aiosmtpd enable_SMTPUTF8): a
  MAIL ... SMTPUTF8 is then refused, as by relays without the extension.
Lines over 998 octets are refused by aiosmtpd itself (500, RFC 5321 4.5.3.1.6).
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


Outage = Literal["421", "refuse", "silent"] | None


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
    smtputf8: bool = False  # the transaction used MAIL FROM:<...> SMTPUTF8


@dataclass
class Counters:
    connections: int = 0
    accepted: int = 0
    transient: int = 0
    dropped: int = 0
    rejected_recipients: int = 0
    rejected_samples: int = 0
    outage_replies: int = 0
    bare_newlines: int = 0  # DATA refused for a bare LF/CR (strict)
    not_smtputf8: int = 0  # non-ASCII address or header refused without SMTPUTF8 (strict)
    silent_connections: int = 0  # connections accepted and never answered ("silent")


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
            if r.strict and not address.isascii() and "SMTPUTF8" not in options:
                r.counters.not_smtputf8 += 1
                return "553 5.6.7 Non-ASCII sender address needs SMTPUTF8"
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
            if r.strict and not address.isascii() and not envelope.smtp_utf8:
                r.counters.not_smtputf8 += 1
                return "553 5.6.7 Non-ASCII recipient address needs SMTPUTF8"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        r = self.relay
        data: bytes = envelope.original_content or envelope.content
        if r.strict:
            refusal = _strict_refusal(data, bool(envelope.smtp_utf8))
            if refusal is not None:
                with r.lock:
                    if refusal.startswith("550"):
                        r.counters.bare_newlines += 1
                    else:
                        r.counters.not_smtputf8 += 1
                return refusal
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
                    smtputf8=bool(envelope.smtp_utf8),
                )
            )
        return "250 Message accepted for delivery"


def _strict_refusal(data: bytes, smtputf8: bool) -> str | None:
    """What a strict relay answers to this DATA, or None to go on."""
    lines = data.split(b"\r\n")
    if any(b"\n" in line or b"\r" in line for line in lines):
        return "550 5.5.2 Error: bare <LF> or <CR> received"
    head = data.split(b"\r\n\r\n", 1)[0]
    if not smtputf8 and not head.isascii():
        return "553 5.6.7 8-bit header fields need SMTPUTF8 (RFC 6532)"
    return None


class _Controller(Controller):  # type: ignore[misc]
    def __init__(self, relay: FaultyRelay, **kwargs: Any) -> None:
        self.relay = relay
        super().__init__(_Handler(relay), **kwargs)

    def factory(self) -> SMTP:
        with self.relay.lock:
            self.relay.counters.connections += 1
        return super().factory()


class _Silent:
    """A listener that accepts connections and never says a word (a hung relay)."""

    def __init__(self, relay: FaultyRelay) -> None:
        self.relay = relay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((relay.host, relay.port))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.held: list[socket.socket] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._accept, name="silent-relay", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.held.append(conn)
            with self.relay.lock:
                self.relay.counters.silent_connections += 1

    def stop(self) -> None:
        self.done.set()
        self.thread.join()
        for conn in self.held:
            conn.close()
        self.sock.close()


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
        strict: bool = True,
        smtputf8: bool = True,
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
        self.strict = strict
        self.smtputf8 = smtputf8
        self._controller: _Controller | None = None
        self._silent: _Silent | None = None
        self._initial_outage = outage

    # -- lifecycle ----------------------------------------------------------------------
    def _make_controller(self) -> _Controller:
        kwargs: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "ready_timeout": 10,
            "enable_SMTPUTF8": self.smtputf8,
        }
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
        if self._silent is not None:
            self._silent.stop()
            self._silent = None

    def __enter__(self) -> FaultyRelay:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- faults -------------------------------------------------------------------------
    def set_outage(self, outage: Outage) -> None:
        """ "421": answer every transaction 421; "refuse": stop listening; "silent": accept
        connections and never answer; None: back up."""
        with self.lock:
            previous, self.outage = self.outage, outage
        down = ("refuse", "silent")
        if previous == outage:
            return
        if previous in down or outage in down:
            self.stop()  # the SMTP server or the silent listener, whichever runs
        if outage == "silent":
            self._silent = _Silent(self)
        elif outage != "refuse" and previous in down:
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
