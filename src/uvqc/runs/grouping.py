"""Grouping of run decision e-mails (issue 14 item 3), the way alerting systems group alerts:
by run, wait a short grouping interval, then send one e-mail; repeat only on change.

Pure: the run stores ask this module, inside their writes, whether a new decision is e-mailed
at once or held (`is_immediate`), when the run's open group is due (`group_due`), what to do
with the held decisions now (`flush_action`), and the key of a group e-mail (`group_key`).

- A decision that should stop the run (default: `calibration_failed`,
  `check_standard_failed`) is queued at once, as its own e-mail.
- Every other ready decision is held. The first held one starts the run's group, due
  `interval_seconds` later; later ones join it. When it is due, ONE e-mail lists every held
  decision of the run; the next held decision starts a new group.
- When the run becomes final while decisions are held, they are folded into the run digest
  (which lists every decision) - or, with digests off, the group is sent at once.
- A decision is identified by its notice key (batchId, code, anchor, affected set), so one
  announced already is never in a later group; a changed affected set is a new decision.
  A group's key is derived from its members' keys: the same group is never sent twice.
- A group (or the digest fold) takes only the held decisions still current (their key is
  among the latest decision's ready findings, uvqc.runs.withdrawal); one withdrawn or
  superseded while held is never sent, its current replacement is held as a new decision.

So every current decision reaches staff exactly once: in its own e-mail, a group e-mail or
the digest, and one withdrawn while held never does
(`tests/embedded/test_run_grouping_properties.py`). `interval_seconds = 0` e-mails every decision at
once, as before grouping existed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# Every run decision code (uvqc.runs.evaluate and uvqc.charts.findings).
DECISION_CODES = frozenset(
    {
        "above_calibration",
        "blank_contamination",
        "calibration_failed",
        "check_standard_failed",
        "control_chart",
        "duplicate_rpd",
        "qc_frequency",
        "run_incomplete",
        "spike_recovery",
    }
)
# The decisions that should stop the run: nothing after them is reportable until the
# analyst acts (SM 2020 B; EPA 353.2 / 365.1 section 9).
STOP_THE_RUN = frozenset({"calibration_failed", "check_standard_failed"})
GROUP = "group"  # the code of a group notice (its anchor is its key)
MAX_INTERVAL_SECONDS = 86400.0  # a day: longer belongs to the daily digest
# What a kept decision is now (uvqc.runs.withdrawal): `Current` maps an anchor to the notice
# key of the latest decision's ready finding there; None: every kept decision is current.
Current = Mapping[str, str]
CURRENT = "current"
WITHDRAWN = "withdrawn"  # no current decision at its anchor: no longer a finding
SUPERSEDED = "superseded"  # a current decision at its anchor has another key


class GroupingError(ValueError):
    """A grouping policy value is invalid (an unknown decision code, a negative interval)."""


@dataclass(frozen=True, slots=True)
class GroupingPolicy:
    """How a run's decisions are e-mailed.

    `immediate`: decision codes e-mailed at once; `interval_seconds`: how long the first held
    decision of a group waits for others (0: every decision at once); `digest`: whether a
    final run gets its digest e-mail (held decisions are folded into it)."""

    immediate: frozenset[str] = STOP_THE_RUN
    interval_seconds: float = 0.0
    digest: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(set(self.immediate) - DECISION_CODES)
        if unknown:
            raise GroupingError(
                f"unknown run decision code(s) {unknown}; known: {sorted(DECISION_CODES)}"
            )
        if not 0 <= self.interval_seconds <= MAX_INTERVAL_SECONDS:
            raise GroupingError(
                f"grouping interval must be 0-{MAX_INTERVAL_SECONDS:.0f} s, "
                f"got {self.interval_seconds}"
            )

    def overridden(
        self,
        *,
        immediate: Iterable[str] | None = None,
        interval_seconds: float | None = None,
        digest: bool | None = None,
    ) -> GroupingPolicy:
        """This (lab) policy with a method's own values where it gives them (None: keep)."""
        return GroupingPolicy(
            immediate=frozenset(immediate) if immediate is not None else self.immediate,
            interval_seconds=(
                interval_seconds if interval_seconds is not None else self.interval_seconds
            ),
            digest=digest if digest is not None else self.digest,
        )

    def is_immediate(self, code: str) -> bool:
        """Whether a new notice with this code is queued at once (not held). A digest or
        group notice (no decision code) never is held."""
        return self.interval_seconds == 0 or code in self.immediate or code not in DECISION_CODES


class FlushAction(StrEnum):
    GROUP = "group"  # send one e-mail listing the held decisions
    DIGEST = "digest"  # fold them into the run digest


def group_due(policy: GroupingPolicy, open_due: float | None, now: float) -> float:
    """When a newly held decision is e-mailed (epoch seconds): with the run's open group if
    there is one (`open_due`), else it starts a group due `interval_seconds` from `now`."""
    return open_due if open_due is not None else now + policy.interval_seconds


def flush_action(
    policy: GroupingPolicy,
    open_due: float | None,
    now: float,
    *,
    final: bool,
    digest_sent: bool,
) -> FlushAction | None:
    """What to do with a run's held decisions now. `open_due`: its open group's due time
    (None: nothing held); `digest_sent`: a digest of this final decision is being queued.
    A final run holds nothing: its decisions go into the digest, or the group goes now."""
    if open_due is None:
        return None
    if final:
        return FlushAction.DIGEST if digest_sent else FlushAction.GROUP
    return FlushAction.GROUP if open_due <= now else None


def group_key(batch_id: str, member_keys: Sequence[str]) -> str:
    """A group e-mail's notification key: (batchId, "group", its members' keys, sorted)."""
    identity = ["run", batch_id, GROUP, sorted(member_keys)]
    canonical = json.dumps(identity, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class AnnouncedDecision:
    """A decision a run store keeps (its notice): `covered_by` is the key of the group or
    digest e-mail that announced it (None: its own e-mail, or still held)."""

    key: str
    code: str
    affected: tuple[str, ...]
    held_until: float | None  # epoch seconds; None: never held
    covered_by: str | None
    anchor: str = ""  # the decision's QC sample, gap or block (uvqc.runs.evaluate)
    message: str = ""  # its finding's message


def is_current(key: str, current: Current | None) -> bool:
    """Whether a kept decision is still a finding of the run, unchanged (its key is among
    the latest decision's ready findings)."""
    return current is None or key in current.values()


def decision_state(key: str, anchor: str, current: Current | None) -> tuple[str, str | None]:
    """(CURRENT | WITHDRAWN | SUPERSEDED, the superseding notice key or None) of a kept
    decision with this notice key and anchor."""
    if is_current(key, current):
        return CURRENT, None
    replacement = (current or {}).get(anchor)
    return (SUPERSEDED, replacement) if replacement is not None else (WITHDRAWN, None)


def coverage(
    decisions: Sequence[AnnouncedDecision],
    kinds: Mapping[str, str],
    current: Current | None = None,
) -> list[dict[str, Any]]:
    """Which e-mail announced each decision, for `uvqc runs show`: `email` is "decision"
    (its own), "group", "digest", "held" (waiting for its group) or "withdrawn" (held,
    then no longer current: never sent); `emailKey` is that e-mail's notification key (the
    `X-UVQC-Notification-Key` header). `kinds` maps the key of each group and digest notice
    of the run to its kind. `state` is CURRENT, WITHDRAWN or SUPERSEDED (then
    `supersededBy` is the current decision's key) against `current`."""
    out = []
    for d in decisions:
        now, replacement = decision_state(d.key, d.anchor, current)
        key: str | None
        if d.covered_by is not None:
            email, key = kinds.get(d.covered_by, GROUP), d.covered_by
        elif d.held_until is not None:
            email, key = ("held" if now == CURRENT else "withdrawn"), None
        else:
            email, key = "decision", d.key
        entry: dict[str, Any] = {
            "code": d.code,
            "affected": list(d.affected),
            "key": d.key,
            "email": email,
            "emailKey": key,
        }
        if email == "held":
            entry["heldUntil"] = d.held_until
        entry["state"] = now
        if replacement is not None:
            entry["supersededBy"] = replacement
        out.append(entry)
    return out


__all__: Sequence[str] = [
    "CURRENT",
    "DECISION_CODES",
    "GROUP",
    "STOP_THE_RUN",
    "SUPERSEDED",
    "WITHDRAWN",
    "AnnouncedDecision",
    "Current",
    "FlushAction",
    "GroupingError",
    "GroupingPolicy",
    "coverage",
    "decision_state",
    "flush_action",
    "group_due",
    "group_key",
    "is_current",
]
