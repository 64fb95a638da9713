"""The daily digest on the embedded runtime: `uvqc digest daily` and the worker's daily tick
queue it on the database's notify queue (the worker sends it like every e-mail).

The tick (UVQC_DAILY_DIGEST_AT = "HH:MM" in UVQC_DAILY_DIGEST_TIMEZONE): once the lab's
clock has passed that time, yesterday's digest is queued unless a digest of yesterday was
queued before (by the tick, by another worker, or by hand): once per day, surviving restarts
(the mark is in the database).
"""

from __future__ import annotations

from datetime import date, datetime, time

from uvqc.adapters.sqlite.daily import SqliteDailyMarks, SqliteDaySource
from uvqc.adapters.sqlite.db import transaction
from uvqc.daily.digest import due_day
from uvqc.daily.send import Queued, queue_daily
from uvqc.local.runtime import Database
from uvqc.settings import Settings


def queue_day(db: Database, settings: Settings, day: date, now: datetime) -> Queued:
    """Queue the digest of `day` (unless unchanged): reads, the notify-queue row and the mark
    in one transaction on the worker's connection."""
    with transaction(db.work_conn) as c:
        return queue_daily(
            SqliteDaySource(c, db.notify),
            SqliteDailyMarks(c),
            db.notify_port,
            lab=settings.daily_digest_lab,
            day=day,
            tz=settings.daily_digest_timezone,
            now=now,
        )


def automatic_day(db: Database, settings: Settings, now: datetime) -> date | None:
    """The day the automatic digest should queue now, or None (not configured, not yet
    time, or that day's digest was queued already)."""
    if settings.daily_digest_at is None:
        return None
    at = time.fromisoformat(settings.daily_digest_at)
    day = due_day(now, settings.daily_digest_timezone, at)
    if day is None or SqliteDailyMarks(db.work_conn).last(settings.daily_digest_lab, day):
        return None
    return day
