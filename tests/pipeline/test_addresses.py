"""Addresses as RFC 5322 address lists (issue 8, case 3): parsed once, rendered per channel."""

from __future__ import annotations

import pytest

from uvqc.pipeline.addresses import (
    AddressError,
    Mailbox,
    encoded_words,
    parse_address_list,
    parse_mailbox,
)


def test_a_comma_inside_a_quoted_display_name_does_not_split_the_list() -> None:
    boxes = parse_address_list('"Smith, Ann" <a@x.example>, b@y.example')
    assert boxes == (Mailbox("a", "x.example", "Smith, Ann"), Mailbox("b", "y.example"))
    assert [b.addr_spec for b in boxes] == ["a@x.example", "b@y.example"]


@pytest.mark.parametrize(
    "text",
    [
        '"Smith, Ann" <a@x.example>',
        "Labor Qualität <qc@lab.example>",
        "jürgen@lab.example",
        "qc@bücher.example",
        '"Dr. O\'Neil \\"QC\\"" <o@lab.example>',
        '"john doe"@lab.example',
    ],
)
def test_the_normalised_form_parses_back_to_the_same_mailbox(text: str) -> None:
    (box,) = parse_address_list(text)
    assert parse_address_list(str(box)) == (box,)


def test_only_the_display_name_is_encoded_never_the_address() -> None:
    box = parse_mailbox("Labor Qualität <qc@bücher.example>")
    assert box.header() == "=?utf-8?b?TGFib3IgUXVhbGl0w6R0?= <qc@xn--bcher-kva.example>"
    assert box.envelope() == "qc@xn--bcher-kva.example"  # IDNA: no SMTPUTF8 needed
    assert not box.needs_smtputf8


def test_a_non_ascii_local_part_needs_smtputf8() -> None:
    box = parse_mailbox("Jürgen <jürgen@lab.example>")
    assert box.needs_smtputf8
    assert box.envelope() is None and box.header() is None
    assert box.envelope(smtputf8=True) == "jürgen@lab.example"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("lab", "no local@domain"),
        ("Ann <a@x.example", "missing trailing '>'"),
        ("", "holds no address"),
        ("a@x.example, nobody", "no local@domain"),
        ("a@x.example\r\nBcc: b@y.example", "line break"),
        ("Lab\x1b[31m <a@x.example>", "control character"),
    ],
)
def test_a_malformed_list_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(AddressError, match=problem):
        parse_address_list(text)


def test_a_sender_is_exactly_one_mailbox() -> None:
    with pytest.raises(AddressError, match="exactly one"):
        parse_mailbox("a@x.example, b@x.example")


def test_encoded_words_stay_short_and_never_split_a_character() -> None:
    text = "Zürichsee Süd Entnahmestelle 🧪 " * 4
    words = encoded_words(text)
    assert all(len(w) <= 75 for w in words)  # RFC 2047 section 2
    import base64

    parts = [base64.b64decode(w[10:-2]) for w in words]
    assert all(p.decode("utf-8") for p in parts)  # each decodes alone: no split character
    assert b"".join(parts).decode("utf-8") == text
