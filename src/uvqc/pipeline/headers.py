"""Header fields on the wire: RFC 5322 folding with CRLF only, RFC 2047 encoded-words only
where RFC 2047 allows them, lines of at most 998 octets (78 wherever the text has spaces).

- Unstructured fields (Subject, X-UVQC-*): ASCII words stay as they are; runs of non-ASCII
  words become UTF-8 B encoded-words of <= 52 characters (RFC 2047 sets 75), split between
  characters, never inside one.
- Address fields (From, To, Cc, Reply-To, Sender): parsed as RFC 5322 address lists
  (`uvqc.pipeline.addresses`); only display names are encoded, never an addr-spec. A mailbox
  whose local part is not ASCII can only be written with SMTPUTF8 (RFC 6531/6532): without
  it, it is left out of To (`undisclosed-recipients:;` if none is left) and a sender raises.

`email.header.Header.encode()` folds with a bare LF unless told otherwise, and encodes a whole
`Name <addr>` as one text: both broke strict relays (Postfix smtpd_forbid_bare_newline
answers 550) and left From/To without a parseable address.
"""

from __future__ import annotations

import functools

from uvqc.pipeline.addresses import AddressError, encoded_words, parse_address_list

ADDRESS_FIELDS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender"})
SENDER_FIELDS = frozenset({"from", "sender"})
RECOMMENDED_LINE = 78  # RFC 5322 section 2.1.1: SHOULD
MAX_LINE = 998  # RFC 5322 section 2.1.1: MUST
_LONG_WORD = 900  # an ASCII word this long is encoded (split) to keep every line <= 998


class NeedsSmtpUtf8Error(AddressError):
    """When a sender address has a non-ASCII local part and the channel offers no SMTPUTF8."""


def render(name: str, value: str, *, smtputf8: bool = False) -> str:
    """`Name: value` ready for the wire (folded with CRLF + space, no trailing CRLF)."""
    if name.lower() in ADDRESS_FIELDS:
        return fold(name, address_field(name, value, smtputf8=smtputf8))
    if value.isascii() and len(name) + 2 + len(value) <= RECOMMENDED_LINE and "=?" not in value:
        return f"{name}: {value}"  # the common case, no work
    return fold(name, unstructured(value))


def _needs_encoding(word: str) -> bool:
    return not word.isascii() or "=?" in word or len(word) > _LONG_WORD


def unstructured(value: str) -> str:
    """An unstructured field body in ASCII: non-ASCII runs as encoded-words."""
    words = value.split(" ")
    if not any(_needs_encoding(w) for w in words):
        return value
    if value.strip(" ") != value or "  " in value:
        # Keep every space exactly: encode the whole text (spaces inside the words).
        return " ".join(encoded_words(value))
    out: list[str] = []
    run: list[str] = []
    for word in words:
        if _needs_encoding(word):
            run.append(word)
            continue
        if run:
            out.extend(encoded_words(" ".join(run)))
            run = []
        out.append(word)
    if run:
        out.extend(encoded_words(" ".join(run)))
    return " ".join(out)


@functools.lru_cache(maxsize=256)
def address_field(name: str, value: str, *, smtputf8: bool = False) -> str:
    """An address field body: every mailbox of `value` rendered for the wire."""
    rendered = [m.header(smtputf8=smtputf8) for m in parse_address_list(value)]
    kept = [r for r in rendered if r is not None]
    if len(kept) < len(rendered) and name.lower() in SENDER_FIELDS:
        raise NeedsSmtpUtf8Error(
            f"{name} {value!r} has a non-ASCII local part: it can only be sent over a channel "
            "that offers SMTPUTF8 (RFC 6531)"
        )
    return ", ".join(kept) if kept else "undisclosed-recipients:;"


def fold(name: str, text: str) -> str:
    """Fold at spaces so lines stay within 78 characters where the words allow; a fold is
    CRLF followed by the space it replaces (unfolding gives `text` back)."""
    line = f"{name}:"
    lines: list[str] = []
    for i, word in enumerate(text.split(" ")):
        if i and word and len(line) + 1 + len(word) > RECOMMENDED_LINE and line.strip():
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return "\r\n".join(lines)
