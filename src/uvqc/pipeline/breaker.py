"""A circuit breaker for a notification channel: once the channel is known to be down, stop
trying each message, probe it now and then, resume at full speed when it answers.

The way Postfix defers a site: after `threshold` consecutive channel-level failures (the
relay refused or dropped the connection, timed out, answered 421; SES/SNS unreachable or
throttling) the breaker OPENS. While open, messages are not tried: the notify stage puts them
back with a short delay without counting an attempt. When the probe time comes, one message
is let through (HALF_OPEN): if the channel answers - with anything, a 5xx reply included,
which is about that message and not the channel - the breaker CLOSES and the stage reports a
recovery, so the runtime can make the messages waiting for a retry visible at once; if the
probe fails too, the breaker opens again for twice as long, up to `max_probe_seconds`.

Pure state machine: no I/O, the clock is injected (seconds, monotonic).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uvqc.settings import Settings


class BreakerState(StrEnum):
    CLOSED = "closed"  # the channel works: every message is tried
    OPEN = "open"  # the channel is down: no message is tried until the probe time
    HALF_OPEN = "half-open"  # one probe message is being tried


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """threshold: consecutive channel-level failures that open the breaker; probe_seconds:
    the first wait before a probe, doubled after each failed probe up to max_probe_seconds
    (which bounds how long after the channel's return the backlog starts to drain)."""

    threshold: int = 3
    probe_seconds: float = 2.0
    max_probe_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> BreakerPolicy:
        return cls(
            threshold=settings.breaker_threshold,
            probe_seconds=settings.breaker_probe_seconds,
            max_probe_seconds=settings.breaker_max_probe_seconds,
        )


class CircuitBreaker:
    """One channel's health. Not thread-safe: one per worker (or Lambda container)."""

    def __init__(
        self, policy: BreakerPolicy | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or BreakerPolicy()
        self.clock = clock
        self.state = BreakerState.CLOSED
        self.failures = 0  # consecutive channel-level failures
        self.opened_times = 0  # consecutive openings without a recovery (probe backoff)
        self._probe_at = 0.0
        self._recovered = False
        self.last_reason = ""

    def allow(self) -> bool:
        """May a message be tried now? While OPEN, the first call at or after the probe time
        turns the breaker HALF_OPEN and is the probe; every other call says no."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and self.clock() >= self._probe_at:
            self.state = BreakerState.HALF_OPEN
            return True
        return False

    def retry_in(self) -> float:
        """Seconds until the breaker lets a message through again (0 when closed; while a
        probe is in flight, the probe interval)."""
        if self.state is BreakerState.CLOSED:
            return 0.0
        if self.state is BreakerState.HALF_OPEN:
            return self._interval()
        return max(0.0, self._probe_at - self.clock())

    def record_success(self) -> None:
        """The channel answered (a delivery, or a reply about the message itself)."""
        if self.state is not BreakerState.CLOSED:
            self._recovered = True
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_times = 0

    def record_failure(self, reason: str = "") -> None:
        """A channel-level failure (the channel, not the message, is the problem)."""
        self.last_reason = reason
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.policy.threshold:
            self._open()

    def take_recovery(self) -> bool:
        """True once after the breaker closed again (so the runtime can wake the messages
        waiting for a retry); False otherwise."""
        recovered, self._recovered = self._recovered, False
        return recovered

    @property
    def is_open(self) -> bool:
        return self.state is not BreakerState.CLOSED

    def _interval(self) -> float:
        p = self.policy
        return float(min(p.max_probe_seconds, p.probe_seconds * 2 ** max(0, self.opened_times - 1)))

    def _open(self) -> None:
        self.opened_times += 1
        self.state = BreakerState.OPEN
        self._probe_at = self.clock() + self._interval()
