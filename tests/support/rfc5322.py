"""What every e-mail uvqc writes must be, on every channel: RFC 5322 (RFC 6532 when sent
with SMTPUTF8), checked the way a strict receiver would, and the strategies that feed it."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from hypothesis import assume
from hypothesis import strategies as st
from pydantic import ValidationError

from uvqc.core.models import ResultMessage
from uvqc.pipeline.addresses import Mailbox, parse_address_list
from uvqc.pipeline.email import header_safe

MAX_LINE = 998  # RFC 5322 section 2.1.1


def _schema_sample_id(text: str) -> str:
    """Only sample IDs the intake schema accepts."""
    try:
        ResultMessage.model_validate({"sampleId": text, "absorbance": 0.5})
    except ValidationError:
        assume(False)
    return text


# Any Unicode the schema accepts, any length up to its 128-character limit.
SAMPLE_IDS = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=128).map(
    _schema_sample_id
)
LONG_NON_ASCII = st.sampled_from(
    [
        "Zürichsee Süd Entnahmestelle 4 Tiefe 12 m",
        "Zürichsee Süd Entnahmestelle 4 Tiefe 12 m " * 3,
        "東京都水道局 浄水場 採水地点 第三系統 " * 4,
        "Ü" * 128,
        "=?utf-8?q?not_an_encoded_word?= " + "é" * 60,
    ]
)
DISPLAY_NAMES = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp", "Zs"), include_characters=" "),
    max_size=40,
).filter(lambda s: s == " ".join(s.split()))
LOCAL_ASCII = st.from_regex(r"[a-z0-9][a-z0-9._%+-]{0,19}", fullmatch=True).filter(
    lambda s: ".." not in s and not s.endswith(".")
)
DOMAINS = st.sampled_from(["lab.example", "x.example", "bücher.example", "labor-qualität.example"])


@st.composite
def mailboxes(draw: st.DrawFn, *, non_ascii_local: bool = False) -> str:
    """One mailbox in its normalised settings form (display name with quotes, commas,
    non-ASCII; the local part non-ASCII only when asked)."""
    local = draw(LOCAL_ASCII)
    if non_ascii_local and draw(st.booleans()):
        local = draw(st.sampled_from(["jürgen", "josé.garcía", "用户"]))
    box = Mailbox(local, draw(DOMAINS), draw(DISPLAY_NAMES))
    return str(box)


def parse(raw: bytes, *, smtputf8: bool = False) -> EmailMessage:
    """Parse strictly; an RFC 6532 (UTF-8 header) message is parsed as text, since the
    stdlib's bytes parser reads header bytes as ASCII."""
    if smtputf8:
        msg = email.message_from_string(raw.decode("utf-8"), policy=email.policy.strict)
    else:
        msg = email.message_from_bytes(raw, policy=email.policy.strict)
    assert isinstance(msg, EmailMessage)
    return msg


def assert_valid(raw: bytes, *, smtputf8: bool = False) -> EmailMessage:
    """CRLF-only lines of <= 998 octets, an ASCII header section unless SMTPUTF8, and a
    From/To a strict parser reads as addresses."""
    lines = raw.split(b"\r\n")
    assert all(b"\n" not in line and b"\r" not in line for line in lines), "bare LF/CR"
    assert all(len(line) <= MAX_LINE for line in lines), "line over 998 octets"
    head = raw.split(b"\r\n\r\n", 1)[0]
    if not smtputf8:
        assert head.isascii(), "8-bit header without SMTPUTF8"
    for line in head.split(b"\r\n"):
        assert line and (line[:1] in b" \t" or b":" in line), f"not a header line: {line!r}"
    msg = parse(raw, smtputf8=smtputf8)
    for name in ("From", "To"):
        header = msg[name]
        assert header is not None, f"no {name}"
        allowed = {"NonASCIILocalPartDefect"} if smtputf8 else set()
        assert {type(d).__name__ for d in header.defects} <= allowed, header.defects
        # To may be an empty group (`undisclosed-recipients:;`, RFC 5322 3.4) when no
        # recipient can be written without SMTPUTF8.
        assert header.addresses or (name == "To" and header.groups), f"{name}: no address"
        assert all(a.username and a.domain for a in header.addresses)
    return msg


def expected_addresses(values: list[str], *, smtputf8: bool) -> list[tuple[str, str, str]]:
    """(display name, local part, domain) a receiver should read in To."""
    found = []
    for box in (b for v in values for b in parse_address_list(v)):
        if box.needs_smtputf8 and not smtputf8:
            continue
        domain = box.domain if smtputf8 else box.envelope().rpartition("@")[2]  # type: ignore[union-attr]
        found.append((_squeeze(box.display_name), box.local, domain))
    return found


def _squeeze(name: str) -> str:
    return "".join(name.split())


def read_addresses(msg: EmailMessage, name: str) -> list[tuple[str, str, str]]:
    """(display name, local part, domain) of each address. Display names are compared
    without whitespace: Python's phrase parser keeps the space between two adjacent
    encoded-words, which RFC 2047 section 6.2 says to drop (it does not round-trip its own
    generator's output either); `email.header.decode_header` follows the RFC."""
    return [(_squeeze(a.display_name), a.username, a.domain) for a in msg[name].addresses]


def expected_sample_header(sample_id: str) -> str:
    return header_safe(sample_id)
