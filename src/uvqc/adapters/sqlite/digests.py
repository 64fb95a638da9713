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

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from uvqc.adapters.sqlite.db import connect_readonly
from uvqc.adapters.sqlite.report_source import SqliteReportSource
from uvqc.core.methods import Method
from uvqc.pipeline.ports import Mailable
from uvqc.pipeline.records import NotificationRequest
from uvqc.report.assemble import report_for


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
        batch_id = str((request.run or {}).get("batchId", ""))
        conn = connect_readonly(self.path)
        try:
            report = report_for(SqliteReportSource(conn), self.methods, batch_id)
        finally:
            conn.close()
        if report is None:
            return None
        from uvqc.digest.compose import compose_digest
        from uvqc.report.figures import run_figures
        from uvqc.report.render import render_html

        figures = run_figures(report, "png")
        return compose_digest(
            report,
            key=request.key,
            mail_from=mail_from,
            mail_to=mail_to,
            date=date,
            report_html=render_html([report], generated=date, figures=[figures]),
            trace_hint=f"Notification key: {request.key}\nFull report: uvqc report {batch_id}",
            message_id=message_id,
            figures=figures,
        )
