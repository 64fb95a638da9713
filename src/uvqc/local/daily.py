"""The daily digest on the embedded runtime: `uvqc digest daily` and the worker's daily tick
queue it on the database's notify queue (the worker sends it like every e-mail).

The tick (UVQC_DAILY_DIGEST_AT = "HH:MM" in UVQC_DAILY_DIGEST_TIMEZONE): once the lab's
clock has passed that time, yesterday's digest is queued, and every day missed since the last
automatic digest (the worker was down), at most uvqc.daily.schedule.CATCH_UP_DAYS. The
automatic digest has its own mark in the database (the last day it queued: once per lab day,
surviving restarts); each day goes through the repeat-only-on-change path, so a day already
queued by hand with the same content queues nothing and a changed one queues an update.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time

from uvqc.adapters.sqlite.daily import SqliteDailyMarks, SqliteDaySource
from uvqc.adapters.sqlite.db import transaction
from uvqc.daily.schedule import due_days
from uvqc.daily.send import Queued, queue_daily
from uvqc.local.runtime import Database
from uvqc.settings import Settings

log = logging.getLogger(__name__)


def queue_day(
    db: Database, settings: Settings, day: date, now: datetime, *, automatic: bool = False
) -> Queued:
    """Queue the digest of `day` (unless unchanged): reads, the notify-queue row and the
    marks in one transaction on the worker's connection (`automatic`: also the automatic
    digest's mark, so a crash before the commit queues the day again, with the same key)."""
    with transaction(db.work_conn) as c:
        marks = SqliteDailyMarks(c)
        queued = queue_daily(
            SqliteDaySource(c, db.notify),
            marks,
            db.notify_port,
            lab=settings.daily_digest_lab,
            day=day,
            tz=settings.daily_digest_timezone,
            now=now,
        )
        if automatic:
            marks.remember_automatic(settings.daily_digest_lab, day)
        return queued


@dataclass(frozen=True, slots=True)
class Tick:
    """What one automatic tick did: each due day's outcome, and the days skipped."""

    queued: tuple[Queued, ...] = ()
    skipped: tuple[date, ...] = ()


def tick(db: Database, settings: Settings, now: datetime) -> Tick:
    """Queue the automatic digest of every due lab day (uvqc.daily.schedule.due_days), oldest
    first; nothing when UVQC_DAILY_DIGEST_AT is unset. Days skipped by the catch-up bound
    are logged as a warning naming the command that queues them by hand."""
    if settings.daily_digest_at is None:
        return Tick()
    lab = settings.daily_digest_lab
    due = due_days(
        now,
        settings.daily_digest_timezone,
        time.fromisoformat(settings.daily_digest_at),
        SqliteDailyMarks(db.work_conn).last_automatic(lab),
    )
    if due.skipped:
        log.warning(
            "daily digest: %d missed lab day(s) %s to %s are older than the catch-up bound; "
            "queue each by hand: uvqc digest daily --date YYYY-MM-DD",
            len(due.skipped),
            due.skipped[0].isoformat(),
            due.skipped[-1].isoformat(),
        )
    queued = tuple(queue_day(db, settings, day, now, automatic=True) for day in due.days)
    return Tick(queued, due.skipped)
