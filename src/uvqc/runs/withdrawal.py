"""Which kept run decisions are still current, and what becomes of those that are not.

A run decision (a notice: uvqc.runs.notices) is *current* while its key - (batchId, code,
anchor, affected set) - is among the keys of the run's latest decision's ready findings.
A re-measurement can take a decision back (the re-run check standard passes: the
`check_standard_failed` is no longer a finding) or change it (a contaminated blank now
affects 12 samples, not 13: a new key at the same anchor). Then the kept decision is

- *withdrawn*: no current decision at its anchor ("withdrawn (no longer a finding)");
- *superseded*: a current decision at its anchor has another key ("superseded by ...").

A held decision (uvqc.runs.grouping) that stops being current is never sent: it is left out
of its group e-mail and of the digest fold, and kept (shown by `uvqc runs show` as "not
sent: withdrawn while held"); its current replacement, if any, is held as a new decision.
A decision withdrawn after it was e-mailed is said in the final run digest ("Withdrawn
since announced"), never in an e-mail of its own.

Pure: both run stores call these inside their writes and reads. `current` maps an anchor to
the notice key of the current decision there; None (a decision stored by a uvqc before
this module) counts every decision as current.
"""

from __future__ import annotations

from collections.abc import Sequence

from uvqc.runs.evaluate import RunDecision
from uvqc.runs.grouping import (
    CURRENT,
    SUPERSEDED,
    WITHDRAWN,
    AnnouncedDecision,
    Current,
    decision_state,
    is_current,
)
from uvqc.runs.notices import notice_key


def current_notices(decision: RunDecision) -> dict[str, str]:
    """anchor -> notice key of each ready finding of `decision` (what the run says now)."""
    return {f.anchor: notice_key(decision.batch_id, f) for f in decision.ready()}


def announced(d: AnnouncedDecision) -> bool:
    """Whether a kept decision went (or is queued) to staff: its own e-mail, or covered by a
    group or digest e-mail. A held one not covered yet has not."""
    return d.held_until is None or d.covered_by is not None


def withdrawn_since_announced(
    decisions: Sequence[AnnouncedDecision], current: Current | None
) -> list[str]:
    """One line per decision e-mailed earlier that is no longer a finding at all (its
    anchor has no current decision), in the order kept: `code: message`. A superseded one
    is not listed: its replacement is announced (and listed in the digest's decisions)."""
    return [
        f"{d.code}: {d.message}" if d.message else d.code
        for d in decisions
        if announced(d) and decision_state(d.key, d.anchor, current)[0] == WITHDRAWN
    ]


__all__: Sequence[str] = [
    "CURRENT",
    "SUPERSEDED",
    "WITHDRAWN",
    "Current",
    "announced",
    "current_notices",
    "decision_state",
    "is_current",
    "withdrawn_since_announced",
]
