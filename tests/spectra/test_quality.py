"""Scan-level QC rules at and around their limits (docs/SPECTRA.md)."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uvqc.core.engine import judge
from uvqc.core.methods import MethodBook, method_from_mapping
from uvqc.core.models import ResultMessage
from uvqc.core.rules import REGISTRY
from uvqc.errors import MethodError
from uvqc.spectra.quality import (
    nitrate_screening_above,
    spectrum_baseline,
    spectrum_covers_wavelength,
    spectrum_flat_top,
    spectrum_lamp_step,
    spectrum_noise,
    spectrum_resolution,
    spectrum_spikes,
    suva254_above,
)

SPECTRUM_RULES = [name for name in REGISTRY if name.startswith(("spectrum_", "suva", "nitrate"))]


def smooth(nm: float) -> float:
    return round(0.8 * math.exp(-0.012 * (nm - 220)) + 0.002, 3)  # rounded like an export


def scan(
    values: dict[float, float] | None = None,
    low: float = 200,
    high: float = 800,
    step: float = 1,
    **fields: object,
) -> ResultMessage:
    nm = [low + i * step for i in range(int((high - low) / step) + 1)]
    a = [smooth(x) for x in nm]
    for where, value in (values or {}).items():
        a[nm.index(where)] = value
    return ResultMessage.model_validate(
        {
            "sampleId": "S-9",
            "absorbance": 0.3,
            "spectrum": {"wavelengthNm": nm, "absorbance": a},
            **fields,
        }
    )


def shifted(delta: float, above: float = 340) -> ResultMessage:
    nm = [200.0 + i for i in range(601)]
    a = [smooth(x) + (delta if x > above else 0.0) for x in nm]
    return ResultMessage.model_validate(
        {"sampleId": "S-9", "absorbance": 0.3, "spectrum": {"wavelengthNm": nm, "absorbance": a}}
    )


def test_a_clean_rounded_export_raises_no_spectrum_finding() -> None:
    clean = scan()
    for name in SPECTRUM_RULES:
        params = {"limit": 10.0} if name == "nitrate_screening_above" else {}
        assert REGISTRY[name](clean, **params) is None, name


def test_an_isolated_spike_is_found_and_its_wavelength_named() -> None:
    finding = spectrum_spikes(scan({412.0: smooth(412) + 0.05}))
    assert finding is not None
    assert finding.value == 1
    assert "412 nm" in finding.message
    assert spectrum_spikes(scan({412.0: smooth(412) + 0.009})) is None  # below min_height


def test_noise_above_the_limit_is_found() -> None:
    rng = random.Random(7)
    nm = [200.0 + i for i in range(601)]
    noisy = [smooth(x) + rng.gauss(0, 0.02) for x in nm]
    message = ResultMessage.model_validate(
        {"sampleId": "S", "absorbance": 0.3, "spectrum": {"wavelengthNm": nm, "absorbance": noisy}}
    )
    finding = spectrum_noise(message)
    assert finding is not None
    assert 0.01 < float(finding.value or 0) < 0.03
    assert spectrum_noise(message, max_noise=0.05) is None


@pytest.mark.parametrize(("delta", "fires"), [(0.02, True), (-0.02, True), (0.004, False)])
def test_a_step_at_the_lamp_changeover_is_found(delta: float, fires: bool) -> None:
    finding = spectrum_lamp_step(shifted(delta))
    assert (finding is not None) is fires
    if finding is not None:
        assert finding.value == pytest.approx(delta, abs=0.003)


def test_the_lamp_step_needs_points_on_both_sides() -> None:
    assert spectrum_lamp_step(scan(low=200, high=330)) is None


def test_a_baseline_offset_over_700_to_800_nm_is_found() -> None:
    offset = {float(x): 0.02 for x in range(700, 801)}
    finding = spectrum_baseline(scan(offset))
    assert finding is not None
    assert finding.value == pytest.approx(0.02)
    assert spectrum_baseline(scan({float(x): 0.01 for x in range(700, 801)})) is None  # limit
    assert spectrum_baseline(scan(high=600)) is None  # not scanned there


def test_a_flat_top_is_found_only_when_long_and_high_enough() -> None:
    five = {float(x): 2.5 for x in range(210, 215)}
    finding = spectrum_flat_top(scan(five))
    assert finding is not None
    assert "210-214 nm" in finding.message
    assert spectrum_flat_top(scan({float(x): 2.5 for x in range(210, 214)})) is None
    assert spectrum_flat_top(scan({float(x): 1.2 for x in range(210, 220)})) is None


def test_too_few_points_or_too_coarse_a_step_is_found() -> None:
    few = spectrum_resolution(scan(low=200, high=204))
    assert few is not None and few.value == 5
    coarse = spectrum_resolution(scan(step=10))
    assert coarse is not None and coarse.value == 10
    assert spectrum_resolution(scan(step=5)) is None


def test_the_analytical_wavelength_outside_the_scan_is_found() -> None:
    outside = scan(low=250, wavelengthNm=220)
    finding = spectrum_covers_wavelength(outside)
    assert finding is not None and "220 nm" in finding.message
    assert spectrum_covers_wavelength(scan(wavelengthNm=220)) is None
    assert spectrum_covers_wavelength(scan(low=250), wavelength_nm=240) is not None


def test_index_rules_use_the_computed_indices() -> None:
    high_suva = scan(docMgL=0.5)  # A254 ~ 0.53 -> SUVA ~ 106 L/mg/m
    assert suva254_above(high_suva) is not None
    assert suva254_above(scan()) is None  # no DOC: not applied
    finding = nitrate_screening_above(scan(), limit=-0.1)  # A220 - 2 A275 = -0.029
    assert finding is not None and finding.code == "nitrate_screening_above"
    assert nitrate_screening_above(scan(), limit=5) is None


def test_nitrate_screening_needs_its_limit_in_the_method_file() -> None:
    with pytest.raises(MethodError, match="needs parameter"):
        method_from_mapping({"name": "n", "rules": {"nitrate_screening_above": {}}})


def test_check_writes_the_indices_of_a_scanned_result() -> None:
    method = method_from_mapping({"name": "scan-qc", "rules": {"spectrum_spikes": {}}})
    raw = json.dumps(
        {
            "sampleId": "S",
            "absorbance": 0.4,
            "spectrum": {"wavelengthNm": [250, 254, 365], "absorbance": [0.5, 0.4, 0.1]},
        }
    )
    judgement, _ = judge(raw, MethodBook([method]))
    data = judgement.to_dict()
    assert data["indices"]["uv254"] == pytest.approx(0.4)
    assert data["indices"]["e2e3"] == pytest.approx(5.0)
    assert (
        "indices"
        not in judge(json.dumps({"sampleId": "S", "absorbance": 0.4}), MethodBook())[0].to_dict()
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=150, max_value=1100, allow_nan=False),
            st.floats(min_value=-1e308, max_value=1e308, allow_nan=False),
        ),
        min_size=1,
        max_size=60,
        unique_by=lambda p: p[0],
    )
)
def test_no_spectrum_rule_crashes_or_reports_a_non_finite_number(
    points: list[tuple[float, float]],
) -> None:
    message = ResultMessage.model_validate(
        {
            "sampleId": "S",
            "absorbance": 0.1,
            "docMgL": 1,
            "spectrum": {
                "wavelengthNm": [p[0] for p in points],
                "absorbance": [p[1] for p in points],
            },
        }
    )
    for name in SPECTRUM_RULES:
        params = {"limit": 0.5} if name == "nitrate_screening_above" else {}
        finding = REGISTRY[name](message, **params)
        if finding is not None and isinstance(finding.value, float):
            assert math.isfinite(finding.value)


def test_the_example_scan_method_loads_and_passes_a_clean_scan() -> None:
    from pathlib import Path

    from uvqc.core.methods import load_method

    root = Path(__file__).resolve().parents[2]
    method = load_method(root / "examples" / "methods" / "uv254-scan.toml")
    raw = scan(docMgL=20).model_dump_json(by_alias=True)  # SUVA254 ~ 2.7 L/mg/m
    judgement, _ = judge(raw, MethodBook([method]))
    assert judgement.findings == ()
    assert judgement.indices is not None and judgement.indices["suva254"] is not None


def test_a_reading_that_contradicts_its_own_scan_is_found() -> None:
    """A fresh user's find: absorbance 0.05 at 254 nm with a scan reading 0.744 there
    passed, even with the scan method."""
    from uvqc.spectra.quality import spectrum_reading_mismatch

    at_254 = smooth(254)
    assert spectrum_reading_mismatch(scan(wavelengthNm=254, absorbance=at_254)) is None
    finding = spectrum_reading_mismatch(scan(wavelengthNm=254, absorbance=0.05))
    assert finding is not None and finding.limit == pytest.approx(at_254)
    assert "254 nm" in finding.message
    near = at_254 * 1.015  # within 2 %: rounding and drift, not a mix-up
    assert spectrum_reading_mismatch(scan(wavelengthNm=254, absorbance=near)) is None
    assert spectrum_reading_mismatch(scan(low=300, wavelengthNm=254, absorbance=0.05)) is None
