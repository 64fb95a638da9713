"""Amazon SNS channel: publish the notification (subject + text body) to a topic; the
topic's subscribers (e-mail, chat webhooks, SMS) are the recipients.

Same classification as SES: throttling, 5xx and connection errors are transient; anything
else (NotFound, AuthorizationError, InvalidParameter) is permanent.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from uvqc.adapters.ses import delivery_error
from uvqc.pipeline.ports import Mailable

if TYPE_CHECKING:
    from uvqc.settings import Settings

SUBJECT_CHARS = 99  # SNS Publish: < 100 characters, no line breaks or control characters


def sns_subject(subject: str) -> str:
    """An e-mail subject made acceptable to SNS: printable ASCII (SNS documented ASCII
    starting with a letter, digit or punctuation; e-mail endpoints need it), < 100
    characters, no line breaks. Accents are dropped (`Zürich` -> `Zurich`), other
    non-ASCII characters become `?`; the body keeps the exact sample ID."""
    plain = unicodedata.normalize("NFKD", subject)
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in plain).strip()
    return (text or "uvqc notification")[:SUBJECT_CHARS].rstrip()


class SnsChannel:
    """Channel `sns`: one Publish per notification to UVQC_SNS_TOPIC_ARN."""

    name = "sns"

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._sns = client
        self._topic = topic_arn

    @contextmanager
    def open(self) -> Iterator[SnsChannel]:
        yield self

    def destination(self, email: Mailable) -> str:
        """Where e-mails go (for the ledger and `uvqc trace`): `sns <topic arn>`."""
        return f"sns {self._topic}"

    def send(self, email: Mailable, recipients: Sequence[str]) -> tuple[str, ...]:
        attributes = {
            name: {"DataType": "String", "StringValue": str(email.get(header))}
            for name, header in (
                ("sampleId", "X-UVQC-Sample-Id"),
                ("notificationKey", "X-UVQC-Notification-Key"),
                ("verdict", "X-UVQC-Verdict"),
            )
            if email.get(header)
        }
        try:
            self._sns.publish(
                TopicArn=self._topic,
                Subject=sns_subject(str(email.get("Subject"))),
                Message=email.body,
                MessageAttributes=attributes,
            )
        except (BotoCoreError, ClientError) as exc:
            raise delivery_error(exc, "SNS") from exc
        # The topic accepted it on behalf of its subscribers.
        return tuple(recipients)


def make_channel(settings: Settings) -> SnsChannel:
    """The `sns` channel (called lazily by uvqc.adapters.channels.make_channel)."""
    from uvqc.adapters.boto import client
    from uvqc.errors import SettingsError

    if not settings.sns_topic_arn:
        raise SettingsError("channel sns needs UVQC_SNS_TOPIC_ARN (the topic to publish to)")
    return SnsChannel(client("sns"), settings.sns_topic_arn)
