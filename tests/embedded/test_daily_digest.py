"""The daily digest on the embedded runtime, through the in-process SMTP relay: one
multipart e-mail per lab day (the run of the day, hostile loose sample IDs escaped), nothing
again while the day is unchanged, an update when a late result changes it, the worker's
automatic send once per day, a crash between queueing and marking sends nothing twice, and
`uvqc digest daily`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import cast

import pytest

from tests.embedded.conftest import result
from tests.embedded.test_runs import BATCH, METHOD, lines
from tests.support.relay import FaultyRelay
from uvqc.adapters.sqlite.daily import SqliteDaySource
from uvqc.adapters.sqlite.report_source import SqliteReportSource
from uvqc.cli import main
from uvqc.cli.check import method_book
from uvqc.daily.digest import daily_request
from uvqc.daily.send import day_facts
from uvqc.local.daily import queue_day, tick
from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker
from uvqc.report.assemble import reports_for

ROOT = Path(__file__).resolve().parents[2]
DEMO_RUN = ROOT / "examples" / "runs" / "nitrate-run-2026-11-28.jsonl"
DEMO_METHOD = ROOT / "examples" / "methods" / "nitrate-run.toml"
DEMO = "NO3-2026-11-28-A"
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


def test_a_hand_queued_digest_of_today_does_not_stop_the_next_mornings_automatic_update(
    make_runtime: Callable[..., Runtime], relay: FaultyRelay, db_path: Path
) -> None:
    rt = make_runtime(relay, daily_digest_at="07:00")
    rt.db.intake_port.submit([result("S-<1>", 3.5)])
    Worker(rt).run_until_idle()
    now = received(rt)
    day = now.date()
    by_hand = queue_day(rt.db, rt.settings, day, now + timedelta(seconds=1))  # during the day
    assert by_hand.request is not None
    rt.db.intake_port.submit([result("S-2", 3.5)])  # the day goes on
    Worker(rt).run_until_idle()
    morning = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) + timedelta(
        hours=7
    )
    worker = Worker(rt)
    assert worker.daily_once(now=morning) == 1  # the automatic digest: an update
    assert worker.daily_once(now=morning + timedelta(hours=1)) == 0  # once per lab day
    worker.run_until_idle()
    # (the worker's own tick has sent yesterday's digest of the real clock meanwhile)
    first, update = [m for m in daily_mails(relay) if m["X-UVQC-Digest-Date"] == str(day)]
    assert first["Subject"] == f"Daily digest lab {day}: needs attention"
    assert update["Subject"] == f"Daily digest lab {day}: needs attention (update)"
    assert "flagged: 2" in cast(EmailMessage, update.get_body(("plain",))).get_content()


def test_an_automatic_tick_after_an_unchanged_hand_digest_sends_nothing_again(
    make_runtime: Callable[..., Runtime], relay: FaultyRelay
) -> None:
    rt = make_runtime(relay, daily_digest_at="07:00")
    morning = datetime(2026, 11, 29, 7, 30, tzinfo=UTC)
    assert queue_day(rt.db, rt.settings, date(2026, 11, 28), morning).request is not None
    assert Worker(rt).daily_once(now=morning + timedelta(minutes=1)) == 0  # same content
    Worker(rt).run_until_idle()
    assert len(daily_mails(relay)) == 1


def test_days_missed_while_the_worker_was_down_are_caught_up_at_most_a_week(
    make_runtime: Callable[..., Runtime], relay: FaultyRelay, caplog: pytest.LogCaptureFixture
) -> None:
    rt = make_runtime(relay, daily_digest_at="07:00", daily_digest_lab="b1")
    worker = Worker(rt)
    assert worker.daily_once(now=datetime(2026, 11, 20, 7, 0, tzinfo=UTC)) == 1  # the 19th
    # down until the 23rd, 08:00: the 20th, 21st and 22nd are due, oldest first
    assert worker.daily_once(now=datetime(2026, 11, 23, 8, 0, tzinfo=UTC)) == 3
    worker.run_until_idle()
    subjects = [str(m["Subject"]) for m in daily_mails(relay)]
    assert subjects == [
        f"Daily digest b1 2026-11-{d}: nothing to report" for d in ("19", "20", "21", "22")
    ]
    # down for twelve days: the last seven are queued, five older ones named as skipped
    with caplog.at_level("WARNING", logger="uvqc.local.daily"):
        done = tick(rt.db, rt.settings, datetime(2026, 12, 5, 7, 0, tzinfo=UTC))
    assert [q.facts.day for q in done.queued] == [
        date(2026, 11, 28) + timedelta(days=i) for i in range(7)
    ]
    assert done.skipped == tuple(date(2026, 11, 23) + timedelta(days=i) for i in range(5))
    assert "2026-11-23 to 2026-11-27" in caplog.text and "uvqc digest daily --date" in caplog.text
    assert tick(rt.db, rt.settings, datetime(2026, 12, 5, 9, 0, tzinfo=UTC)).queued == ()


def test_the_digest_the_report_and_the_run_digest_name_the_same_samples_to_re_measure(
    make_runtime: Callable[..., Runtime], relay: FaultyRelay
) -> None:
    rt = make_runtime(relay, method=DEMO_METHOD)
    rt.db.intake_port.submit(DEMO_RUN.read_bytes().splitlines())
    Worker(rt).run_until_idle()
    (report,) = reports_for(SqliteReportSource(rt.db.conn), method_book(DEMO_METHOD), {DEMO})
    # the failed CCV-2 brackets positions 21-30; W-1128-23 reads above the calibration
    assert len(report.reanalysis) == 11 and "CCV-2" not in report.reanalysis
    now = received(rt)
    facts = day_facts(SqliteDaySource(rt.db.conn), lab="lab", day=now.date(), tz="UTC")
    (run,) = facts.runs + facts.open_runs
    assert run.reanalysis == len(report.reanalysis)
    found = [
        cast(EmailMessage, message_from_bytes(m.data, policy=policy.default))
        for m in relay.messages()
    ]
    (digest,) = [m for m in found if m["X-UVQC-Batch-Id"] and not m["X-UVQC-Run-Decision"]]
    text = cast(EmailMessage, digest.get_body(("plain",))).get_content()
    lines = text.splitlines()
    start = lines.index("Re-measure:") + 1
    listed = lines[start : start + len(report.reanalysis) + 1]
    assert listed == [f"  - {s}" for s in report.reanalysis] + [""]
    assert (
        f"re-measure {len(report.reanalysis)})"
        in daily_request(facts, update=False, now=now).run["body"]
    )  # type: ignore[index]


def test_uvqc_digest_daily_refuses_a_future_or_out_of_range_day_and_says_today_is_not_over(
    make_runtime: Callable[..., Runtime], db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_runtime()
    tomorrow = (today() + timedelta(days=2)).date().isoformat()  # after today in any zone
    assert main(["digest", "daily", "--date", tomorrow, "--db", str(db_path)]) == 2
    assert f"date {tomorrow} is in the future" in capsys.readouterr().err
    assert main(["digest", "daily", "--date", "9999-12-31", "--db", str(db_path)]) == 2
    err = capsys.readouterr().err
    assert "9999-12-31 is in the future" in err and "Traceback" not in err
    assert main(["digest", "daily", "--date", "0001-01-01", "--db", str(db_path)]) == 0
    capsys.readouterr()
    now = today().date().isoformat()
    assert main(["digest", "daily", "--date", now, "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert f"note: {now} is today (UTC) and not over" in out and "sent as an update" in out
    assert "a worker (`uvqc work` or `uvqc run`) sends what was queued" in out
    assert main(["digest", "daily", "--date", now, "--db", str(db_path)]) == 0
    assert "sends what was queued" not in capsys.readouterr().out  # nothing was queued
