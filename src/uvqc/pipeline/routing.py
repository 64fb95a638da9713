"""Run digest requests to a queue of their own: a NotificationQueue that sends each request
whose `run.kind` is "digest" to `digests` and every other one to `notify`. On AWS the digest
queue is consumed by the digest function, the only one whose artifact holds the plotting
stack, so the notify function (text-only for digests) never sees them (docs/AWS.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from uvqc.pipeline.ports import NotificationQueue
from uvqc.pipeline.records import NotificationRequest, is_digest


class DigestRouter:
    """NotificationQueue: digests to `digests`, the rest to `notify`; the record ids of the
    requests either queue could not take (each queue is tried, whatever the other did)."""

    def __init__(self, notify: NotificationQueue, digests: NotificationQueue) -> None:
        self.notify = notify
        self.digests = digests

    def publish(self, requests: Sequence[NotificationRequest]) -> set[str]:
        ours = [r for r in requests if is_digest(r)]
        rest = [r for r in requests if not is_digest(r)]
        failed: set[str] = set()
        if rest:
            failed |= self.notify.publish(rest)
        if ours:
            failed |= self.digests.publish(ours)
        return failed


__all__: Sequence[str] = ["DigestRouter", "is_digest"]
