"""Where the functions that publish run notices (check, runs) queue them: the notify queue,
and run digests to the digest queue when UVQC_DIGEST_QUEUE_URL is set (its function composes
them with figures; without it the notify function sends a digest's plain text)."""

from __future__ import annotations

from uvqc.adapters import boto
from uvqc.adapters.sqs import SqsNotificationQueue
from uvqc.pipeline.ports import NotificationQueue
from uvqc.pipeline.routing import DigestRouter


def notice_queue(notify_url: str, digest_url: str | None) -> NotificationQueue:
    """The notify queue, or a DigestRouter over it and the digest queue."""
    notify = SqsNotificationQueue(boto.client("sqs"), notify_url)
    if not digest_url:
        return notify
    return DigestRouter(notify, SqsNotificationQueue(boto.client("sqs"), digest_url))
