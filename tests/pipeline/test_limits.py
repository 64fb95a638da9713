"""Properties of the size and character bounds (pure: no AWS): whatever the input, what uvqc
hands to SQS is in SQS's character set and within its message limit, and a stand-in gives
back the exact bytes (or the size) of the message it stands for."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from uvqc.adapters.sqs import intake_entry, message_bytes, read_intake, string_attributes
from uvqc.core.verdicts import Finding, Severity
from uvqc.pipeline.limits import (
    FINDING_MESSAGE_CHARS,
    FINDING_VALUE_CHARS,
    bound_finding,
    bound_text,
    sqs_invalid_at,
    sqs_safe,
)

SQS_ALLOWED = re.compile("^[\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*$")


@given(st.text())
def test_sqs_safe_text_is_always_in_the_sqs_character_set(text: str) -> None:
    safe = sqs_safe(text)
    assert SQS_ALLOWED.match(safe)
    assert sqs_invalid_at(safe) is None
    if SQS_ALLOWED.match(text):
        assert safe == text  # valid text is untouched


@given(st.text(), st.integers(0, 500))
def test_bound_text_never_exceeds_its_limit_and_keeps_short_text(text: str, limit: int) -> None:
    bounded = bound_text(text, max(limit, 40))
    assert len(bounded) <= max(limit, 40)
    if len(text) <= max(limit, 40):
        assert bounded == text


@given(st.text(), st.text(), st.one_of(st.none(), st.text(), st.floats(allow_nan=False)))
def test_a_bounded_finding_is_bounded_whatever_it_quotes(
    message: str, field: str, value: float | str | None
) -> None:
    f = bound_finding(Finding("c", Severity.FAIL, message, value=value, limit=value, field=field))
    assert len(f.message) <= FINDING_MESSAGE_CHARS
    assert f.field is not None and len(f.field) <= FINDING_VALUE_CHARS
    if isinstance(value, str):
        assert isinstance(f.value, str) and len(f.value) <= FINDING_VALUE_CHARS


@settings(max_examples=60, deadline=None)
@given(
    raw=st.one_of(
        st.binary(max_size=2_000),
        st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.integers(200_000, 400_000).map(lambda n: b'{"sampleId": "S-1", "x": "' + b"y" * n),
    ),
    source=st.text(max_size=2_000),
)
def test_every_intake_entry_is_one_sqs_accepts_and_gives_back_what_it_stands_for(
    raw: bytes, source: str
) -> None:
    entry = intake_entry(raw, source=source or None, submission_id="a" * 64)
    body, attributes = entry["MessageBody"], entry["MessageAttributes"]
    assert message_bytes(body, attributes) <= 256 * 1024
    assert all(
        SQS_ALLOWED.match(t) for t in [body, *(a["StringValue"] for a in attributes.values())]
    )
    got, oversized = read_intake(body, string_attributes(attributes))
    if oversized is None:
        assert (got if isinstance(got, bytes) else got.encode()) == raw
    else:
        assert oversized.size == len(raw) and len(raw) > 200_000
