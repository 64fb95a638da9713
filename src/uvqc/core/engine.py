"""The QC engine: raw message -> Judgement. Pure: no I/O, no clock, no environment."""

from __future__ import annotations

from uvqc.core.methods import Method, MethodBook
from uvqc.core.models import ResultMessage
from uvqc.core.parse import Parsed, parse_message, reject
from uvqc.core.verdicts import Finding, Judgement, Verdict, verdict_for
from uvqc.spectra.indices import READING_WAVELENGTHS, indices_of


def apply_method(method: Method, result: ResultMessage) -> tuple[Finding, ...]:
    """Run every rule of a method that applies to the result's sampleType, then drop
    findings suppressed by another that fired. In a calibrated run (a `[run]` method and a
    `batchId`) the run's own calibration replaces the fixed `outside_calibration_range`
    (docs/RUNS.md)."""
    fired: dict[str, Finding] = {}
    kind = result.sample_type
    calibrated = method.run is not None and result.batch_id is not None
    for call in method.rules:
        if kind not in call.applies_to:  # a blank is not judged against the calibration curve
            continue
        if calibrated and call.name == "outside_calibration_range":
            continue
        finding = call.func(result, **call.params)
        if finding is not None:
            fired[call.name] = finding
    if method.suppress and len(fired) > 1:
        hidden = set().union(*(method.suppress.get(name, ()) for name in fired))
        return tuple(f for name, f in fired.items() if name not in hidden)
    return tuple(fired.values())


def judge_message(result: ResultMessage, methods: MethodBook) -> Judgement:
    """Judge a validated result with the method it names (or the default one)."""
    if result.method is None:
        method = methods.default
    elif result.method in methods:
        method = methods[result.method]
    else:
        known = ", ".join(sorted(methods))
        rejected = reject(
            "", "method", f"names the unknown QC method {result.method!r} (known: {known})"
        )
        return Judgement(result.sample_id, Verdict.REJECT, (rejected.finding,), result.method)
    findings = apply_method(method, result)
    # Most results are a single reading at a wavelength no index uses: skip them cheaply
    # (building their one-point scan cost ~5 us per result on the check path).
    scanned = result.spectrum is not None or result.wavelength_nm in READING_WAVELENGTHS
    indices = indices_of(result) if scanned else None
    return Judgement(result.sample_id, verdict_for(findings), findings, method.name, indices)


def judge(raw: str | bytes, methods: MethodBook) -> tuple[Judgement, ResultMessage | None]:
    """Validate and judge one raw message. Never raises for bad input: it rejects."""
    parsed = parse_message(raw)
    if isinstance(parsed, Parsed):
        return judge_message(parsed.message, methods), parsed.message
    return Judgement(parsed.sample_id, Verdict.REJECT, (parsed.finding,), None), None
