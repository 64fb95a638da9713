"""Size and character limits of what the pipeline stores and queues, as pure functions.

Input is hostile: a finding that quotes an unknown key or a bad value can be as long as the
message itself (a 150,000-character key repeated in a reject finding made a ~450 KB record,
over DynamoDB's item limit). So every text that echoes input is bounded here, once, before
it reaches a record or a notification request, and the transports check the remaining
budget (adapters/dynamodb.py, adapters/sqs.py).

Limits (sources):
- DynamoDB item: 400 KB, attribute names and values in UTF-8 counted together
  ("Service, account, and table quotas in Amazon DynamoDB").
- SQS message: 256 KiB (262,144 bytes) for the body plus every message attribute's name,
  type and value; the same for the sum of a SendMessageBatch ("Amazon SQS message quotas").
  Queues created since 2025 may accept up to 1 MiB; uvqc keeps to 256 KiB, which every
  queue accepts.
- SQS characters, body and attributes: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
  #x10000-#x10FFFF ("SendMessage", MessageBody); anything else is refused.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from uvqc.core.verdicts import Finding

DYNAMODB_ITEM_BYTES = 400 * 1024
SQS_MESSAGE_BYTES = 256 * 1024
FINDING_MESSAGE_CHARS = 2_000  # a finding's message: enough for any rule's explanation
FINDING_VALUE_CHARS = 200  # a finding's value/limit/field when they are text
MAX_FINDINGS = 100  # findings kept per record (rules give a handful; input can give more)

# Characters SQS refuses in a message body or attribute (the complement of its allowed set).
_SQS_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def bound_text(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its start and a note of how many
    characters were cut (the note is inside the limit)."""
    if len(text) <= limit:
        return text
    note = f"... [{len(text):,} characters, truncated]"
    return text[: max(0, limit - len(note))] + note


def _bound_value(value: float | str | None) -> float | str | None:
    return bound_text(value, FINDING_VALUE_CHARS) if isinstance(value, str) else value


def bound_finding(finding: Finding) -> Finding:
    """The finding with its message, value, limit and field bounded (they may echo input)."""
    field = finding.field
    return dataclasses.replace(
        finding,
        message=bound_text(finding.message, FINDING_MESSAGE_CHARS),
        value=_bound_value(finding.value),
        limit=_bound_value(finding.limit),
        field=None if field is None else bound_text(field, FINDING_VALUE_CHARS),
    )


def bound_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """At most MAX_FINDINGS findings, each bounded: a record's findings are then at most
    about 100 x 2.6 KB characters whatever the input was."""
    return tuple(bound_finding(f) for f in list(findings)[:MAX_FINDINGS])


def utf8_len(text: str) -> int:
    """Bytes of `text` in UTF-8 (lone surrogates counted as SQS/DynamoDB would refuse them,
    3 bytes each)."""
    return len(text.encode("utf-8", "surrogatepass"))


def cut_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` that is at most `max_bytes` in UTF-8."""
    if max_bytes <= 0:
        return ""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", "ignore")


def sqs_invalid_at(text: str) -> int | None:
    """Index of the first character SQS refuses in a body or attribute, or None."""
    found = _SQS_INVALID.search(text)
    return None if found is None else found.start()


def sqs_safe(text: str) -> str:
    """`text` with every character SQS refuses written as a visible `\\uXXXX` escape (U+FFFF
    becomes the six characters `\\uffff`); valid text is returned unchanged."""
    return _SQS_INVALID.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
