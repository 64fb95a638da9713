"""Amazon SES channel: SendRawEmail with the composed e-mail, so uvqc's own headers
(X-UVQC-Sample-Id, X-UVQC-Notification-Key, ...) reach the recipients unchanged.

Note: SES assigns its own Message-ID to what it sends; uvqc's identity of a notification is
the X-UVQC-Notification-Key header (and the ledger), not the Message-ID, on this channel.
Throttling, 5xx and connection errors are transient (and mark the channel down for the
circuit breaker); everything else SES refuses (MessageRejected, MailFromDomainNotVerified, an
unverified identity) is permanent.

Addresses: SES takes no non-ASCII local part (no SMTPUTF8); domains go as IDNA A-labels and
the `Source` display name as RFC 2047 encoded-words. A recipient with a non-ASCII local part
fails permanently with that reason (the others still get the e-mail); such a sender fails
the whole e-mail.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from uvqc.adapters.boto import describe, error_code, http_status
from uvqc.errors import PermanentDeliveryError, TransientDeliveryError
from uvqc.pipeline.addresses import parse_mailbox
from uvqc.pipeline.ports import Mailable

if TYPE_CHECKING:
    from uvqc.settings import Settings

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def delivery_error(exc: BotoCoreError | ClientError, service: str) -> Exception:
    """Classify an SDK error from a sending service as transient or permanent."""
    if isinstance(exc, BotoCoreError):  # connection refused/reset, read timeout
        return TransientDeliveryError(f"{service}: {describe(exc)}", channel_down=True)
    if error_code(exc) in TRANSIENT_CODES or http_status(exc) >= 500:
        return TransientDeliveryError(f"{service}: {describe(exc)}", channel_down=True)
    return PermanentDeliveryError(f"{service}: {describe(exc)}")


class SesChannel:
    """Channel `ses`: one SendRawEmail per notification, from the verified identity."""

    name = "ses"

    def __init__(self, client: Any, *, configuration_set: str | None = None) -> None:
        self._ses = client
        self._configuration_set = configuration_set

    @contextmanager
    def open(self) -> Iterator[SesChannel]:
        yield self

    def destination(self, email: Mailable) -> str:
        """Where e-mails go (for the ledger and `uvqc trace`): `ses <region> from <source>`."""
        region = getattr(getattr(self._ses, "meta", None), "region_name", None) or "?"
        return f"ses {region} from {email.mail_from}"

    def send(self, email: Mailable, recipients: Sequence[str]) -> tuple[str, ...]:
        sender = parse_mailbox(email.mail_from)
        source = sender.header()  # encoded display name, IDNA domain
        if source is None:
            raise PermanentDeliveryError(_no_utf8([sender.addr_spec]))
        destinations = {r: parse_mailbox(r).envelope() for r in recipients}
        unsendable = [r for r, d in destinations.items() if d is None]
        sendable = {r: d for r, d in destinations.items() if d is not None}
        if not sendable:
            raise PermanentDeliveryError(_no_utf8(unsendable))
        kwargs: dict[str, Any] = {
            "Source": source,
            "Destinations": list(sendable.values()),
            "RawMessage": {"Data": email.as_bytes()},
        }
        if self._configuration_set:
            kwargs["ConfigurationSetName"] = self._configuration_set
        try:
            self._ses.send_raw_email(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise delivery_error(exc, "SES") from exc
        if unsendable:
            raise PermanentDeliveryError(_no_utf8(unsendable), accepted=tuple(sendable))
        return tuple(sendable)


def _no_utf8(addresses: Sequence[str]) -> str:
    return (
        f"SES: {', '.join(addresses)}: SES does not accept a non-ASCII local part (no "
        "SMTPUTF8); use an ASCII alias, or the smtp channel with a relay that offers SMTPUTF8"
    )


def make_channel(settings: Settings) -> SesChannel:
    """The `ses` channel (called lazily by uvqc.adapters.channels.make_channel)."""
    from uvqc.adapters.boto import client

    return SesChannel(client("ses"))
