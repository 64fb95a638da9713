"""Lambda entry point of the daily digest: invoked by an EventBridge Scheduler schedule (cron
in the lab's time zone, off unless the stage's `dailyDigest` param enables it), it reads the
previous lab day from the runs and records tables and puts its digest on the notify queue;
the notify function sends it (multipart text + HTML on SES and SMTP, text on SNS).

An invocation with `{"date": "YYYY-MM-DD"}` (the console, `aws lambda invoke`) queues that
day's digest instead: an unchanged day queues nothing, a changed one an update; a future date
is refused (DailyDigestError). The schedule only reports yesterday: a day missed (the
function failed past the scheduler's retries, or the schedule was off) is queued by such an
invocation; each day goes through the same repeat-only-on-change path. A failure
raises, so the invocation counts as an error (alarm `DailyDigestErrors`); the scheduler
retries it (its default retry policy), and the notify ledger drops a repeated key.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from uvqc.adapters import boto
from uvqc.adapters.dynamodb_daily import DynamoDailyMarks, DynamoDaySource
from uvqc.adapters.sqs import SqsNotificationQueue
from uvqc.aws.observability import logger, metrics
from uvqc.daily.digest import check_day, parse_day, previous_day
from uvqc.daily.send import queue_daily
from uvqc.errors import SettingsError
from uvqc.pipeline.records import utcnow
from uvqc.settings import Settings, load_settings


@dataclass(frozen=True, slots=True)
class DailyWiring:
    settings: Settings
    source: DynamoDaySource
    marks: DynamoDailyMarks
    notify: SqsNotificationQueue


@functools.cache
def wiring() -> DailyWiring:
    settings = load_settings()
    if not (
        settings.runs_table
        and settings.records_table
        and settings.ledger_table
        and settings.notify_queue_url
    ):
        raise SettingsError(
            "the daily digest function needs UVQC_RUNS_TABLE, UVQC_RECORDS_TABLE, "
            "UVQC_LEDGER_TABLE and UVQC_NOTIFY_QUEUE_URL"
        )
    dynamodb, sqs = boto.client("dynamodb"), boto.client("sqs")
    return DailyWiring(
        settings=settings,
        source=DynamoDaySource(
            dynamodb,
            runs_table=settings.runs_table,
            records_table=settings.records_table,
            sqs=sqs,
            notify_dlq_url=settings.notify_dlq_url,
        ),
        marks=DynamoDailyMarks(dynamodb, settings.ledger_table),
        notify=SqsNotificationQueue(sqs, settings.notify_queue_url),
    )


def reset() -> None:
    wiring.cache_clear()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    w = wiring()
    now = utcnow()
    tz = w.settings.daily_digest_timezone
    given = event.get("date") if isinstance(event, Mapping) else None
    day = parse_day(str(given)) if given else previous_day(now, tz)
    check_day(day, now, tz)  # a future or out-of-range date raises (an invocation error)
    queued = queue_daily(
        w.source,
        w.marks,
        w.notify,
        lab=w.settings.daily_digest_lab,
        day=day,
        tz=tz,
        now=now,
    )
    metrics.add_metric(
        name="DailyDigestsQueued", unit=MetricUnit.Count, value=0 if queued.request is None else 1
    )
    logger.info(queued.describe())
    return {
        "date": day.isoformat(),
        "key": None if queued.request is None else queued.request.key,
        "update": queued.update,
    }
