"""The daily digest on the embedded runtime, through the in-process SMTP relay: one
multipart e-mail per lab day (the run of the day, hostile loose sample IDs escaped), nothing
again while the day is unchanged, an update when a late result changes it, the worker's
automatic send once per day, a crash between queueing and marking sends nothing twice, and
`uvqc digest daily`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import cast

import pytest

from tests.embedded.conftest import result
from tests.embedded.test_runs import BATCH, METHOD, lines
from tests.support.relay import FaultyRelay
from uvqc.adapters.sqlite.daily import SqliteDaySource
from uvqc.cli import main
from uvqc.daily.digest import daily_request
from uvqc.daily.send import day_facts
from uvqc.local.daily import queue_day
from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker

HOSTILE = ["<script>alert(1)</script>", "W-1\u202eG-3", "Probe-ä-µ"]


def daily_mails(relay: FaultyRelay) -> list[EmailMessage]:
    found = [
        cast(EmailMessage, message_from_bytes(m.data, policy=policy.default))
        for m in relay.messages()
    ]
    return [m for m in found if m["X-UVQC-Digest-Date"]]


def today() -> datetime:
    return datetime.now(UTC)


def received(rt: Runtime) -> datetime:
    """When the first stored result arrived (its lab day, even if midnight passed since)."""
    (first,) = rt.db.conn.execute("SELECT MIN(received_at) FROM results").fetchone()
    return datetime.fromisoformat(first.replace("Z", "+00:00"))


def test_one_digest_per_day_escaped_repeated_only_on_change_marked_as_update(
    make_runtime: Callable[..., Runtime], relay: FaultyRelay
) -> None:
    rt = make_runtime(relay, method=METHOD)
    rt.db.intake_port.submit([*lines(), *(result(s, 3.5) for s in HOSTILE)])
    Worker(rt).run_until_idle()
    now = received(rt)
    day = now.date()

    first = queue_day(rt.db, rt.settings, day, now + timedelta(seconds=1))
    assert first.request is not None and not first.update
    Worker(rt).run_until_idle()
    (mail,) = daily_mails(relay)
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Subject"] == f"Daily digest lab {day}: needs attention"
    text = cast(EmailMessage, mail.get_body(("plain",))).get_content()
    html = cast(EmailMessage, mail.get_body(("html",))).get_content()
    assert "Runs of the day (1):" in text and BATCH in text and BATCH in html
    assert "flagged: 3" in text and "Probe-ä-µ" in text and "Probe-ä-µ" in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\u202e" not in text + html and "W-1\\u202eG-3" in text
    (status,) = rt.db.conn.execute(
        "SELECT status FROM notifications WHERE key = ?", (first.request.key,)
    ).fetchone()
    assert status == "sent"

    unchanged = queue_day(rt.db, rt.settings, day, now + timedelta(seconds=2))
    assert unchanged.request is None and "nothing queued" in unchanged.describe()

    rt.db.intake_port.submit([result("late-ä", 3.5)])  # a late result of the same day
    Worker(rt).run_until_idle()
    later = queue_day(rt.db, rt.settings, day, now + timedelta(seconds=3))
    assert later.request is not None and later.update and later.request.key != first.request.key
    Worker(rt).run_until_idle()
    first_mail, update = daily_mails(relay)
    assert update["Subject"] == f"Daily digest lab {day}: needs attention (update)"
    assert update["X-UVQC-Digest-Update"] == "true"
    assert "flagged: 4" in cast(EmailMessage, update.get_body(("plain",))).get_content()
    assert first_mail["Message-ID"] != update["Message-ID"]


def test_a_crash_between_queueing_and_marking_sends_the_digest_once(
    make_runtime: Callable[..., Runtime], relay: FaultyRelay
) -> None:
    rt = make_runtime(relay)
    rt.db.intake_port.submit([result("S-1", 3.5)])
    Worker(rt).run_until_idle()
    now = received(rt)
    request = daily_request(
        day_facts(SqliteDaySource(rt.db.conn), lab="lab", day=now.date(), tz="UTC"),
        update=False,
        now=now,
    )
    rt.db.notify_port.publish([request])  # queued, then the process died before the mark
    queued = queue_day(rt.db, rt.settings, now.date(), now)  # the retry queues it again
    assert queued.request is not None and queued.request.key == request.key
    Worker(rt).run_until_idle()
    assert len(daily_mails(relay)) == 1  # the ledger dropped the second copy


def test_a_quiet_day_sends_nothing_to_report(
    make_runtime: Callable[..., Runtime], relay: FaultyRelay
) -> None:
    rt = make_runtime(relay)
    queued = queue_day(rt.db, rt.settings, today().date() - timedelta(days=3), today())
    assert queued.facts.empty and queued.request is not None
    Worker(rt).run_until_idle()
    (mail,) = daily_mails(relay)
    assert str(mail["Subject"]).endswith(": nothing to report")


def test_the_worker_queues_yesterdays_digest_once_after_the_configured_time(
    make_runtime: Callable[..., Runtime], relay: FaultyRelay
) -> None:
    rt = make_runtime(
        relay, daily_digest_at="07:00", daily_digest_timezone="Europe/Berlin", daily_digest_lab="b1"
    )
    worker = Worker(rt)
    before = datetime(2026, 11, 29, 5, 59, tzinfo=UTC)  # 06:59 in Berlin
    assert worker.daily_once(now=before) == 0
    after = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # 07:00 in Berlin
    assert worker.daily_once(now=after) == 1
    assert worker.daily_once(now=after + timedelta(hours=3)) == 0  # once per day
    # a restarted worker knows it was sent (the mark is in the database)
    assert Worker(rt).daily_once(now=after + timedelta(hours=4)) == 0
    worker.run_until_idle()
    (mail,) = daily_mails(relay)
    assert mail["Subject"] == "Daily digest b1 2026-11-28: nothing to report"
    assert Worker(rt).daily_once(now=after + timedelta(days=1)) == 1  # the next morning


def test_the_daily_tick_is_off_unless_configured(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime()
    assert Worker(rt).daily_once(now=today()) == 0


def test_uvqc_digest_daily_queues_and_prints_and_refuses_bad_input(
    make_runtime: Callable[..., Runtime], db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_runtime()  # the database exists
    assert main(["digest", "daily", "--date", "2026-11-28", "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("queued daily digest lab 2026-11-28: key ")
    assert "nothing to report" in out
    assert main(["digest", "daily", "--date", "2026-11-28", "--db", str(db_path)]) == 0
    assert "unchanged since queued; nothing queued" in capsys.readouterr().out
    assert main(["digest", "daily", "--date", "28.11.2026", "--db", str(db_path)]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    missing = db_path.with_name("missing.db")
    assert main(["digest", "daily", "--db", str(missing)]) == 2
    assert not missing.exists()
