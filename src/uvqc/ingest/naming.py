"""Sample names to sample types and QC fields, by regular expressions with named groups, and
the lab's ingest configuration (TOML) that holds them.

Rules are tried in order; the first whose pattern matches (``re.search``, case-insensitive)
decides. Named groups fill QC fields: ``nominal`` (a number: the standard's true value),
``of`` (the sample a duplicate or spike belongs to: ``duplicateOf`` / ``spikeOf``),
``spikeAdded`` (a number). A rule's own ``nominal`` (a number) is the true value of every
name it matches whose pattern gives none: how a lab's ``CCV 1``, ``CCV 2`` get the check
standard's concentration. A name no rule matches is a ``sample``. The default ``^CCV`` rule
gives no nominal: run QC cannot judge such a check standard and says so.

    [ingest]
    wavelengthNm = 220          # the analytical wavelength for scans (--wavelength wins)
    baselineNm = 700            # optional: subtract A at this wavelength
    method = "nitrate-uv"       # optional: the QC method named in every message
    defaultNaming = true        # keep the default rules after the lab's own
    [[ingest.naming]]
    pattern = '^QC[ _-]?(?P<nominal>[0-9.]+)'
    sampleType = "check_standard"
    [[ingest.naming]]
    pattern = '^CCV'
    sampleType = "check_standard"
    nominal = 2.0               # mg/L: the check standard's true value
"""

from __future__ import annotations

import contextlib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uvqc.core.models import SampleType
from uvqc.errors import UsageError

_GROUPS = {"nominal", "of", "spikeAdded"}


@dataclass(frozen=True, slots=True)
class NamingRule:
    pattern: re.Pattern[str]
    sample_type: SampleType
    nominal: float | None = None  # the true value when the pattern's group gives none


def _rule(pattern: str, sample_type: str, source: str, nominal: object = None) -> NamingRule:
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise UsageError(
            f"{source}: naming pattern {pattern!r} is not a regular expression: {exc}"
        ) from None
    unknown = set(compiled.groupindex) - _GROUPS
    if unknown:
        raise UsageError(
            f"{source}: naming pattern {pattern!r} has unknown group(s) "
            f"{', '.join(sorted(unknown))} (known: {', '.join(sorted(_GROUPS))})"
        )
    try:
        kind = SampleType(sample_type)
    except ValueError:
        allowed = ", ".join(t.value for t in SampleType)
        raise UsageError(f"{source}: sampleType {sample_type!r} is not one of {allowed}") from None
    if nominal is not None and (
        isinstance(nominal, bool)
        or not isinstance(nominal, int | float)
        or not math.isfinite(nominal)
        or nominal < 0
    ):
        raise UsageError(
            f"{source}: naming pattern {pattern!r}: nominal must be a number >= 0 (the "
            f"standard's true value in the method's units), got {nominal!r}"
        )
    return NamingRule(compiled, kind, None if nominal is None else float(nominal))


DEFAULT_RULES: tuple[NamingRule, ...] = (
    _rule(r"^STD (?P<nominal>[0-9.]+)", "calibration_standard", "defaults"),
    _rule(r"^CCV", "check_standard", "defaults"),
    _rule(r"^(BLK|Blank)", "blank", "defaults"),
    _rule(r"(?P<of>.+)-DUP$", "duplicate", "defaults"),
    _rule(r"(?P<of>.+)-MS$", "spike", "defaults"),
)


def classify(name: str, rules: tuple[NamingRule, ...] = DEFAULT_RULES) -> dict[str, Any]:
    """The message fields a sample name implies: sampleType and the QC fields."""
    for rule in rules:
        m = rule.pattern.search(name)
        if m is None:
            continue
        fields: dict[str, Any] = {"sampleType": rule.sample_type.value}
        groups = m.groupdict()
        for key in ("nominal", "spikeAdded"):
            raw = groups.get(key)
            if raw:
                # "1.2.3" is no number: the field stays unset (the type still applies)
                with contextlib.suppress(ValueError):
                    fields[key] = float(raw)
        if "nominal" not in fields and rule.nominal is not None:
            fields["nominal"] = rule.nominal
        of = (groups.get("of") or "").strip()
        if of:
            if rule.sample_type is SampleType.DUPLICATE:
                fields["duplicateOf"] = of
            elif rule.sample_type is SampleType.SPIKE:
                fields["spikeOf"] = of
        return fields
    return {"sampleType": SampleType.SAMPLE.value}


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """What the lab configures for ingest (see the module docstring)."""

    wavelength_nm: float | None = None
    baseline_nm: float | None = None
    method: str | None = None
    rules: tuple[NamingRule, ...] = DEFAULT_RULES
    source: str = "defaults"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> IngestConfig:
        if path is None:
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"ingest config {path}: cannot read ({exc.strerror or exc})") from None
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"ingest config {path}: not valid TOML ({exc})") from None
        return cls.from_mapping(data.get("ingest", {}), str(path))

    @classmethod
    def from_mapping(cls, data: Any, source: str) -> IngestConfig:
        if not isinstance(data, dict):
            raise UsageError(f"{source}: [ingest] must be a table")
        allowed = {"wavelengthNm", "baselineNm", "method", "defaultNaming", "naming"}
        unknown = set(data) - allowed
        if unknown:
            raise UsageError(
                f"{source}: unknown key(s) in [ingest]: {', '.join(sorted(unknown))} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        numbers: dict[str, float | None] = {}
        for key in ("wavelengthNm", "baselineNm"):
            value = data.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
            ):
                raise UsageError(f"{source}: {key} must be a number of nm > 0, got {value!r}")
            numbers[key] = float(value) if value is not None else None
        own = []
        for i, item in enumerate(data.get("naming", []), 1):
            if (
                not isinstance(item, dict)
                or set(item) - {"pattern", "sampleType", "nominal"}
                or "pattern" not in item
            ):
                raise UsageError(
                    f"{source}: naming rule {i} takes `pattern`, `sampleType` and an "
                    "optional `nominal` only"
                )
            own.append(
                _rule(
                    str(item["pattern"]),
                    str(item.get("sampleType", "sample")),
                    source,
                    item.get("nominal"),
                )
            )
        rules = tuple(own) + (DEFAULT_RULES if data.get("defaultNaming", True) else ())
        method = data.get("method")
        return cls(
            numbers["wavelengthNm"],
            numbers["baselineNm"],
            str(method) if method else None,
            rules,
            source,
        )
