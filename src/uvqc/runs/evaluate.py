"""Run-level QC: a SET of results of one run -> RunDecision. Pure and deterministic.

Decisions use `sequence`, never arrival order: the same set of results (in any order, with
any duplicates) gives the same decision. When several results claim one position, the one
with the latest `measuredAt` wins (a re-measurement), then the latest receipt, then the
greatest record id; results without `measuredAt` lose to those with it.

Every number, formula and limit is in docs/RUNS.md. Limits are inclusive, compared with a
relative tolerance of 1e-9 so that binary rounding (0.9 / 1.0 * 100 = 90.00000000000001)
never turns an exact limit into a failure.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from uvqc.runs.calibration import fit, pearson
from uvqc.runs.config import RunConfig
from uvqc.runs.model import (
    SEVERITY,
    Calibration,
    ResultLine,
    RunDecision,
    RunFinding,
    RunResult,
    Standard,
    num,
    positions_text,
)

CAL, CHECK, BLANK = "calibration_standard", "check_standard", "blank"
SAMPLES = frozenset({"sample", "duplicate", "spike"})  # "samples" for spacing and bracketing
MEASURED = SAMPLES | {CHECK, BLANK}  # positions that get a concentration
EPS = 1e-9


def _at_least(value: float, limit: float) -> bool:
    return value >= limit - EPS * max(1.0, abs(limit))


def _at_most(value: float, limit: float) -> bool:
    return value <= limit + EPS * max(1.0, abs(limit))


@dataclass(slots=True)
class _Line:
    """Mutable working state of one position during evaluation."""

    result: RunResult
    seq: int = 0
    kind: str = ""
    cal: Calibration | None = None
    in_cuvette: float | None = None
    concentration: float | None = None
    qualifier: str | None = None
    codes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.seq = self.result.sequence or 0
        self.kind = self.result.sample_type

    def add(self, code: str) -> None:
        if code not in self.codes:
            self.codes.append(code)


def winners(results: Iterable[RunResult]) -> tuple[dict[int, RunResult], list[RunResult]]:
    """One result per position (see the module docstring), and the unsequenced ones."""
    by_position: dict[int, RunResult] = {}
    loose: dict[str, RunResult] = {}
    for r in results:
        if r.sequence is None:
            loose[r.record_id] = r
            continue
        held = by_position.get(r.sequence)
        if held is None or r.winner_key() > held.winner_key():
            by_position[r.sequence] = r
    return by_position, sorted(loose.values(), key=lambda r: (r.sample_id, r.record_id))


def _calibrate(block: list[RunResult], config: RunConfig) -> Calibration:
    cc = config.calibration
    first, last = block[0].sequence or 0, block[-1].sequence or 0
    reasons: list[str] = []
    usable = [s for s in block if s.nominal is not None]
    for s in block:
        if s.nominal is None:
            reasons.append(f"standard {s.sample_id} at position {s.sequence} has no nominal")
    if len(block) < cc.min_standards:
        reasons.append(f"{len(block)} standard(s), fewer than the {cc.min_standards} required")
    points = [(float(s.nominal or 0.0), s.absorbance) for s in usable]
    curve = fit(points, cc.model, cc.weighting)
    r = pearson([x for x, _ in points], [y for _, y in points])
    if curve is None and len(block) >= cc.min_standards:
        reasons.append(f"the standards do not determine a {cc.model} fit")
    if r is None:
        if len(usable) >= 2:
            reasons.append("r is undefined: the standards do not vary")
    elif not _at_least(r, cc.min_r):
        reasons.append(f"r = {num(r, 6)}, below {num(cc.min_r, 6)}")
    nonzero = [s.nominal for s in usable if s.nominal is not None and s.nominal > 0]
    lowest = min(nonzero) if nonzero else None
    standards: list[Standard] = []
    for s in block:
        back = None if curve is None else curve.concentration(s.absorbance)
        error: float | None = None
        passed = True
        if s.nominal is None or back is None:
            passed = False
        elif s.nominal == 0:
            passed = not _at_least(abs(back), config.reporting_level)
            if not passed:
                reasons.append(
                    f"zero standard {s.sample_id} back-calculates to {num(back)}, not below "
                    f"the reporting level {num(config.reporting_level)}"
                )
        else:
            error = (back - s.nominal) / s.nominal * 100.0
            tolerance = cc.back_calc_lowest_pct if s.nominal == lowest else cc.back_calc_pct
            passed = _at_most(abs(error), tolerance)
            if not passed:
                reasons.append(
                    f"standard {s.sample_id} (nominal {num(s.nominal)}) back-calculates to "
                    f"{num(back)}, {num(error, 3)} % off, outside +-{num(tolerance)} %"
                )
        standards.append(
            Standard(s.sample_id, s.sequence or 0, s.nominal, s.absorbance, back, error, passed)
        )
    return Calibration(
        first, last, cc.model, curve, r, tuple(standards), tuple(reasons), max(nonzero, default=0.0)
    )


def _blocks(lines: list[_Line]) -> list[list[RunResult]]:
    blocks: list[list[RunResult]] = []
    current: list[RunResult] = []
    for line in lines:
        if line.kind == CAL:
            current.append(line.result)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def evaluate_run(
    results: Iterable[RunResult],
    config: RunConfig | None,
    *,
    batch_id: str,
    final: bool = False,
) -> RunDecision:
    """Decide a run from the set of its results. `final`: the run is closed (quiet period
    over); a run whose positions 1..batchSize are all present is final anyway. Without a
    config (a method without a `[run]` section) the run only lists its results."""
    pool = list(results)
    by_position, loose = winners(pool)
    batch_size = max((r.batch_size for r in pool if r.batch_size is not None), default=None)
    prefix = 0
    while prefix + 1 in by_position:
        prefix += 1
    complete = batch_size is not None and prefix >= batch_size
    final = final or complete
    lines = [_Line(by_position[s]) for s in sorted(by_position)]
    findings: list[RunFinding] = []
    notices: list[RunFinding] = []
    if config is None:
        return RunDecision(
            batch_id=batch_id,
            status="final" if final else "open",
            calibrations=(),
            results=tuple(_result_line(line) for line in lines)
            + tuple(_loose_line(r) for r in loose),
            findings=(),
            notices=(),
            prefix=prefix,
            batch_size=batch_size,
        )

    calibrations = _concentrations(lines, config, findings, notices)
    checks = _check_standards(lines, config, findings)
    _blanks(lines, config, findings)
    _duplicates_and_spikes(lines, config, notices)
    _frequency(lines, config, checks, findings, final=final)
    missing: tuple[int, ...] = ()
    if final:
        top = batch_size if batch_size is not None else max(by_position, default=0)
        missing = tuple(p for p in range(1, top + 1) if p not in by_position)
        if missing:
            findings.append(
                RunFinding(
                    "run_incomplete",
                    f"Run {batch_id} is final but position(s) {positions_text(missing)} of "
                    f"{top} never arrived: find and send (or re-measure) them.",
                    anchor="missing:" + positions_text(missing),
                )
            )
    table = [_result_line(line) for line in lines] + [_loose_line(r) for r in loose]
    return RunDecision(
        batch_id=batch_id,
        status="final" if final else "open",
        calibrations=tuple(calibrations),
        results=tuple(table),
        findings=tuple(findings),
        notices=tuple(notices),
        prefix=prefix,
        batch_size=batch_size,
        missing=missing,
        units=config.units,
    )


def _loose_line(r: RunResult) -> ResultLine:
    """A result of the run without a `sequence`: listed, not judged by run QC."""
    return ResultLine(
        None,
        r.sample_id,
        r.sample_type,
        r.absorbance,
        r.record_id,
        None,
        None,
        r.verdict,
        r.findings,
        r.dilution_factor,
    )


def _result_line(line: _Line) -> ResultLine:
    r = line.result
    codes = tuple(dict.fromkeys([*r.findings, *line.codes]))
    verdict = "reject" if r.verdict == "reject" else ("flag" if codes else "pass")
    return ResultLine(
        r.sequence,
        r.sample_id,
        r.sample_type,
        r.absorbance,
        r.record_id,
        line.concentration,
        line.qualifier,
        verdict,
        codes,
        r.dilution_factor,
    )


def _concentrations(
    lines: list[_Line],
    config: RunConfig,
    findings: list[RunFinding],
    notices: list[RunFinding],
) -> list[Calibration]:
    calibrations = [_calibrate(block, config) for block in _blocks(lines)]
    uncalibrated: list[_Line] = []
    for line in lines:
        if line.kind == CAL:
            cal = next(c for c in calibrations if c.first <= line.seq <= c.last)
            line.cal = cal
            if not cal.passed:
                line.add("calibration_failed")
            continue
        if line.kind not in MEASURED:
            continue
        before = [c for c in calibrations if c.last < line.seq]
        line.cal = before[-1] if before else None
        if line.cal is None:
            uncalibrated.append(line)
            line.add("calibration_failed")
            continue
        if not line.cal.passed or line.cal.fit is None:
            line.add("calibration_failed")
            continue
        x = line.cal.fit.concentration(line.result.absorbance)
        if x is None:
            line.add("above_calibration")
            continue
        line.in_cuvette = x
        line.concentration = x * line.result.dilution_factor
        if not _at_least(x, config.detection_level):
            line.qualifier = "<"
        elif not _at_least(x, config.reporting_level):
            line.qualifier = "E"
        if not _at_most(x, line.cal.highest):
            line.add("above_calibration")
    for line in lines:
        if "above_calibration" in line.codes and line.kind in SAMPLES:
            conc = (
                ""
                if line.in_cuvette is None
                else f" ({num(line.in_cuvette)} {config.units} in the cuvette)"
            )
            notices.append(
                RunFinding(
                    "above_calibration",
                    f"{line.result.sample_id} at position {line.seq} reads above the highest "
                    f"standard ({num(line.cal.highest if line.cal else 0)} {config.units}){conc}: "
                    "dilute and re-measure.",
                    (line.result.sample_id,),
                    (line.seq,),
                    anchor=f"above:{line.seq}",
                    known_at=line.seq,
                    run_level=False,
                )
            )
    for index, cal in enumerate(calibrations):
        if cal.passed:
            continue
        end = calibrations[index + 1].first if index + 1 < len(calibrations) else None
        covered = [
            ln
            for ln in lines
            if ln.kind in SAMPLES and ln.seq > cal.last and (end is None or ln.seq < end)
        ]
        findings.append(
            RunFinding(
                "calibration_failed",
                f"Calibration at positions {cal.first}-{cal.last} failed: "
                f"{'; '.join(cal.reasons) or 'no usable fit'}. No concentration for positions "
                f"{positions_text(ln.seq for ln in covered) or '-'}: recalibrate and re-measure.",
                tuple(ln.result.sample_id for ln in covered),
                tuple(ln.seq for ln in covered),
                anchor=f"calibration:{cal.first}",
                known_at=cal.last + 1,
            )
        )
    samples = [ln for ln in uncalibrated if ln.kind in SAMPLES]
    if uncalibrated:
        findings.append(
            RunFinding(
                "calibration_failed",
                f"No calibration standards before position(s) "
                f"{positions_text(ln.seq for ln in uncalibrated)}: no concentration for them; "
                "calibrate first, then re-measure.",
                tuple(ln.result.sample_id for ln in samples),
                tuple(ln.seq for ln in samples),
                anchor="calibration:none",
                known_at=uncalibrated[0].seq,
            )
        )
    return calibrations


@dataclass(frozen=True, slots=True)
class _Check:
    seq: int
    passed: bool | None  # None: no concentration to judge


def _nearest(seq: int, points: Sequence[int]) -> tuple[int | None, int | None]:
    """The nearest of sorted `points` before and after `seq` (None when there is none)."""
    i = bisect.bisect_left(points, seq)
    j = bisect.bisect_right(points, seq)
    return (points[i - 1] if i > 0 else None, points[j] if j < len(points) else None)


def _check_standards(
    lines: list[_Line], config: RunConfig, findings: list[RunFinding]
) -> list[_Check]:
    low, high = config.check_standard.recovery
    checks: list[_Check] = []
    failures: dict[int, str] = {}
    unset: set[int] = set()  # check standards without a nominal: a configuration problem
    for line in lines:
        if line.kind != CHECK:
            continue
        nominal = line.result.nominal
        if line.concentration is None:
            checks.append(_Check(line.seq, None))
            continue
        if not nominal:
            # Not a failed recovery: nothing was measured wrong, the run just cannot be
            # judged against this check standard until it has a true value.
            unset.add(line.seq)
            reason = (
                "has no nominal (true value) to recover"
                if nominal is None
                else "has a nominal of 0, so no recovery can be computed"
            )
        else:
            recovery = line.concentration / nominal * 100.0
            if _at_least(recovery, low) and _at_most(recovery, high):
                checks.append(_Check(line.seq, True))
                continue
            reason = (
                f"recovered {num(recovery, 3)} % of {num(nominal)} {config.units} "
                f"(limits {num(low)}-{num(high)} %)"
            )
        line.add("check_standard_failed")
        checks.append(_Check(line.seq, False))
        failures[line.seq] = (
            f"Check standard {line.result.sample_id} at position {line.seq} {reason}"
        )
    positions = [c.seq for c in checks]
    failed = {c.seq for c in checks if c.passed is False}
    bracketed: dict[int, list[_Line]] = {seq: [] for seq in failed}
    for line in lines:
        if line.kind not in SAMPLES:
            continue
        before, after = _nearest(line.seq, positions)
        if after is None:
            continue  # after the last check standard: not bracketed (qc_frequency says so)
        hit = [p for p in (before, after) if p in failed]
        for p in hit:
            bracketed[p].append(line)
        if hit:
            line.add("bracketing_check_failed")
    for seq in sorted(failed):
        affected = bracketed[seq]
        _, after = _nearest(seq, positions)
        listed = positions_text(ln.seq for ln in affected)
        if seq in unset:
            what = (
                "a configuration problem, not a reason to recalibrate: give check standards "
                "their true value (a `nominal` in the lab's ingest naming rule for this name, "
                "docs/INGEST.md, or `nominal` in the message) and send this result again"
                + (f"; until then positions {listed} cannot be released" if affected else "")
            )
        elif affected:
            what = f"recalibrate and re-measure positions {listed}"
        else:
            what = "recalibrate before measuring more samples"
        findings.append(
            RunFinding(
                "check_standard_failed",
                f"{failures[seq]}: {what}.",
                tuple(ln.result.sample_id for ln in affected),
                tuple(ln.seq for ln in affected),
                anchor=f"check:{seq}",
                known_at=after,
            )
        )
    return checks


def _blanks(lines: list[_Line], config: RunConfig, findings: list[RunFinding]) -> None:
    limit = config.blank_max
    blanks = [ln for ln in lines if ln.kind == BLANK]
    positions = [b.seq for b in blanks]
    for blank in blanks:
        if blank.concentration is None or _at_most(blank.concentration, limit):
            continue
        blank.add("blank_contamination")
        affected: list[_Line] = []
        for line in lines:
            if line.kind not in SAMPLES or line.concentration is None:
                continue
            if blank.seq in _nearest(line.seq, positions) and not _at_least(
                line.concentration, 10 * blank.concentration
            ):
                line.add("blank_contaminated")
                affected.append(line)
        _, after = _nearest(blank.seq, positions)
        findings.append(
            RunFinding(
                "blank_contamination",
                f"Blank {blank.result.sample_id} at position {blank.seq} reads "
                f"{num(blank.concentration)} {config.units}, above {num(limit)}: find the "
                "contamination, then re-measure the samples below 10x the blank"
                + (
                    f" (positions {positions_text(ln.seq for ln in affected)})."
                    if affected
                    else "."
                ),
                tuple(ln.result.sample_id for ln in affected),
                tuple(ln.seq for ln in affected),
                anchor=f"blank:{blank.seq}",
                known_at=after,
            )
        )


def _duplicates_and_spikes(
    lines: list[_Line], config: RunConfig, notices: list[RunFinding]
) -> None:
    by_id: dict[str, _Line] = {}
    for line in lines:  # in sequence order: the first position of a sampleId is the original
        by_id.setdefault(line.result.sample_id, line)
    for line in lines:
        r = line.result
        if r.sample_type == "duplicate" and r.duplicate_of in by_id:
            original = by_id[r.duplicate_of]
            x1, x2 = original.concentration, line.concentration
            if x1 is None or x2 is None or original.qualifier or line.qualifier:
                continue  # not applied below the RL (or without concentrations)
            mean = (x1 + x2) / 2
            if mean <= 0:
                continue
            rpd = abs(x1 - x2) / mean * 100.0
            if not _at_most(rpd, config.duplicate.max_rpd_pct):
                line.add("duplicate_rpd")
                notices.append(
                    RunFinding(
                        "duplicate_rpd",
                        f"Duplicate {r.sample_id} at position {line.seq} differs from "
                        f"{original.result.sample_id} (position {original.seq}) by RPD "
                        f"{num(rpd, 3)} %, above {num(config.duplicate.max_rpd_pct)} %: "
                        "check the sample's homogeneity and re-measure both.",
                        (r.sample_id,),
                        (line.seq,),
                        anchor=f"duplicate:{line.seq}",
                        known_at=max(line.seq, original.seq),
                        run_level=False,
                    )
                )
        if r.sample_type == "spike" and r.spike_of in by_id and r.spike_added:
            unspiked = by_id[r.spike_of]
            if line.concentration is None or unspiked.concentration is None:
                continue
            recovery = (line.concentration - unspiked.concentration) / r.spike_added * 100.0
            low, high = config.spike.recovery
            if not (_at_least(recovery, low) and _at_most(recovery, high)):
                line.add("spike_recovery")
                notices.append(
                    RunFinding(
                        "spike_recovery",
                        f"Spike {r.sample_id} at position {line.seq} recovered "
                        f"{num(recovery, 3)} % of the {num(r.spike_added)} {config.units} added "
                        f"to {unspiked.result.sample_id} (limits {num(low)}-{num(high)} %): "
                        "matrix interference; report the sample's result qualified.",
                        (r.sample_id,),
                        (line.seq,),
                        anchor=f"spike:{line.seq}",
                        known_at=max(line.seq, unspiked.seq),
                        run_level=False,
                    )
                )


def _frequency(
    lines: list[_Line],
    config: RunConfig,
    checks: list[_Check],
    findings: list[RunFinding],
    *,
    final: bool,
) -> None:
    limit = config.check_standard.max_samples_between
    positions = [c.seq for c in checks]
    samples = [ln for ln in lines if ln.kind in SAMPLES]
    problems: list[str] = []
    affected: list[_Line] = []
    first_gap_end: int | None = None
    sample_seqs = [ln.seq for ln in samples]
    for start, end in itertools.pairwise(positions):
        lo = bisect.bisect_right(sample_seqs, start)
        hi = bisect.bisect_left(sample_seqs, end)
        gap = samples[lo:hi]
        if len(gap) > limit:
            problems.append(
                f"{len(gap)} samples between the check standards at positions {start} and "
                f"{end} (at most {limit})"
            )
            affected += gap
            first_gap_end = end if first_gap_end is None else first_gap_end
    if final:
        tail = [ln for ln in samples if not positions or ln.seq > positions[-1]]
        if tail:
            problems.append(
                f"no check standard after position(s) {positions_text(ln.seq for ln in tail)}"
            )
            affected += tail
        n_samples = sum(1 for ln in lines if ln.kind == "sample")
        for kind, every in (("duplicate", config.duplicate.every), ("spike", config.spike.every)):
            need = math.ceil(n_samples / every)
            have = sum(1 for ln in lines if ln.kind == kind)
            if have < need:
                problems.append(f"{have} {kind}(s) for {n_samples} samples, {need} required")
    if not problems:
        return
    for line in affected:
        line.add("qc_frequency")
    findings.append(
        RunFinding(
            "qc_frequency",
            "QC frequency not met: " + "; ".join(problems) + ". Measure the missing QC "
            "samples and re-measure the samples not covered"
            + (f" (positions {positions_text(ln.seq for ln in affected)})." if affected else "."),
            tuple(ln.result.sample_id for ln in affected),
            tuple(ln.seq for ln in affected),
            anchor="frequency:" + ("final" if final else str(first_gap_end)),
            known_at=first_gap_end if not final else None,
        )
    )


__all__ = [
    "SEVERITY",
    "Calibration",
    "ResultLine",
    "RunDecision",
    "RunFinding",
    "RunResult",
    "Standard",
    "evaluate_run",
    "num",
    "positions_text",
    "winners",
]
