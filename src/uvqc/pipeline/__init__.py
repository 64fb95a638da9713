"""The two stages (check, notify), written against small ports, independent of transport."""

from uvqc.pipeline.check import CheckOutcome, Incoming, check_batch
from uvqc.pipeline.notify import (
    Delivery,
    MailSettings,
    NotifyResult,
    Outcome,
    RetryPolicy,
    notify_batch,
)

__all__ = [
    "CheckOutcome",
    "Delivery",
    "Incoming",
    "MailSettings",
    "NotifyResult",
    "Outcome",
    "RetryPolicy",
    "check_batch",
    "notify_batch",
]
