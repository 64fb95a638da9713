"""The two stages (check, notify), written against small ports, independent of transport.

Names are re-exported lazily, so the notify handler does not import the check stage (and
with it pydantic and the result model) just to reach `uvqc.pipeline.notify`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uvqc.pipeline.check import CheckOutcome, Incoming, check_batch
    from uvqc.pipeline.notify import (
        Delivery,
        MailSettings,
        NotifyResult,
        Outcome,
        RetryPolicy,
        notify_batch,
    )

_EXPORTS = {
    "CheckOutcome": "uvqc.pipeline.check",
    "Incoming": "uvqc.pipeline.check",
    "check_batch": "uvqc.pipeline.check",
    "Delivery": "uvqc.pipeline.notify",
    "MailSettings": "uvqc.pipeline.notify",
    "NotifyResult": "uvqc.pipeline.notify",
    "Outcome": "uvqc.pipeline.notify",
    "RetryPolicy": "uvqc.pipeline.notify",
    "notify_batch": "uvqc.pipeline.notify",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'uvqc.pipeline' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
