"""Lambda entry point of the digest function: digest-queue SQS batch -> `notify_batch` with a
DigestComposer on the runs table -> partial batch response, exactly as the notify function
(same ledger, so a digest key is sent once whichever function sees it; same retries and
dead-lettering, to the digest DLQ).

A function of its own because composing a digest draws figures: matplotlib and numpy are
~75 MB of memory and hundreds of ms of import, which the notify function (128 MB, every
flagged result) should not carry. Its artifact is `uvqc-digest.zip` (uvqc.aws.build);
the check and runs functions route digest requests here (UVQC_DIGEST_QUEUE_URL).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from uvqc.adapters import boto
from uvqc.adapters.dynamodb import DynamoRecordStore
from uvqc.adapters.dynamodb_digests import DynamoDigestComposer
from uvqc.adapters.dynamodb_runs import DynamoRunStore
from uvqc.aws import notify_handler
from uvqc.aws.observability import logger, metrics
from uvqc.core.methods import MethodBook
from uvqc.errors import SettingsError
from uvqc.settings import load_settings


@functools.cache  # one per container: Lambda runs one invocation at a time in it
def wiring() -> notify_handler.NotifyWiring:
    """The container's wiring, built on first use from the UVQC_* environment."""
    settings = load_settings()
    if not settings.runs_table or not settings.digest_dlq_url:
        raise SettingsError(
            "the digest function needs UVQC_RUNS_TABLE, UVQC_DIGEST_DLQ_URL and UVQC_LEDGER_TABLE"
        )
    methods = MethodBook.from_paths([settings.method] if settings.method else [])
    db = boto.client("dynamodb")
    store = DynamoRunStore(db, settings.runs_table, methods)
    records = DynamoRecordStore(db, settings.records_table) if settings.records_table else None
    return notify_handler.build_wiring(
        settings,
        dlq_url=settings.digest_dlq_url,
        digests=DynamoDigestComposer(store, methods, records),
    )


def reset() -> None:
    """Rebuild the wiring on the next invocation (tests that change the environment)."""
    wiring.cache_clear()


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    return notify_handler.process(wiring(), event, context)
