"""Run digest e-mails on the embedded runtime: one digest per final run, composed by
uvqc.digest (text + HTML + inline PNG + the report attached), sent through the same channel
and ledger as every e-mail; unchanged re-finalisation sends nothing; the stop-the-run
decisions still go out at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import cast

from tests.embedded.test_runs import BATCH, METHOD, lines
from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker
from uvqc.pipeline.email import compose
from uvqc.pipeline.records import NotificationRequest


def mails(outbox: Path) -> list[EmailMessage]:
    return [
        cast(EmailMessage, message_from_bytes(p.read_bytes(), policy=policy.default))
        for p in sorted(outbox.glob("*.eml"))
    ]


def digests(outbox: Path) -> list[EmailMessage]:
    return [m for m in mails(outbox) if m["X-UVQC-Batch-Id"] and not m["X-UVQC-Run-Decision"]]


def test_a_final_run_sends_one_digest_with_figures_and_the_report(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    rt = make_runtime(method=METHOD)
    rt.db.intake_port.submit(lines())
    Worker(rt).run_until_idle()
    outbox = tmp_path / "outbox"
    decisions = sorted(
        str(m["X-UVQC-Run-Decision"]) for m in mails(outbox) if m["X-UVQC-Run-Decision"]
    )
    assert decisions == ["above_calibration", "check_standard_failed"]  # immediate, as before
    (digest,) = digests(outbox)
    assert digest["Subject"] == f"Run {BATCH}: flag"
    (key,) = rt.db.conn.execute("SELECT key FROM run_notices WHERE code = 'digest'").fetchone()
    (mid,) = rt.db.conn.execute(
        "SELECT message_id FROM notifications WHERE key = ? AND status = 'sent'", (key,)
    ).fetchone()
    assert digest["Message-ID"] == mid and digest["X-UVQC-Notification-Key"] == key
    text = digest.get_body(("plain",))
    html = digest.get_body(("html",))
    assert text is not None and html is not None
    body = text.get_content()
    assert "Results:     64 (12 flag, 52 pass)" in body
    assert "Re-measure:" in body and "W-1128-09" in body and "check_standard_failed" in body
    assert f"Full report: uvqc report {BATCH} --db {rt.db.path}" in body  # runnable as is
    images = [p for p in digest.walk() if p.get_content_type() == "image/png"]
    assert len(images) >= 2  # the two calibration curves at least
    for image in images:
        cid = str(image["Content-ID"]).strip("<>")
        assert f"cid:{cid}" in html.get_content()
        assert cast(bytes, image.get_content()).startswith(b"\x89PNG")
    (report,) = [p for p in digest.iter_attachments() if p.get_content_type() == "text/html"]
    assert BATCH in report.get_content() and "<svg" not in report.get_content()[:100]
    # the same run again (a redrive): the decision is unchanged, no second digest
    rt.db.intake_port.submit(lines())
    Worker(rt).run_until_idle()
    assert len(digests(outbox)) == 1


def test_a_channel_without_a_digest_composer_sends_the_digests_plain_text(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = make_runtime(method=METHOD)
    rt.db.intake_port.submit(lines())
    Worker(rt).run_until_idle()
    (text,) = rt.db.conn.execute("SELECT request FROM run_notices WHERE code = 'digest'").fetchone()
    request = NotificationRequest.from_json(text)
    assert json.loads(text)["run"]["kind"] == "digest"
    email = compose(request, mail_from="uvqc@lab.example", mail_to=("lab@lab.example",))
    assert email["Subject"] == f"Run {BATCH}: flag (digest)"
    assert f"Full report: uvqc report {BATCH}" in email.body and "Re-measure:" in email.body
