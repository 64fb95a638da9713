"""The digest of one stored run, as both runtimes' DigestComposers send it: the run's report
(uvqc.report.assemble.report_for, from any ReportSource), each figure drawn once as PNG and
shared by the inline images and the attached HTML report, composed by uvqc.digest.compose.

Imported only where digests are composed (the embedded notify stage, the AWS digest
function): it pulls in Jinja2 and matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from uvqc.core.methods import Method
from uvqc.digest.compose import Digest, compose_digest
from uvqc.pipeline.records import NotificationRequest
from uvqc.report.assemble import ReportSource, report_for
from uvqc.report.figures import run_figures
from uvqc.report.render import render_html


def run_digest(
    source: ReportSource,
    methods: Mapping[str, Method],
    request: NotificationRequest,
    *,
    message_id: str,
    mail_from: str,
    mail_to: Sequence[str],
    date: datetime,
    report_command: str,
) -> Digest | None:
    """The digest e-mail of the run `request` names (`request.run["batchId"]`); None when
    `source` does not hold that run (the notify stage then sends the request's plain text).
    `report_command`: how a reader gets the full report (`uvqc report B --aws`), said in the
    text part. Errors of `source` (InfrastructureError, sqlite3.Error) propagate: the
    notify stage retries the message."""
    run = request.run or {}
    batch_id = str(run.get("batchId", ""))
    report = report_for(source, methods, batch_id)
    if report is None:
        return None
    figures = run_figures(report, "png")
    return compose_digest(
        report,
        key=request.key,
        mail_from=mail_from,
        mail_to=mail_to,
        date=date,
        report_html=render_html([report], generated=date, figures=[figures]),
        trace_hint=f"Notification key: {request.key}\nFull report: {report_command}",
        message_id=message_id,
        figures=figures,
        update=bool(run.get("update")),  # an earlier digest of the run was queued
        withdrawn=[str(w) for w in run.get("withdrawn", [])],
    )
