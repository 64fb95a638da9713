"""Issue 9 case 8: bidirectional overrides and other invisible characters of a sample ID are
escaped in every text output - the e-mail body and `uvqc trace` (and `uvqc check`, tested
in tests/cli/test_input_files.py) - through one shared helper."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from uvqc.cli.story import Story, story_text
from uvqc.core.display import display_lines, display_safe
from uvqc.core.engine import judge
from uvqc.core.methods import MethodBook
from uvqc.pipeline.email import compose
from uvqc.pipeline.records import NotificationRequest, ResultRecord

SNEAKY = "W-1\u202eG-3\u2066x\u2069"
WHEN = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
HIDDEN = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\ufeff"


def _record(sample_id: str) -> ResultRecord:
    raw = json.dumps({"sampleId": sample_id, "absorbance": 1.5}, ensure_ascii=False)
    judgement, _ = judge(raw, MethodBook())
    return ResultRecord.create(
        record_id="r-1",
        judgement=judgement,
        raw=raw,
        received_at=WHEN,
        checked_at=WHEN,
        notification_key="k" * 40,  # the check stage assigns it (uvqc.pipeline.identity)
    )


def test_the_email_body_escapes_bidirectional_overrides() -> None:
    email = compose(
        NotificationRequest.for_record(_record(SNEAKY)),
        mail_from="qc@lab.example",
        mail_to=["a@lab.example"],
    )
    assert not any(ch in email.body for ch in HIDDEN)
    assert "sample W-1\\u202eG-3\\u2066x\\u2069." in email.body


def test_trace_escapes_bidirectional_overrides() -> None:
    text = story_text(Story(SNEAKY, [_record(SNEAKY)], []))
    assert not any(ch in text for ch in HIDDEN)
    assert "Sample W-1\\u202eG-3\\u2066x\\u2069: 1 result(s)" in text


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",))))
def test_display_safe_leaves_no_control_or_bidi_character_and_changes_plain_text_not(
    text: str,
) -> None:
    shown = display_safe(text)
    assert not any(ch in shown for ch in HIDDEN)
    assert (
        shown.isprintable()
        or not all(ch.isprintable() or ch in HIDDEN for ch in text)
        or (shown == text)
    )
    assert "\n" not in shown and "\r" not in shown
    if all(ch.isprintable() and ch not in HIDDEN for ch in text):
        assert shown == text
    assert display_lines("a\nb") == "a\nb"
