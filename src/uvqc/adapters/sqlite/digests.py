"""Run digest e-mails on the embedded runtime: the notify stage hands a digest request here;
the run's report is built from the database (a read-only connection of its own, so the
worker's connections and transactions are untouched; only this run is decided again, its
charts' history is the chart points the run store kept), and composed into one multipart
e-mail with the calibration curve and control-chart violations as inline PNG and the HTML
report attached (uvqc.digest.compose). Each figure is drawn once, as PNG, for both the
inline images and the attached report. Jinja2 and matplotlib are imported here only when a
digest is composed.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from uvqc.adapters.sqlite.db import connect_readonly
from uvqc.adapters.sqlite.report_source import SqliteReportSource
from uvqc.core.methods import Method
from uvqc.pipeline.ports import Mailable
from uvqc.pipeline.records import NotificationRequest


class SqliteDigestComposer:
    """DigestComposer port: the digest of a run stored in the database at `path`."""

    def __init__(self, path: Path, methods: Mapping[str, Method]) -> None:
        self.path = path
        self.methods = methods

    def compose(
        self,
        request: NotificationRequest,
        *,
        message_id: str,
        mail_from: str,
        mail_to: Sequence[str],
        date: datetime,
    ) -> Mailable | None:
        from uvqc.digest.run import run_digest

        batch_id = str((request.run or {}).get("batchId", ""))
        conn = connect_readonly(self.path)
        try:
            return run_digest(
                SqliteReportSource(conn),
                self.methods,
                request,
                message_id=message_id,
                mail_from=mail_from,
                mail_to=mail_to,
                date=date,
                report_command=f"uvqc report {shlex.quote(batch_id)} --db {self.path}",
            )
        finally:
            conn.close()
