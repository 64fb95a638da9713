"""Notification identity (issue 8, case 1): the canonical content of a result and its
deduplication window decide its notification key, the same way in every window index."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from uvqc.adapters.sqlite import connect
from uvqc.adapters.sqlite.windows import SqliteWindows
from uvqc.pipeline.identity import (
    Window,
    WindowAction,
    WindowIndex,
    content_digest,
    decide_window,
    read_content,
    window_key,
)
from uvqc.testing import MemoryWindows

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
messages = st.dictionaries(st.text(max_size=10), json_values, min_size=1, max_size=6)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key(raw: str | bytes, at: datetime = T0) -> str:
    return window_key(content_digest(raw), Window.opened("x", at).start)


@given(messages, messages)
def test_distinct_contents_get_distinct_keys(a: dict[str, Any], b: dict[str, Any]) -> None:
    assume(canonical(a) != canonical(b))
    assert key(json.dumps(a)) != key(json.dumps(b))


@given(messages, st.randoms(use_true_random=False), st.sampled_from(["", " ", "\n", "\t  "]))
def test_reordered_keys_and_whitespace_are_the_same_content(
    message: dict[str, Any], rnd: Any, space: str
) -> None:
    items = list(message.items())
    rnd.shuffle(items)
    reordered = json.dumps(dict(items), indent=len(space) or None, separators=(f",{space}", ": "))
    assert key(space + reordered + space) == key(json.dumps(message))
    assert key(reordered.encode()) == key(json.dumps(message))  # bytes or text alike


def test_number_spelling_is_not_a_new_result_but_anything_else_is() -> None:
    assert content_digest('{"a": 0.30}') == content_digest('{"a":0.3}')
    assert content_digest('{"a": 0.3}') != content_digest('{"a": 0.31}')
    assert content_digest('{"a": 1}') != content_digest('{"a": "1"}')


def test_content_that_is_not_json_is_digested_as_bytes_and_never_raises() -> None:
    for raw in (b"\xff\xfe", b"not json", "[" * 100_000, b'{"a": 1e999}', b""):
        assert read_content(raw).digest.startswith("raw:")
    assert content_digest(b"not json") != content_digest(b"not json ")
    assert content_digest(b'"not json"').startswith("json:")


def test_window_rule() -> None:
    d = "json:d"
    opened = Window.opened(d, T0)
    assert decide_window(None, d, T0, DAY) == (WindowAction.OPEN, opened)
    assert decide_window(opened, d, T0 + DAY - timedelta(seconds=1), DAY) == (
        WindowAction.SAME,
        opened,
    )
    assert decide_window(opened, d, T0 - timedelta(hours=3), DAY)[0] is WindowAction.SAME
    what, later = decide_window(opened, d, T0 + DAY, DAY)
    assert what is WindowAction.REPLACE and later.key != opened.key
    what, older = decide_window(opened, d, T0 - DAY, DAY)
    assert what is WindowAction.OLDER and older.key not in (opened.key, later.key)


@pytest.fixture(params=["memory", "sqlite"])
def windows(request: pytest.FixtureRequest, tmp_path: Path) -> WindowIndex:
    if request.param == "memory":
        return MemoryWindows()
    return SqliteWindows(connect(tmp_path / "w.db"))


def test_every_index_follows_the_rule(windows: WindowIndex) -> None:
    a, b = content_digest('{"sampleId":"S-1"}'), content_digest('{"sampleId":"S-2"}')
    hour = timedelta(hours=1)
    first = windows.assign([(a, T0), (b, T0), (a, T0 + hour)], DAY)
    assert first[0] == first[2] != first[1]  # same content within the window: one key
    # A redelivery (same time) and a duplicate submission (later, within the window) of a.
    assert windows.assign([(a, T0), (a, T0 + 23 * hour)], DAY) == [first[0]] * 2
    # After the window: a new result (the same reading reported again the next day) ...
    (next_day,) = windows.assign([(a, T0 + DAY + hour)], DAY)
    assert next_day != first[0]
    # ... whose own redeliveries keep its new key, deterministically.
    assert windows.assign([(a, T0 + DAY + hour), (a, T0 + DAY + 2 * hour)], DAY) == [next_day] * 2
    assert next_day == window_key(a, Window.opened(a, T0 + DAY + hour).start)
