"""Text from a message, made safe to show: one shared rule for every text output (`uvqc
check`, `uvqc trace`, e-mail bodies).

Escaped as `\\uXXXX` (`\\xXX` below U+0100): control characters (C0, C1, DEL), line and
paragraph separators, the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
U+2066-U+2069) and marks (U+200E, U+200F, U+061C), which can make `W-1<U+202E>G-3` read as
another sample ID on screen (the "Trojan Source" class, CVE-2021-42574), the byte order
mark / zero-width no-break space, noncharacters U+FFFE/U+FFFF, and lone surrogates.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ufeff\ufffe\uffff\ud800-\udfff]"
)


def spelled(code: int) -> str:
    """A code point as the escape uvqc writes for it: \\xNN, \\uNNNN or \\UNNNNNNNN."""
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _escape(match: re.Match[str]) -> str:
    return spelled(ord(match.group()))


def display_safe(text: str) -> str:
    """`text` with every character that could break a line or reorder what is shown
    escaped (`W-1\\u202eG` stays visibly one ID). Plain text is returned unchanged."""
    return _UNSAFE.sub(_escape, text)


def display_lines(text: str) -> str:
    """`display_safe` for text of several lines: the newlines are kept."""
    return "\n".join(display_safe(line) for line in text.split("\n"))
