"""Run digest e-mails on AWS: the digest function hands a digest request here; the run's
report is built from the DynamoDB runs table (uvqc.adapters.dynamodb_report), rendered, and
composed into one multipart e-mail with the calibration curve and control-chart violations
as inline PNG and the HTML report attached (uvqc.digest.compose), as the embedded runtime's
SqliteDigestComposer does from its database.

Only the digest function's artifact (`uvqc-digest.zip`, uvqc.aws.build) holds this module
and the plotting stack it needs; the check and notify functions never import it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from datetime import datetime

from uvqc.adapters.dynamodb import DynamoRecordStore
from uvqc.adapters.dynamodb_report import DynamoReportSource
from uvqc.adapters.dynamodb_runs import DynamoRunStore
from uvqc.core.methods import Method
from uvqc.digest.run import run_digest
from uvqc.pipeline.ports import Mailable
from uvqc.pipeline.records import NotificationRequest


class DynamoDigestComposer:
    """DigestComposer port: the digest of a run kept in the runs table of `store`.

    Raises InfrastructureError when the table cannot be read (the message is retried);
    returns None for a run the table does not hold (its plain text is sent)."""

    def __init__(
        self,
        store: DynamoRunStore,
        methods: Mapping[str, Method],
        records: DynamoRecordStore | None = None,
    ) -> None:
        self.store = store
        self.methods = methods
        self.records = records  # the scans of flagged samples (none shown without it)

    def compose(
        self,
        request: NotificationRequest,
        *,
        message_id: str,
        mail_from: str,
        mail_to: Sequence[str],
        date: datetime,
    ) -> Mailable | None:
        batch_id = str((request.run or {}).get("batchId", ""))
        return run_digest(
            DynamoReportSource(self.store, self.records),
            self.methods,
            request,
            message_id=message_id,
            mail_from=mail_from,
            mail_to=mail_to,
            date=date,
            report_command=f"uvqc report {shlex.quote(batch_id)} --aws",
        )
