"""The `[run.control_charts]` section of a method file (validated at load time).

[run.control_charts]
rules = ["1-2s", "1-3s", "2-2s", "R-4s", "4-1s", "10x"]   # the Westgard rule set
establish_points = 20        # limits from the first 20 in-control points, then frozen
[run.control_charts.limits.check_standard_recovery]       # or fixed limits per series
mean = 100.0
sd = 3.0
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from uvqc.charts.westgard import ALL_RULES, DEFAULT_RULES, Limits

SeriesName = Literal[
    "check_standard_recovery", "blank_concentration", "duplicate_rpd", "spike_recovery"
]
SERIES: tuple[SeriesName, ...] = (
    "check_standard_recovery",
    "blank_concentration",
    "duplicate_rpd",
    "spike_recovery",
)
SERIES_UNITS = {
    "check_standard_recovery": "%",
    "blank_concentration": "",  # the run's units
    "duplicate_rpd": "%",
    "spike_recovery": "%",
}


class SeriesLimits(BaseModel):
    """Fixed limits of one series: centre line and standard deviation."""

    model_config = ConfigDict(extra="forbid")

    mean: float
    sd: float = Field(gt=0)

    @field_validator("mean", "sd")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    def limits(self) -> Limits:
        return Limits(self.mean, self.sd, "method")


class ControlChartConfig(BaseModel):
    """Which Westgard rules apply, and where each series' limits come from."""

    model_config = ConfigDict(extra="forbid")

    rules: tuple[str, ...] = DEFAULT_RULES
    establish_points: int = Field(20, ge=5, le=1000)
    limits: dict[SeriesName, SeriesLimits] = Field(default_factory=dict)

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in value if r not in ALL_RULES]
        if unknown:
            raise ValueError(f"unknown Westgard rule(s) {unknown}; known: {list(ALL_RULES)}")
        return value
