"""The `[run]` section of a method file: run-level QC limits, validated at load time.

The keys are exactly those of docs/METHODS.md ("The [run] section"); an unknown key, a value
of the wrong type, a boolean where a number belongs, or inconsistent levels is a MethodError
when the file is loaded, never in the middle of a run. Defaults are the published numbers of
../shared/DOMAIN.md (SM 4020 B, SM 2020 B, EPA 353.2 / 365.1 section 9).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from uvqc.charts.config import ControlChartConfig
from uvqc.errors import MethodError
from uvqc.runs.grouping import DECISION_CODES, MAX_INTERVAL_SECONDS, GroupingPolicy

_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


def _range(value: list[float], name: str) -> tuple[float, float]:
    low, high = value
    if not low <= high:
        raise ValueError(f"{name} must be [low, high] with low <= high, got {value}")
    return low, high


class CalibrationConfig(BaseModel):
    """`[run.calibration]`: the fit and its acceptance (SM 4020 B: r >= 0.995, +-10 %)."""

    model_config = _STRICT

    model: Literal["linear", "linear_through_zero", "quadratic"] = "linear"
    weighting: Literal["none", "1/x"] = "none"
    min_standards: int = Field(3, ge=1)
    min_r: float = Field(0.995, ge=-1, le=1)
    back_calc_pct: float = Field(10.0, ge=0)
    back_calc_lowest_pct: float = Field(20.0, ge=0)


class CheckStandardConfig(BaseModel):
    """`[run.check_standard]`: ICV/CCV recovery and spacing (SM 2020 B; EPA 353.2 s. 9)."""

    model_config = _STRICT

    recovery_pct: list[float] = Field(
        default_factory=lambda: [90.0, 110.0], min_length=2, max_length=2
    )
    max_samples_between: int = Field(10, ge=1)

    @property
    def recovery(self) -> tuple[float, float]:
        return _range(self.recovery_pct, "recovery_pct")

    @model_validator(mode="after")
    def _ordered(self) -> CheckStandardConfig:
        _range(self.recovery_pct, "recovery_pct")
        return self


class BlankConfig(BaseModel):
    """`[run.blank]`: the highest acceptable blank concentration (default: RL / 2)."""

    model_config = _STRICT

    max: float | None = Field(None, ge=0)


class DuplicateConfig(BaseModel):
    """`[run.duplicate]`: RPD limit and frequency (20 % and one per 20 samples are common)."""

    model_config = _STRICT

    max_rpd_pct: float = Field(20.0, ge=0)
    every: int = Field(20, ge=1)


class SpikeConfig(BaseModel):
    """`[run.spike]`: matrix-spike recovery window and frequency."""

    model_config = _STRICT

    recovery_pct: list[float] = Field(
        default_factory=lambda: [80.0, 120.0], min_length=2, max_length=2
    )
    every: int = Field(20, ge=1)

    @property
    def recovery(self) -> tuple[float, float]:
        return _range(self.recovery_pct, "recovery_pct")

    @model_validator(mode="after")
    def _ordered(self) -> SpikeConfig:
        _range(self.recovery_pct, "recovery_pct")
        return self


class NotifyConfig(BaseModel):
    """`[run.notify]`: how this method's run decisions are e-mailed (uvqc.runs.grouping).
    A key left out takes the lab's setting (UVQC_RUN_GROUP_SECONDS, UVQC_RUN_IMMEDIATE,
    UVQC_RUN_DIGEST)."""

    model_config = _STRICT

    group_seconds: float | None = Field(None, ge=0, le=MAX_INTERVAL_SECONDS, allow_inf_nan=False)
    immediate: list[str] | None = None
    digest: bool | None = None

    @model_validator(mode="after")
    def _known_codes(self) -> NotifyConfig:
        unknown = sorted(set(self.immediate or ()) - DECISION_CODES)
        if unknown:
            raise ValueError(
                f"names unknown decision code(s) {unknown}; known: {sorted(DECISION_CODES)}"
            )
        return self

    def policy(self, lab: GroupingPolicy) -> GroupingPolicy:
        """The lab's policy with this method's values where it gives them."""
        return lab.overridden(
            immediate=self.immediate, interval_seconds=self.group_seconds, digest=self.digest
        )


class RunConfig(BaseModel):
    """The whole `[run]` section. Levels are in `units` (in-cuvette concentrations)."""

    model_config = _STRICT

    analyte: str = Field(min_length=1)
    units: str = Field("mg/L", min_length=1)
    reporting_level: float = Field(ge=0)
    detection_level: float = Field(ge=0)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    check_standard: CheckStandardConfig = Field(default_factory=CheckStandardConfig)
    blank: BlankConfig = Field(default_factory=BlankConfig)
    duplicate: DuplicateConfig = Field(default_factory=DuplicateConfig)
    spike: SpikeConfig = Field(default_factory=SpikeConfig)
    control_charts: ControlChartConfig = Field(default_factory=ControlChartConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)

    @model_validator(mode="after")
    def _levels(self) -> RunConfig:
        needed = {"linear": 2, "linear_through_zero": 1, "quadratic": 3}[self.calibration.model]
        if self.calibration.min_standards < needed:
            raise ValueError(
                f"calibration.min_standards {self.calibration.min_standards} is too few for "
                f"a {self.calibration.model} fit, which needs at least {needed}"
            )
        if self.detection_level > self.reporting_level:
            raise ValueError(
                f"detection_level {self.detection_level} is above reporting_level "
                f"{self.reporting_level}: the MDL must not exceed the RL"
            )
        return self

    @property
    def blank_max(self) -> float:
        """`[run.blank].max`, or half the reporting level (SM 2020 B)."""
        return self.blank.max if self.blank.max is not None else self.reporting_level / 2


def run_config_from_mapping(method: str, data: Any) -> RunConfig:
    """Validate a `[run]` table; MethodError names the key and the reason."""
    if not isinstance(data, Mapping):
        raise MethodError(f"method {method!r}: [run] must be a table, got {type(data).__name__}")
    try:
        return RunConfig.model_validate(dict(data))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"])
        where = f"run.{where}" if where else "run"
        msg = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            msg = "is not a known key (see docs/METHODS.md, the [run] section)"
        elif error["type"] == "missing":
            msg = "is required"
        got = (
            ""
            if error["type"] in ("missing", "extra_forbidden", "value_error")
            else f" (got {error.get('input')!r:.60})"
        )
        raise MethodError(f"method {method!r}: {where} {msg}{got}") from None
