"""Which lab days the embedded worker's automatic daily digest queues now. Pure.

The automatic digest of a lab day is due once the lab's clock has passed the configured
time (UVQC_DAILY_DIGEST_AT) on the next day. Its own mark, the last lab day queued
automatically, is separate from the per-day content marks (uvqc.daily.send.DailyMarks), so a
digest queued by hand (`uvqc digest daily --date ...`) never stops the automatic one: each
due day goes through the repeat-only-on-change path (unchanged since queued: nothing; changed:
an update).

Catch-up: every due day after the last automatically queued one is queued, oldest first, at
most CATCH_UP_DAYS of them (a worker down for two weeks sends the last week; older days are
reported as skipped and can be queued by hand). Without a mark (the first tick of a new
database, or one upgraded from a uvqc without it) only yesterday is due, once it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from uvqc.daily.digest import zone

CATCH_UP_DAYS = 7  # due days queued by one tick at most (a week of e-mails, not a flood)


@dataclass(frozen=True, slots=True)
class DueDays:
    """The days to queue now, oldest first, and the due days left out by the bound."""

    days: tuple[date, ...] = ()
    skipped: tuple[date, ...] = ()  # oldest first; non-empty only after a long outage


def latest_due(now: datetime, tz: str, at: time) -> date:
    """The latest lab day whose automatic digest is due at `now`: yesterday once the local
    clock has passed `at`, else the day before yesterday."""
    local = now.astimezone(zone(tz))
    return local.date() - timedelta(days=1 if local.time() >= at else 2)


def due_days(
    now: datetime, tz: str, at: time, last: date | None, *, limit: int = CATCH_UP_DAYS
) -> DueDays:
    """The days after `last` (the last lab day queued automatically; None: never) up to the
    latest due day, at most `limit` of them (the newest); the older ones are `skipped`."""
    latest = latest_due(now, tz, at)
    if last is None:  # a new database: yesterday, once due; no history to catch up on
        last = now.astimezone(zone(tz)).date() - timedelta(days=2)
    if last >= latest:
        return DueDays()
    count = (latest - last).days
    every = tuple(last + timedelta(days=i) for i in range(1, count + 1))
    return DueDays(every[-limit:], every[:-limit] if count > limit else ())
