"""E-mail addresses: RFC 5322 address lists parsed once, rendered for headers and envelopes.

`parse_address_list('"Smith, Ann" <a@x.example>, b@y.example')` is two mailboxes (the comma
inside the quoted display name does not split). A mailbox renders:
- in a header: the display name as an RFC 2047 encoded-word phrase when it is not ASCII (or
  an RFC 5322 quoted-string when it holds specials), the addr-spec never encoded;
- on the envelope (SMTP MAIL FROM / RCPT TO, SES Source/Destinations): the domain as IDNA
  A-labels (`bücher.example` -> `xn--bcher-kva.example`), so only a non-ASCII *local part*
  needs SMTPUTF8 (RFC 6531) or UTF-8 headers (RFC 6532). Without them such a mailbox cannot
  be written at all: `envelope()`/`header()` return None and the channel reports a
  permanent failure for it.

Plain `a@b.example` lists (the common case) are split without the stdlib's header parser,
which costs ~5 ms to import and would otherwise land in the check Lambda's cold start.
"""

from __future__ import annotations

import base64
import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# RFC 5322 atext: what a dot-atom local part and a display-name atom may hold unquoted.
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_DOT_ATOM = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*")
_PHRASE = re.compile(rf"[{_ATEXT} ]*")
_PLAIN_ADDRESS = re.compile(rf"[{_ATEXT}.]+@[A-Za-z0-9.-]+")
_FORBIDDEN = frozenset("\r\n\x00")

ENCODED_WORD_BYTES = 30  # UTF-8 bytes per encoded-word: 40 base64 chars, a 52-char word


class AddressError(ValueError):
    """When a text is not an RFC 5322 address list (or not the single mailbox asked for)."""


def encoded_words(text: str) -> list[str]:
    """RFC 2047 B encoded-words for `text`, each <= 52 characters (the limit is 75), never
    splitting a character; decoders drop the whitespace between adjacent encoded-words."""
    words: list[str] = []
    chunk = bytearray()
    for ch in text:
        b = ch.encode("utf-8", "surrogatepass")
        if chunk and len(chunk) + len(b) > ENCODED_WORD_BYTES:
            words.append(_b_word(bytes(chunk)))
            chunk.clear()
        chunk += b
    if chunk or not words:
        words.append(_b_word(bytes(chunk)))
    return words


def _b_word(data: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


def idna_domain(domain: str) -> str | None:
    """The domain as ASCII (IDNA A-labels); None if it cannot be converted."""
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def _quote(text: str) -> str:
    """An RFC 5322 quoted-string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Mailbox:
    """One address: an optional display name and an addr-spec `local@domain`."""

    local: str
    domain: str
    display_name: str = ""

    @property
    def addr_spec(self) -> str:
        """`local@domain` as written (Unicode kept): the identity of a recipient."""
        return f"{_local_part(self.local)}@{self.domain}"

    @property
    def needs_smtputf8(self) -> bool:
        """True when only SMTPUTF8 (RFC 6531) / UTF-8 headers (RFC 6532) can carry it."""
        return not self.local.isascii() or idna_domain(self.domain) is None

    def envelope(self, *, smtputf8: bool = False) -> str | None:
        """The address for MAIL FROM / RCPT TO (or SES): IDNA domain; None if it needs
        SMTPUTF8 and `smtputf8` is False."""
        if smtputf8:
            return self.addr_spec
        domain = idna_domain(self.domain)
        if domain is None or not self.local.isascii():
            return None
        return f"{_local_part(self.local)}@{domain}"

    def header(self, *, smtputf8: bool = False) -> str | None:
        """The mailbox as written in From/To: `Name <addr>` with the name encoded as
        needed; None if the addr-spec needs SMTPUTF8 and `smtputf8` is False."""
        addr = self.envelope(smtputf8=smtputf8)
        if addr is None:
            return None
        if not self.display_name:
            return addr
        return f"{display_phrase(self.display_name)} <{addr}>"

    def __str__(self) -> str:
        """Human form (Unicode, quoted as RFC 5322 needs): what settings keep and logs show."""
        if not self.display_name:
            return self.addr_spec
        name = self.display_name
        if not _is_phrase(_ascii_shape(name)):
            name = _quote(name)
        return f"{name} <{self.addr_spec}>"


def _ascii_shape(text: str) -> str:
    """Non-ASCII letters count as atext (RFC 6532 section 3.2)."""
    return "".join(ch if ch.isascii() else "a" for ch in text)


def _is_phrase(name: str) -> bool:
    return bool(_PHRASE.fullmatch(name)) and name.strip() == name and "  " not in name


def _local_part(local: str) -> str:
    """A local part as a dot-atom when it is one, else as a quoted-string."""
    return local if _DOT_ATOM.fullmatch(_ascii_shape(local)) else _quote(local)


def display_phrase(name: str) -> str:
    """A display name as an RFC 5322 phrase: atoms as they are, a quoted-string when it holds
    specials, RFC 2047 encoded-words (section 5(3)) when it is not ASCII."""
    if not name.isascii() or "=?" in name:
        return " ".join(encoded_words(name))
    if _is_phrase(name):
        return name
    return _quote(name)


def _check_text(text: str) -> None:
    if any(ch in _FORBIDDEN for ch in text):
        raise AddressError(f"{text!r} contains a line break or NUL")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in text):
        raise AddressError(f"{text!r} contains a control character")


@functools.lru_cache(maxsize=256)
def parse_address_list(text: str) -> tuple[Mailbox, ...]:
    """Every mailbox of an RFC 5322 address list (groups are flattened). AddressError names
    the problem; an empty list is an error too."""
    _check_text(text)
    parts = [p.strip() for p in text.split(",")]
    if all(_PLAIN_ADDRESS.fullmatch(p) for p in parts):  # fast path: a@b, c@d
        return tuple(Mailbox(*p.rsplit("@", 1)) for p in parts)
    from email.headerregistry import HeaderRegistry  # ~5 ms of import: only when needed

    header = HeaderRegistry()("To", text)
    problems = [
        str(d)
        for d in header.defects
        if type(d).__name__ not in ("NonASCIILocalPartDefect", "ObsoleteHeaderDefect")
    ]
    mailboxes: list[Mailbox] = []
    for address in header.addresses:  # type: ignore[attr-defined]
        if not address.username or not address.domain:
            problems.append(f"{str(address) or address.display_name!r} has no local@domain part")
            continue
        mailboxes.append(Mailbox(address.username, address.domain, address.display_name or ""))
    if problems:
        raise AddressError(f"{text!r} is not an RFC 5322 address list: {'; '.join(problems)}")
    if not mailboxes:
        raise AddressError(f"{text!r} holds no address")
    return tuple(mailboxes)


def parse_mailbox(text: str) -> Mailbox:
    """Exactly one mailbox (a sender)."""
    found = parse_address_list(text)
    if len(found) != 1:
        raise AddressError(f"{text!r} holds {len(found)} addresses; exactly one is needed")
    return found[0]


def parse_addresses(values: Iterable[str]) -> tuple[Mailbox, ...]:
    """Every mailbox of several address lists, in order, without repeats (by addr-spec)."""
    seen: dict[str, Mailbox] = {}
    for value in values:
        for mailbox in parse_address_list(value):
            seen.setdefault(mailbox.addr_spec.lower(), mailbox)
    return tuple(seen.values())
