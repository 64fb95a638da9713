"""The Westgard multirule on a Levey-Jennings chart (Westgard et al. 1981, Clin. Chem.
27:493; the rule names as labs write them).

A point's z-score is (value - mean) / sd. The rules, for a series in time order:
- `1-2s` (warning): one point beyond mean +-2 SD.
- `1-3s`: one point beyond mean +-3 SD.
- `2-2s`: two consecutive points beyond the same 2 SD limit (both above +2 SD, or both below).
- `R-4s`: within one run, one point beyond +2 SD and another beyond -2 SD.
- `4-1s`: four consecutive points beyond the same 1 SD limit.
- `10x`: ten consecutive points on the same side of the mean.
"Beyond" is strict (a point exactly at +2 SD is not beyond it). Only violations that involve
the newest points asked about are reported (`new`), so re-evaluating a series does not
report an old violation again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ALL_RULES = ("1-2s", "1-3s", "2-2s", "R-4s", "4-1s", "10x")
WARNING_RULES = frozenset({"1-2s"})
DEFAULT_RULES = ALL_RULES


@dataclass(frozen=True, slots=True)
class Limits:
    """Centre line and standard deviation of a series (in the series' unit)."""

    mean: float
    sd: float
    source: str = "method"  # "method" | "established" (from the first in-control points)
    points: int = 0  # how many points established them

    def z(self, value: float) -> float:
        return (value - self.mean) / self.sd


@dataclass(frozen=True, slots=True)
class Point:
    """One QC value in time order: which run and which position it came from."""

    value: float
    batch_id: str
    sequence: int | None = None
    sample_id: str | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    """A Westgard rule broken by `points` (indices into the series, oldest first)."""

    rule: str
    points: tuple[int, ...]

    @property
    def warning(self) -> bool:
        return self.rule in WARNING_RULES


def _same_side_run(zs: Sequence[float], end: int, length: int, beyond: float) -> bool:
    """The `length` points ending at `end` are all > beyond or all < -beyond."""
    if end + 1 < length:
        return False
    window = zs[end + 1 - length : end + 1]
    return all(z > beyond for z in window) or all(z < -beyond for z in window)


def evaluate(
    points: Sequence[Point],
    limits: Limits,
    *,
    rules: Iterable[str] = DEFAULT_RULES,
    new: Iterable[int] | None = None,
) -> list[Violation]:
    """Violations of `rules` that involve at least one of the `new` point indices (default:
    every point). Each rule is reported once per newest point it fires on."""
    chosen = set(rules)
    unknown = chosen - set(ALL_RULES)
    if unknown:
        raise ValueError(f"unknown Westgard rule(s) {sorted(unknown)}; known: {ALL_RULES}")
    if limits.sd <= 0:
        raise ValueError(f"control limits need an SD > 0, got {limits.sd}")
    zs = [limits.z(p.value) for p in points]
    targets = sorted(set(range(len(points)) if new is None else new))
    found: list[Violation] = []
    for i in targets:
        z = zs[i]
        if "1-3s" in chosen and abs(z) > 3:
            found.append(Violation("1-3s", (i,)))
        elif "1-2s" in chosen and abs(z) > 2:
            found.append(Violation("1-2s", (i,)))
        if "2-2s" in chosen and _same_side_run(zs, i, 2, 2.0):
            found.append(Violation("2-2s", (i - 1, i)))
        if "R-4s" in chosen and abs(z) > 2:
            same_run = [
                j
                for j in range(len(points))
                if j != i
                and points[j].batch_id == points[i].batch_id
                and zs[j] * z < 0
                and abs(zs[j]) > 2
            ]
            if same_run:
                found.append(Violation("R-4s", tuple(sorted({*same_run, i}))))
        if "4-1s" in chosen and _same_side_run(zs, i, 4, 1.0):
            found.append(Violation("4-1s", tuple(range(i - 3, i + 1))))
        if "10x" in chosen and _same_side_run(zs, i, 10, 0.0):
            found.append(Violation("10x", tuple(range(i - 9, i + 1))))
    return found


def merge_streaks(violations: Iterable[Violation]) -> list[Violation]:
    """One violation per rule per streak: violations of the same rule whose points overlap
    or follow one another (a shift of 16 points breaks 4-1s on 13 sliding windows) become
    one, holding all their points. Order: by each merged violation's first point, then
    rule order (ALL_RULES)."""
    by_rule: dict[str, list[list[int]]] = {}
    for v in sorted(violations, key=lambda v: (min(v.points), max(v.points))):
        spans = by_rule.setdefault(v.rule, [])
        if spans and min(v.points) <= max(spans[-1]) + 1:
            spans[-1] = sorted({*spans[-1], *v.points})
        else:
            spans.append(sorted(v.points))
    merged = [Violation(rule, tuple(p)) for rule, spans in by_rule.items() for p in spans]
    return sorted(merged, key=lambda v: (v.points[0], ALL_RULES.index(v.rule)))


SD_FLOOR = 1e-9  # relative to max(|mean|, 1): below it the points do not vary (float noise)


def no_spread(mean: float, sd: float) -> bool:
    """Whether `sd` is no spread at all: below SD_FLOOR x max(|mean|, 1), i.e. floating-point
    noise of equal values (e.g. 2.9e-14 for recoveries all at 99.77 %). Limits from it
    would put every later point beyond 3 SD."""
    return sd <= SD_FLOOR * max(abs(mean), 1.0)


def establish(values: Sequence[float], *, needed: int = 20) -> Limits | None:
    """Limits from the first `needed` points, as labs establish them: mean and SD (n - 1) of
    those points, then once more without the points beyond +-3 SD of that first estimate
    (out-of-control points do not set the limits). None until `needed` points exist or when
    they show no spread (`no_spread`: the lab must then give limits in the method file)."""
    if len(values) < needed:
        return None
    first = list(values[:needed])
    mean, sd = _mean_sd(first)
    if not no_spread(mean, sd):
        kept = [v for v in first if abs(v - mean) <= 3 * sd]
        if len(kept) >= 2:
            mean, sd = _mean_sd(kept)
    return None if no_spread(mean, sd) else Limits(mean, sd, "established", needed)


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, var**0.5
