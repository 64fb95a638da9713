"""Turn raw bytes from a queue or file into a ResultMessage, or a clear reject reason.

Never raises for bad input: every failure becomes a Finding with code `invalid_message`
that names the field and the reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from uvqc.core.dupkeys import duplicate_key
from uvqc.core.models import (
    FIELD_ERROR,
    MAX_ID_LENGTH,
    MAX_PAYLOAD_BYTES,
    ResultMessage,
    check_identifier,
)
from uvqc.core.verdicts import INVALID_MESSAGE, Finding, Severity

UTF8_BOM = b"\xef\xbb\xbf"
# `"sampleId": "..."` in text that is not (or not all) JSON: a truncated or oversized message.
_SAMPLE_ID_TEXT = re.compile(
    rb'"sampleId"\s*:\s*"((?:[^"\\\x00-\x1f]|\\.){1,%d})"' % (MAX_ID_LENGTH * 6)
)


@dataclass(frozen=True, slots=True)
class Parsed:
    """A message that validated."""

    message: ResultMessage


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that did not validate; sample_id is kept when it could be read."""

    sample_id: str | None
    finding: Finding


_SHOW_INPUT = frozenset(
    {
        "string_type",
        "enum",
        "datetime_from_date_parsing",
        "datetime_parsing",
        "greater_than",
    }
)


def _number_problem(value: object) -> str:
    """What is wrong with a value where a JSON number belongs."""
    if isinstance(value, str):
        return f"must be a JSON number, not text ({value!r:.40})"
    if isinstance(value, dict | list):
        return (
            f"must be a finite number, not {'an object' if isinstance(value, dict) else 'an array'}"
        )
    if isinstance(value, int) and not isinstance(value, bool):
        return "must be a finite number, not one this large"
    if isinstance(value, float):
        return "must be a finite number, not NaN or Infinity (nor beyond ±1.8e308)"
    return "must be a finite number"


def _describe(error: ErrorDetails) -> tuple[str | None, str]:
    loc = ".".join(str(part) for part in error["loc"]) or None
    kind = error["type"]
    if kind == FIELD_ERROR:
        ctx = error.get("ctx") or {}
        return str(ctx["field"]), str(ctx["reason"])
    if kind == "json_invalid":
        return None, f"not valid JSON ({error['msg'].removeprefix('Invalid JSON: ')})"
    if kind in ("model_type", "model_attributes_type"):
        if loc is None:
            return None, "not a JSON object"
        return loc, "must be a JSON object"
    if kind == "missing":
        return loc, "is required but missing"
    if kind in ("float_type", "finite_number", "float_parsing"):
        return loc, _number_problem(error.get("input"))
    msg = error["msg"].removeprefix("Value error, ")
    if kind in _SHOW_INPUT:
        msg = f"{msg} (got {error.get('input')!r:.60})"
    return loc, msg


def _identifier_or_none(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > MAX_ID_LENGTH:
        return None
    try:
        return check_identifier(value)
    except ValueError:
        return None


def readable_sample_id(raw: str | bytes) -> str | None:
    """Best effort: the sampleId of a rejected message, if it is a valid identifier.

    From the parsed JSON when the message is JSON; otherwise from the raw text (a truncated
    `{"sampleId": "S-1", "absorb` gives S-1), and only when every `"sampleId": "..."` in it
    names the same identifier."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        data = None
    else:
        return _identifier_or_none(data.get("sampleId")) if isinstance(data, dict) else None
    text = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    found: set[str] = set()
    for match in _SAMPLE_ID_TEXT.finditer(text):
        try:
            found.add(json.loads(b'"' + match.group(1) + b'"'))
        except ValueError:
            return None
    if len(found) != 1:
        return None
    return _identifier_or_none(found.pop())


def reject(
    raw: str | bytes, field: str | None, reason: str, *, sample_id: str | None = ""
) -> Rejected:
    """A reject of `raw`; its sample ID is read from `raw` unless given (None: unreadable)."""
    where = f"field `{field}` " if field else ""
    finding = Finding(
        code=INVALID_MESSAGE,
        severity=Severity.FAIL,
        message=f"Rejected: {where}{reason}.",
        field=field,
    )
    return Rejected(
        sample_id=readable_sample_id(raw) if sample_id == "" else sample_id, finding=finding
    )


def strip_bom(raw: str | bytes) -> str | bytes:
    """`raw` without a leading UTF-8 byte order mark (Windows tools write one)."""
    if isinstance(raw, bytes):
        return raw[3:] if raw.startswith(UTF8_BOM) else raw
    return raw[1:] if raw.startswith("\ufeff") else raw


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_message(raw: str | bytes) -> Parsed | Rejected:
    """Validate one raw message (a JSON object) into a ResultMessage or a reject.

    A leading UTF-8 byte order mark is ignored; a key given twice in one object, at any
    depth, is a reject naming the key. A message the file reader could not read as JSON
    (`uvqc: <why>` on its first line, then an excerpt: adapters.files.iter_messages) is a
    reject with the reader's reason."""
    head = raw[:6]
    if head in (b"uvqc: ", "uvqc: "):
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        why, _, excerpt = text[6:].partition("\n")
        reason = why.rstrip(". ")[:500]
        return reject(excerpt, None, reason, sample_id=readable_sample_id(excerpt))
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > MAX_PAYLOAD_BYTES:
        return Rejected(
            sample_id=readable_sample_id(raw),
            finding=Finding(
                code=INVALID_MESSAGE,
                severity=Severity.FAIL,
                message=f"Rejected: payload is {size} bytes, over the {MAX_PAYLOAD_BYTES} limit.",
                value=size,
                limit=MAX_PAYLOAD_BYTES,
            ),
        )
    if raw[:1] in (b"\xef", "\ufeff"):
        raw = strip_bom(raw)
    duplicate = duplicate_key(raw)
    if duplicate is not None:
        return reject(
            raw,
            duplicate.path,
            f"is given twice ({_shown(duplicate.first)}, then {_shown(duplicate.second)}): "
            "each field may appear only once in an object",
            sample_id=None if duplicate.path == "sampleId" else "",
        )
    try:
        return Parsed(ResultMessage.model_validate_json(raw))
    except ValidationError as exc:
        details = [_describe(e) for e in exc.errors(include_url=False)]
        field, reason = details[0]
        if len(details) > 1:
            extra = "; ".join(f"`{f}` {r}" if f else r for f, r in details[1:4])
            reason = f"{reason} (also: {extra})"
        return reject(raw, field, reason)
    except (UnicodeDecodeError, RecursionError) as exc:
        return reject(raw, None, f"not valid UTF-8 JSON ({type(exc).__name__})")
