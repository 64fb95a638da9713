"""Amazon SES channel: SendRawEmail with the composed e-mail, so uvqc's own headers
(X-UVQC-Sample-Id, X-UVQC-Notification-Key, ...) reach the recipients unchanged.

Note: SES assigns its own Message-ID to what it sends; uvqc's identity of a notification is
the X-UVQC-Notification-Key header (and the ledger), not the Message-ID, on this channel.
Throttling, 5xx and connection errors are transient; everything else SES refuses
(MessageRejected, MailFromDomainNotVerified, an unverified identity) is permanent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from uvqc.adapters.boto import describe, error_code, http_status
from uvqc.errors import PermanentDeliveryError, TransientDeliveryError
from uvqc.pipeline.email import Email

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
        return TransientDeliveryError(f"{service}: {describe(exc)}")
    if error_code(exc) in TRANSIENT_CODES or http_status(exc) >= 500:
        return TransientDeliveryError(f"{service}: {describe(exc)}")
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

    def destination(self, email: Email) -> str:
        """Where e-mails go (for the ledger and `uvqc trace`): `ses <region> from <source>`."""
        region = getattr(getattr(self._ses, "meta", None), "region_name", None) or "?"
        return f"ses {region} from {email.mail_from}"

    def send(self, email: Email, recipients: Sequence[str]) -> tuple[str, ...]:
        kwargs: dict[str, Any] = {
            "Source": email.mail_from,
            "Destinations": list(recipients),
            "RawMessage": {"Data": email.as_bytes()},
        }
        if self._configuration_set:
            kwargs["ConfigurationSetName"] = self._configuration_set
        try:
            self._ses.send_raw_email(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise delivery_error(exc, "SES") from exc
        return tuple(recipients)


def make_channel(settings: Settings) -> SesChannel:
    """The `ses` channel (called lazily by uvqc.adapters.channels.make_channel)."""
    from uvqc.adapters.boto import client

    return SesChannel(client("ses"))
