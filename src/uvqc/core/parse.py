"""Turn raw bytes from a queue or file into a ResultMessage, or a clear reject reason.

Never raises for bad input: every failure becomes a Finding with code `invalid_message`
that names the field and the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from uvqc.core.models import MAX_PAYLOAD_BYTES, ResultMessage
from uvqc.core.verdicts import INVALID_MESSAGE, Finding, Severity


@dataclass(frozen=True, slots=True)
class Parsed:
    """A message that validated."""

    message: ResultMessage


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that did not validate; sample_id is kept when it could be read."""

    sample_id: str | None
    finding: Finding


def _describe(error: ErrorDetails) -> tuple[str | None, str]:
    loc = ".".join(str(part) for part in error["loc"]) or None
    kind = error["type"]
    if kind == "json_invalid":
        return None, f"not valid JSON ({error['msg'].removeprefix('Invalid JSON: ')})"
    if kind in ("model_type", "model_attributes_type"):
        if loc is None:
            return None, "not a JSON object"
        return loc, "must be a JSON object"
    if kind == "missing":
        return loc, "is required but missing"
    msg = error["msg"].removeprefix("Value error, ")
    if kind in ("string_type", "enum", "datetime_from_date_parsing", "datetime_parsing"):
        msg = f"{msg} (got {error.get('input')!r:.60})"
    return loc, msg


def _safe_sample_id(raw: str | bytes) -> str | None:
    """Best effort: the sampleId of a rejected message, if it is a usable identifier."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict):
        value = data.get("sampleId")
        if isinstance(value, str) and value.strip() and len(value) <= 128 and value.isprintable():
            return value
    return None


def reject(raw: str | bytes, field: str | None, reason: str) -> Rejected:
    where = f"field `{field}` " if field else ""
    finding = Finding(
        code=INVALID_MESSAGE,
        severity=Severity.FAIL,
        message=f"Rejected: {where}{reason}.",
        field=field,
    )
    return Rejected(sample_id=_safe_sample_id(raw), finding=finding)


def parse_message(raw: str | bytes) -> Parsed | Rejected:
    """Validate one raw message (a JSON object) into a ResultMessage or a reject."""
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > MAX_PAYLOAD_BYTES:
        return Rejected(
            sample_id=None,
            finding=Finding(
                code=INVALID_MESSAGE,
                severity=Severity.FAIL,
                message=f"Rejected: payload is {size} bytes, over the {MAX_PAYLOAD_BYTES} limit.",
                value=size,
                limit=MAX_PAYLOAD_BYTES,
            ),
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
