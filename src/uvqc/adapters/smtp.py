"""The `smtp` channel: one connection per batch, replies classified by RFC 5321.

4yz replies, timeouts, refused or dropped connections -> TransientDeliveryError (retry later);
5yz replies -> PermanentDeliveryError (dead-letter). Connection-level failures (refused,
dropped, timed out, 421) are marked `channel_down` for the circuit breaker. A dropped
connection (SMTPServerDisconnected) is reopened once before the failure counts; a timeout is
not (a relay that accepts TCP and never answers would cost two timeouts per message).

Addresses: envelope addresses carry IDNA domains; a local part that is not ASCII needs
SMTPUTF8 (RFC 6531). If the relay offers it, the transaction uses `MAIL FROM:<..> SMTPUTF8`
and UTF-8 headers (RFC 6532); if not, those recipients fail permanently with the reason (the
others still get the e-mail), and a non-ASCII sender fails the whole e-mail. Passwords
never reach a log line or an error message.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from ssl import SSLContext, create_default_context

from uvqc.errors import PermanentDeliveryError, TransientDeliveryError
from uvqc.pipeline.addresses import Mailbox, parse_mailbox
from uvqc.pipeline.ports import Mailable

log = logging.getLogger("uvqc.adapters.smtp")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int = 25
    starttls: bool = False
    ssl: bool = False  # implicit TLS (port 465)
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0
    mail_from: str | None = None  # envelope sender; the From header when None
    ssl_context: SSLContext | None = None

    def __repr__(self) -> str:  # never show the password
        return f"SmtpConfig(host={self.host!r}, port={self.port}, user={self.username!r})"


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(message.split())}"


def _classify_refused(refused: dict[str, tuple[int, bytes]], accepted: tuple[str, ...]) -> None:
    """Raise for refused recipients: any 4xx -> transient (unless some got a 5xx and others
    were accepted: then permanent, keeping who accepted, so a redrive sends to the rest)."""
    details = "; ".join(f"{rcpt}: {_reply(code, msg)}" for rcpt, (code, msg) in refused.items())
    permanent = [r for r, (code, _) in refused.items() if code >= 500]
    if accepted and permanent:
        raise PermanentDeliveryError(f"recipients refused: {details}", accepted=accepted)
    if len(permanent) < len(refused):
        raise TransientDeliveryError(f"recipients deferred: {details}", accepted=accepted)
    raise PermanentDeliveryError(f"recipients refused: {details}", accepted=accepted)


def _timed_out(exc: BaseException) -> bool:
    """smtplib reports a read timeout as SMTPServerDisconnected('... timed out')."""
    return isinstance(exc.__cause__ or exc.__context__, TimeoutError) or "timed out" in str(exc)


def _no_smtputf8(where: str, boxes: Iterable[Mailbox]) -> str:
    names = ", ".join(m.addr_spec for m in boxes if m.needs_smtputf8)
    return (
        f"{names}: a non-ASCII local part needs SMTPUTF8 (RFC 6531), which {where} does not "
        "offer; use a relay that offers SMTPUTF8 or an ASCII alias for this address"
    )


class SmtpSender:
    """An SMTP session for one batch: connects lazily, reuses the connection."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None
        self.connections = 0

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        smtp: smtplib.SMTP
        if c.ssl:
            context = c.ssl_context or create_default_context()
            smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=context)
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        try:
            smtp.ehlo_or_helo_if_needed()
            if c.starttls:
                smtp.starttls(context=c.ssl_context or create_default_context())
                smtp.ehlo()
            if c.username:
                smtp.login(c.username, c.password or "")
        except BaseException:
            smtp.close()
            raise
        self.connections += 1
        return smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError) as exc:  # the batch is done either way
            log.debug("SMTP QUIT failed (%s); connection closed", exc)
            smtp.close()

    def send(self, email: Mailable, recipients: Sequence[str]) -> tuple[str, ...]:
        try:
            try:
                return self._send_once(email, recipients)
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if _timed_out(exc):
                    raise
                log.info("SMTP connection lost; reconnecting once")
                return self._send_once(email, recipients)
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as exc:
            self._drop()
            what = "timed out" if _timed_out(exc) else "lost"
            raise TransientDeliveryError(
                f"connection to {self._where()} {what}: {exc}", channel_down=True
            ) from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:  # smtplib closed the socket itself; RSET was sent otherwise
                self._drop()
            reason = f"{self._where()} replied {_reply(exc.smtp_code, exc.smtp_error)}"
            if 400 <= exc.smtp_code < 500:
                raise TransientDeliveryError(reason, channel_down=exc.smtp_code == 421) from exc
            raise PermanentDeliveryError(reason) from exc
        except smtplib.SMTPNotSupportedError as exc:  # e.g. STARTTLS or AUTH not offered
            self._drop()
            raise PermanentDeliveryError(f"{self._where()}: {exc}") from exc
        except smtplib.SMTPException as exc:  # other protocol trouble: worth another try
            self._drop()
            raise TransientDeliveryError(f"{self._where()}: {exc}") from exc
        except OSError as exc:  # refused, reset, timeout, TLS failure
            self._drop()
            raise TransientDeliveryError(
                f"cannot reach {self._where()}: {type(exc).__name__}: {exc}", channel_down=True
            ) from exc

    def _send_once(self, email: Mailable, recipients: Sequence[str]) -> tuple[str, ...]:
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        sender = parse_mailbox(self.config.mail_from or email.mail_from)
        boxes = {r: parse_mailbox(r) for r in recipients}
        wanted = email.needs_smtputf8 or sender.needs_smtputf8
        wanted = wanted or any(b.needs_smtputf8 for b in boxes.values())
        utf8 = wanted and smtp.has_extn("smtputf8")
        envelope = {r: b.envelope(smtputf8=utf8) for r, b in boxes.items()}
        unsendable = [r for r, e in envelope.items() if e is None]
        mail_from = sender.envelope(smtputf8=utf8)
        if mail_from is None or len(unsendable) == len(recipients):
            raise PermanentDeliveryError(
                _no_smtputf8(self._where(), [sender] if mail_from is None else boxes.values())
            )
        by_envelope = {e: r for r, e in envelope.items() if e is not None}
        options = ["SMTPUTF8"] if utf8 else []
        if utf8 and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")  # UTF-8 header fields are 8-bit data
        try:
            refused_env = smtp.sendmail(
                mail_from, list(by_envelope), email.as_bytes(smtputf8=utf8), options
            )
        except smtplib.SMTPRecipientsRefused as exc:  # smtplib has already sent RSET
            _classify_refused({by_envelope.get(k, k): v for k, v in exc.recipients.items()}, ())
            raise  # unreachable: _classify_refused always raises
        refused = {by_envelope.get(k, k): v for k, v in refused_env.items()}
        accepted = tuple(r for r in by_envelope.values() if r not in refused)
        if refused:
            _classify_refused(refused, accepted)
        if unsendable:
            raise PermanentDeliveryError(
                _no_smtputf8(self._where(), [boxes[r] for r in unsendable]), accepted=accepted
            )
        return accepted

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _where(self) -> str:
        return f"SMTP {self.config.host}:{self.config.port}"


class SmtpChannel:
    """Channel port over SMTP."""

    name = "smtp"

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def destination(self, email: Mailable) -> str:
        """Where e-mails go (for the ledger and `uvqc trace`): `smtp HOST:PORT`."""
        return f"smtp {self.config.host}:{self.config.port}"

    @contextmanager
    def open(self) -> Iterator[SmtpSender]:
        sender = SmtpSender(self.config)
        try:
            yield sender
        finally:
            sender.close()
