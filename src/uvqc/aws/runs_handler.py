"""Lambda entry point that finalises quiet runs: scheduled (EventBridge, every minute), it
finds open runs without a new result for UVQC_RUN_QUIET_SECONDS (the runs table's sparse
`openRuns` index), decides them as final and queues their decisions on the notify queue;
it also sends the groups of held run decisions that are due (uvqc.runs.grouping; a group
goes out up to one schedule period after its interval).
A failure raises, so the invocation counts as an error (alarm `RunsFinaliseErrors`) and the
next schedule tries again: nothing is lost, notices stay unconfirmed until queued.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from uvqc.adapters import boto
from uvqc.adapters.dynamodb_runs import DynamoRunStore
from uvqc.aws.observability import logger, metrics
from uvqc.aws.queues import notice_queue
from uvqc.core.methods import MethodBook
from uvqc.errors import InfrastructureError, SettingsError
from uvqc.pipeline.check import publish_notices
from uvqc.pipeline.ports import NotificationQueue
from uvqc.pipeline.records import utcnow
from uvqc.settings import load_settings


@dataclass(frozen=True, slots=True)
class RunsWiring:
    runs: DynamoRunStore
    notify: NotificationQueue  # run digests to UVQC_DIGEST_QUEUE_URL when set


@functools.cache
def wiring() -> RunsWiring:
    settings = load_settings()
    if not settings.runs_table or not settings.notify_queue_url:
        raise SettingsError("the runs function needs UVQC_RUNS_TABLE and UVQC_NOTIFY_QUEUE_URL")
    methods = MethodBook.from_paths([settings.method] if settings.method else [])
    return RunsWiring(
        runs=DynamoRunStore(
            boto.client("dynamodb"),
            settings.runs_table,
            methods,
            quiet_seconds=settings.run_quiet_seconds,
            grouping=settings.grouping,
        ),
        notify=notice_queue(settings.notify_queue_url, settings.digest_queue_url),
    )


def reset() -> None:
    wiring.cache_clear()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, int]:
    w = wiring()
    now = utcnow()
    notices = w.runs.finalise_quiet(now=now)
    notices += w.runs.flush_groups(now=now)  # a run finalised just now holds nothing
    failed = publish_notices(notices, runs=w.runs, notify=w.notify)
    metrics.add_metric(name="RunNoticesQueued", unit=MetricUnit.Count, value=len(notices))
    logger.info("quiet runs finalised", extra={"notices": len(notices), "failed": len(failed)})
    if failed:
        raise InfrastructureError(f"run notices of {sorted(failed)} not queued; next run retries")
    return {"notices": len(notices)}
