"""The daily digest's pure core: what a lab day is (time zones, daylight saving), what the
digest says about runs and loose results, its identity (repeat only on change), its size
bound (SQS 256 KiB, SNS 256 KB) and its escaping of hostile sample IDs in text and HTML;
the notify stage's e-mail of it is multipart text + HTML and parses back."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uvqc.core.verdicts import Verdict
from uvqc.daily.digest import (
    MAX_REQUEST_BYTES,
    DailyDigestError,
    DayFacts,
    LooseResult,
    Outside,
    check_day,
    content_hash,
    daily_key,
    daily_request,
    day_bounds,
    digest_text,
    in_run,
    lab_today,
    parse_day,
    previous_day,
    run_of_day,
    subject,
)
from uvqc.daily.schedule import CATCH_UP_DAYS, due_days, latest_due
from uvqc.pipeline.email import compose

DAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)
HOSTILE = ["<script>alert(1)</script>", "W-1\u202eG-3", "Probe-ä-µ", "$(rm -rf)", "a\r\nBcc: x"]


def document(batch: str = "NO3-A", *, control_chart: bool = True) -> dict[str, Any]:
    findings = [
        {
            "code": "check_standard_failed",
            "severity": "fail",
            "message": "Check standard CCV-2 at position 31 recovered 83.7 %",
            "affected": ["S-21", "S-22"],
        },
        {"code": "qc_frequency", "severity": "suspect", "message": "too few", "affected": []},
    ]
    if control_chart:
        findings.append(
            {
                "code": "control_chart",
                "severity": "fail",
                "message": "Control chart check standard recovery (m, NO3-N, UV-1): Westgard "
                "1-3s (one point beyond 3 SD) against mean 100",
                "affected": ["CCV-2"],
            }
        )
    return {
        "batchId": batch,
        "status": "final",
        "verdict": "flag",
        "results": [
            {
                "sequence": 1,
                "sampleId": "S-21",
                "sampleType": "sample",
                "verdict": "flag",
                "findings": [],
            },
            {
                "sequence": 2,
                "sampleId": "S-23",
                "sampleType": "sample",
                "verdict": "flag",
                "findings": ["above_calibration"],
            },
            {
                "sequence": 3,
                "sampleId": "S-24",
                "sampleType": "sample",
                "verdict": "pass",
                "findings": [],
            },
        ],
        "findings": findings,
        "meta": {"method": "nitrate-run"},
    }


def facts(**kw: Any) -> DayFacts:
    values: dict[str, Any] = {
        "lab": "lab",
        "day": DAY,
        "tz": "Europe/Berlin",
        "runs": (run_of_day(document()),),
        "outside": Outside.of([LooseResult(s, "flag") for s in HOSTILE]),
    }
    values.update(kw)
    return DayFacts(**values)


def test_a_lab_day_runs_from_local_midnight_to_local_midnight_daylight_saving_included() -> None:
    start, end = day_bounds(DAY, "Europe/Berlin")
    assert (start, end) == (
        datetime(2026, 11, 27, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 28, 23, 0, tzinfo=UTC),
    )
    spring = day_bounds(date(2026, 3, 29), "Europe/Berlin")
    autumn = day_bounds(date(2026, 10, 25), "Europe/Berlin")
    assert (spring[1] - spring[0]).total_seconds() == 23 * 3600
    assert (autumn[1] - autumn[0]).total_seconds() == 25 * 3600
    assert day_bounds(DAY, "UTC")[0] == datetime(2026, 11, 28, tzinfo=UTC)


def test_the_morning_digest_reports_yesterday_in_the_labs_time_zone() -> None:
    late = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)  # already the 29th in Berlin
    assert previous_day(late, "Europe/Berlin") == date(2026, 11, 28)
    assert previous_day(late, "UTC") == date(2026, 11, 27)
    assert latest_due(NOW, "UTC", time(7, 0)) == DAY
    assert latest_due(NOW, "UTC", time(7, 1)) == date(2026, 11, 27)


def test_unknown_zones_and_bad_dates_are_usage_errors() -> None:
    with pytest.raises(DailyDigestError, match="unknown time zone"):
        day_bounds(DAY, "Mars/Olympus")
    with pytest.raises(DailyDigestError, match="YYYY-MM-DD"):
        parse_day("28.11.2026")
    assert DailyDigestError.exit_code == 2


def test_a_run_line_counts_results_reanalysis_and_names_the_westgard_rule() -> None:
    run = run_of_day(document())
    assert run.counts == (("flag", 2), ("pass", 1))
    # S-21, S-22 (check standard failed), S-23 (above calibration); not CCV-2 (the chart's
    # point, and the check standard itself: what failed, not what to re-measure)
    assert run.reanalysis == 3
    assert run.westgard == ("1-3s",)
    assert [d.code for d in run.decisions][:2] == ["check_standard_failed", "control_chart"]


def test_results_in_runs_are_those_whose_message_names_a_batch() -> None:
    assert in_run(json.dumps({"sampleId": "x", "batchId": "B"}))
    assert not in_run(json.dumps({"sampleId": "x"}))
    assert not in_run("not json at all")


def test_same_content_same_key_a_changed_day_a_new_key_the_dlq_reading_is_not_content() -> None:
    base = facts()
    assert daily_key("lab", DAY, content_hash(base)) == daily_key(
        "lab", DAY, content_hash(facts(dlq_depth=3))
    )
    late = facts(outside=Outside.of([LooseResult(s, "flag") for s in [*HOSTILE, "late"]]))
    assert content_hash(late) != content_hash(base)
    assert daily_key("other-lab", DAY, content_hash(base)) != daily_key(
        "lab", DAY, content_hash(base)
    )
    first = daily_request(base, update=False, now=NOW)
    again = daily_request(base, update=True, now=NOW)
    assert first.key == again.key  # the update mark is not content: the ledger decides
    assert (again.run or {})["subject"].endswith("(update)")


def test_a_day_with_nothing_still_says_so() -> None:
    empty = DayFacts(lab="lab", day=DAY, tz="UTC", dlq_depth=0)
    request = daily_request(empty, update=False, now=NOW)
    run = request.run or {}
    assert run["subject"] == "Daily digest lab 2026-11-28: nothing to report"
    assert (
        "Nothing to report" in run["body"]
        and "Notify dead-letter queue (now): empty" in run["body"]
    )


def parse(request_json: str) -> EmailMessage:
    from uvqc.pipeline.records import NotificationRequest

    email = compose(
        NotificationRequest.from_json(request_json),
        mail_from="QC <uvqc@lab.example>",
        mail_to=("lab@lab.example",),
        subject_prefix="[uvqc] ",
    )
    return cast(EmailMessage, message_from_bytes(email.as_bytes(), policy=policy.default))


def test_the_e_mail_is_multipart_text_and_html_and_parses_back() -> None:
    request = daily_request(facts(dlq_depth=2), update=True, now=NOW)
    msg = parse(request.to_json())
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"] == "[uvqc] Daily digest lab 2026-11-28: needs attention (update)"
    assert msg["X-UVQC-Digest-Date"] == "2026-11-28" and msg["X-UVQC-Digest-Update"] == "true"
    assert msg["X-UVQC-Notification-Key"] == request.key and msg["X-UVQC-Batch-Id"] is None
    text = cast(EmailMessage, msg.get_body(("plain",))).get_content()
    html = cast(EmailMessage, msg.get_body(("html",))).get_content()
    assert "Runs of the day (1):" in text and "Westgard: 1-3s" in text
    assert "Probe-ä-µ" in text and "Probe-ä-µ" in html  # non-ASCII survives both parts
    assert "W-1\\u202eG-3" in text and "\u202e" not in text + html  # bidi spelled out
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "2 notification(s) NOT delivered" in text
    assert f"Notification key: {request.key}" in text


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=120), min_size=1, max_size=30))
def test_hostile_ids_never_reach_the_html_or_the_text_unescaped(ids: list[str]) -> None:
    day = facts(outside=Outside.of([LooseResult(i, "reject") for i in ids]))
    request = daily_request(day, update=False, now=NOW)
    run = request.run or {}
    for body in (run["body"], run["html"]):
        assert not any(c in body for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert "<script" not in run["html"].lower().replace("<!doctype", "")
    msg = parse(request.to_json())
    assert msg.get_content_type() == "multipart/alternative"


def test_any_day_fits_the_sqs_message_and_says_how_many_were_left_out() -> None:
    long = "Ü" * 300
    runs = tuple(
        run_of_day(
            {
                **document(f"RUN-{i:04d}-{long}"),
                "findings": [
                    {"code": f"c{j}", "severity": "fail", "message": long, "affected": []}
                    for j in range(30)
                ],
            }
        )
        for i in range(600)
    )
    loose = [LooseResult(f"{long}-{i}", "flag") for i in range(20_000)]
    big = facts(runs=runs, open_runs=runs, outside=Outside.of(loose))
    request = daily_request(big, update=False, now=NOW)
    assert len(request.to_json().encode()) <= MAX_REQUEST_BYTES < 256 * 1024
    body = (request.run or {})["body"]
    assert "flagged: 20000" in body and "more (uvqc export" in body
    assert "more run(s): uvqc runs list" in body


def test_a_re_measured_sample_is_one_line_and_unreadable_ids_are_counted() -> None:
    outside = Outside.of(
        [
            LooseResult("S-1", "flag"),
            LooseResult("S-1", "flag"),
            LooseResult(None, "reject"),
            LooseResult(None, "reject"),
            LooseResult("S-2", "reject"),
            LooseResult("S-3", "pass"),  # not the digest's business
        ]
    )
    assert (outside.flagged, outside.rejected) == (2, 3)
    assert outside.flagged_ids == (("S-1", 2),)
    assert outside.rejected_ids == (("(no ID)", 2), ("S-2", 1))
    body = (daily_request(facts(outside=outside), update=False, now=NOW).run or {})["body"]
    assert "    S-1 (2 results)\n" in body and "more (uvqc export" not in body


def test_a_future_day_is_refused_today_is_allowed_and_the_calendars_edges_are_errors() -> None:
    assert check_day(DAY, NOW, "UTC") is False
    assert check_day(date(2026, 11, 29), NOW, "UTC") is True
    with pytest.raises(DailyDigestError, match="2026-11-30 is in the future"):
        check_day(date(2026, 11, 30), NOW, "UTC")
    noon = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # already the 30th at UTC+14
    assert check_day(date(2026, 11, 30), noon, "Pacific/Kiritimati") is True
    with pytest.raises(DailyDigestError, match="9999-12-31 is in the future"):
        check_day(date.max, NOW, "UTC")
    with pytest.raises(DailyDigestError, match="9999-12-31 is out of range"):
        day_bounds(date.max, "UTC")
    with pytest.raises(DailyDigestError, match="0001-01-01 is out of range"):
        check_day(date.min, NOW, "Asia/Tokyo")


def test_undelivered_e_mails_and_a_flagged_open_run_need_attention() -> None:
    quiet = DayFacts(lab="lab", day=DAY, tz="UTC")
    assert subject(quiet, update=False).endswith(": nothing to report")
    assert subject(replace(quiet, dlq_depth=0), update=False).endswith(": nothing to report")
    undelivered = replace(quiet, dlq_depth=2)
    assert subject(undelivered, update=False).endswith(": needs attention")
    assert "2 notification(s) NOT delivered" in digest_text(undelivered)
    passed = replace(run_of_day(document(control_chart=False)), verdict="pass", status="final")
    assert subject(replace(quiet, runs=(passed,)), update=False).endswith(": all passed")
    flagged_open = replace(passed, status="open", verdict="flag")
    both = replace(quiet, runs=(passed,), open_runs=(flagged_open,))
    assert subject(both, update=True).endswith(": needs attention (update)")
    assert daily_request(both, update=False, now=NOW).verdict == Verdict.FLAG


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 1, 3), max_value=datetime(2027, 12, 31)),
    st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Pacific/Kiritimati"]),
    st.times(),
    st.one_of(st.none(), st.integers(min_value=-3, max_value=40)),
)
def test_due_days_queue_each_missed_day_once_up_to_yesterday_at_most_a_week(
    naive: datetime, tz: str, at: time, back: int | None
) -> None:
    now = naive.replace(tzinfo=UTC)
    latest = latest_due(now, tz, at)
    today = lab_today(now, tz)
    assert latest in (today - timedelta(days=1), today - timedelta(days=2))
    last = None if back is None else latest - timedelta(days=back)
    due = due_days(now, tz, at, last)
    every = [*due.skipped, *due.days]
    assert every == sorted(every) and len(set(every)) == len(every)
    assert len(due.days) <= CATCH_UP_DAYS
    if last is None:  # a new database: yesterday once due, nothing older
        assert due.days in ((), (today - timedelta(days=1),)) and not due.skipped
    elif back is not None and back > 0:
        assert every == [last + timedelta(days=i) for i in range(1, back + 1)]
        assert due.days[-1] == latest
    else:  # the last automatic digest is as new as the latest due day: nothing
        assert every == []
