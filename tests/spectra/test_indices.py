"""Water-quality indices against hand-computed values (docs/SPECTRA.md)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uvqc.core.models import ResultMessage
from uvqc.spectra.indices import INDEX_KEYS, indices_of, log_linear_slope, scan_indices
from uvqc.spectra.points import Scan


def absorbance(nm: float) -> float:
    """0.4 at 250 nm, decaying with S = 0.02/nm up to 300 nm and S = 0.01/nm beyond."""
    if nm <= 300:
        return 0.4 * math.exp(-0.02 * (nm - 250))
    return 0.4 * math.exp(-1.0) * math.exp(-0.01 * (nm - 300))


def result(
    step: float = 1.0, low: float = 200, high: float = 450, **fields: object
) -> ResultMessage:
    n = int((high - low) / step) + 1
    nm = [low + i * step for i in range(n)]
    return ResultMessage.model_validate(
        {
            "sampleId": "S-1",
            "absorbance": absorbance(254),
            "spectrum": {"wavelengthNm": nm, "absorbance": [absorbance(x) for x in nm]},
            **fields,
        }
    )


def test_every_index_matches_its_hand_computed_value() -> None:
    found = indices_of(result(pathLengthCm=5, docMgL=2.5))
    assert found is not None
    a254 = 0.4 * math.exp(-0.08)
    assert found["uv254"] == pytest.approx(a254 / 5)
    assert found["a254PerM"] == pytest.approx(2.303 * a254 / 0.05)
    assert found["suva254"] == pytest.approx(100 * (a254 / 5) / 2.5)
    assert found["e2e3"] == pytest.approx(math.exp(1.65))  # 0.4 / (0.4 e^-1 e^-0.65)
    assert found["s275to295"] == pytest.approx(0.02)
    assert found["s275to295R2"] == pytest.approx(1.0)
    assert found["s350to400"] == pytest.approx(0.01)
    assert found["slopeRatio"] == pytest.approx(2.0)
    a220, a275 = 0.4 * math.exp(0.6), 0.4 * math.exp(-0.5)
    assert found["nitrateScreening"] == pytest.approx(a220 - 2 * a275)
    assert set(found) == set(INDEX_KEYS)


def test_values_between_points_are_interpolated_linearly() -> None:
    scan = Scan((250.0, 255.0), (0.5, 0.4))
    assert scan.at(254.0) == pytest.approx(0.42)
    assert scan_indices(scan)["uv254"] == pytest.approx(0.42)


def test_a_descending_scan_gives_the_same_indices() -> None:
    up = result(step=2)
    spectrum = up.spectrum
    assert spectrum is not None
    down = ResultMessage.model_validate(
        {
            "sampleId": "S-1",
            "absorbance": 0.3,
            "spectrum": {
                "wavelengthNm": spectrum.wavelength_nm[::-1],
                "absorbance": spectrum.absorbance[::-1],
            },
        }
    )
    assert indices_of(down) == indices_of(up)


def test_indices_a_scan_does_not_cover_are_null() -> None:
    found = indices_of(result(low=300, high=800, step=5))
    assert found is not None
    assert found["uv254"] is None
    assert found["e2e3"] is None
    assert found["s275to295"] is None
    assert found["slopeRatio"] is None
    assert found["nitrateScreening"] is None
    assert found["s350to400"] == pytest.approx(0.01)


def test_suva_needs_doc_and_a_slope_needs_positive_absorbance() -> None:
    assert indices_of(result())["suva254"] is None  # type: ignore[index]
    nm = [270.0 + i for i in range(30)]
    values = [0.01 - 0.001 * i for i in range(30)]  # crosses zero inside 275-295
    assert scan_indices(Scan(tuple(nm), tuple(values)))["s275to295"] is None


def test_a_fixed_uv254_reading_gives_uv254_and_a_reading_elsewhere_none() -> None:
    at_254 = ResultMessage.model_validate(
        {"sampleId": "S", "absorbance": 0.12, "wavelengthNm": 254, "pathLengthCm": 4}
    )
    assert indices_of(at_254)["uv254"] == pytest.approx(0.03)  # type: ignore[index]
    at_220 = ResultMessage.model_validate(
        {"sampleId": "S", "absorbance": 0.12, "wavelengthNm": 220}
    )
    assert indices_of(at_220) is None


def test_the_slope_fit_reports_its_r_squared() -> None:
    s, r2 = log_linear_slope(
        [1.0, 2.0, 3.0, 4.0], [math.e**-1, math.e**-2.1, math.e**-2.9, math.e**-4]
    )
    assert s == pytest.approx(0.98)
    assert 0.98 < r2 < 1.0
    assert log_linear_slope([1.0, 2.0], [1.0, 2.0]) is None


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=150, max_value=1100, allow_nan=False),
            st.floats(min_value=-1e308, max_value=1e308, allow_nan=False),
        ),
        min_size=1,
        max_size=80,
        unique_by=lambda p: p[0],
    ),
    st.floats(min_value=0.01, max_value=10),
)
def test_indices_are_finite_numbers_or_null_for_any_scan(
    points: list[tuple[float, float]], path: float
) -> None:
    message = ResultMessage.model_validate(
        {
            "sampleId": "S",
            "absorbance": 0.1,
            "pathLengthCm": path,
            "docMgL": 3,
            "spectrum": {
                "wavelengthNm": [p[0] for p in points],
                "absorbance": [p[1] for p in points],
            },
        }
    )
    found = indices_of(message)
    assert found is not None
    assert all(v is None or math.isfinite(v) for v in found.values())
