"""Issue 9 case 6: hostile and mistaken method files are refused with a reason, cheaply."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from uvqc.core.methods import (
    METHOD_FILE_MAX_BYTES,
    MethodBook,
    load_method,
    method_from_mapping,
    parameter_constraints,
    rule_parameters,
    shown,
)
from uvqc.core.rules import REGISTRY
from uvqc.errors import MethodError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def laughs(levels: int, width: int = 9) -> str:
    """The "billion laughs" YAML: each level repeats the previous one `width` times."""
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    lines += ["name: m", "rules:", f"  dilution_required: {{limit: *a{levels - 1}}}"]
    return "\n".join(lines) + "\n"


def test_yaml_aliases_are_refused_before_anything_expands(tmp_path: Path) -> None:
    # observed: a 471-byte file exhausted memory; 9**6 leaves keep this test harmless on the
    # old code too (it failed there by expanding them into the error message)
    path = write(tmp_path, "bomb.yaml", laughs(7))
    with pytest.raises(MethodError, match=r"line 2 column \d+: YAML aliases") as caught:
        load_method(path)
    assert len(str(caught.value)) < 300


def test_the_original_bomb_is_refused_too(tmp_path: Path) -> None:
    text = laughs(10)
    assert len(text) < 1000
    with pytest.raises(MethodError, match="YAML aliases"):
        load_method(write(tmp_path, "bomb.yml", text))


def test_a_method_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    padding = "# " + "x" * 100 + "\n"
    text = 'name = "m"\n[rules.dilution_required]\n' + padding * (METHOD_FILE_MAX_BYTES // 100)
    with pytest.raises(MethodError, match="larger than 64 KiB"):
        load_method(write(tmp_path, "big.toml", text))


def test_yaml_duplicate_keys_are_refused_like_toml_does(tmp_path: Path) -> None:
    text = "name: m\nrules:\n  dilution_required: {limit: 0.5}\n  dilution_required: {limit: 2}\n"
    with pytest.raises(MethodError, match=r"line 4 column 3: duplicate key 'dilution_required'"):
        load_method(write(tmp_path, "m.yaml", text))
    text = "name: m\nrules:\n  dilution_required:\n    limit: 0.5\n    limit: 2\n"
    with pytest.raises(MethodError, match="duplicate key 'limit'"):
        load_method(write(tmp_path, "m.yaml", text))
    text = "name: m\nname: n\nrules: {dilution_required: }\n"
    with pytest.raises(MethodError, match="duplicate key 'name'"):
        load_method(write(tmp_path, "m.yaml", text))


@pytest.mark.parametrize(
    ("rule", "params", "reason"),
    [
        ("dilution_required", "limit = nan", "'limit'=nan: Input should be a finite number"),
        ("dilution_required", "limit = inf", "finite number"),
        ("dilution_required", "limit = 0", "'limit'=0: Input should be greater than 0"),
        ("over_range", "ceiling = inf", "'ceiling'=inf: Input should be a finite number"),
        ("over_range", "ceiling = -inf", "finite number"),
        ("outside_calibration_range", "low = nan", "finite number"),
        ("outside_calibration_range", "low = 0.7\nhigh = 0.5", "low (0.7) must be below high"),
        ("outside_calibration_range", "low = 0.9", "low (0.9) must be below high (0.67)"),
        ("outside_calibration_range", "low = 0.5\nhigh = 0.5", "must be below"),
        ("negative_absorbance", "noise = -1", "'noise'=-1: Input should be greater than or"),
        ("spectrum_axis", "min_nm = 400\nmax_nm = 200", "min_nm (400.0) must be below max_nm"),
        ("spectrum_axis", "min_nm = -5", "greater than 0"),
        ("spectrum_saturation", "ceiling = nan", "finite number"),
        ("blank_limit", "limit = -0.01", "greater than 0"),
    ],
)
def test_parameters_must_be_finite_and_ordered(
    tmp_path: Path, rule: str, params: str, reason: str
) -> None:
    text = f'name = "m"\n[rules.{rule}]\n{params}\n'
    with pytest.raises(MethodError) as caught:
        load_method(write(tmp_path, "m.toml", text))
    assert reason in str(caught.value)


def test_yaml_nan_and_infinity_are_refused_too(tmp_path: Path) -> None:
    for value in (".nan", ".inf", "-.inf"):
        text = f"name: m\nrules:\n  over_range: {{ceiling: {value}}}\n"
        with pytest.raises(MethodError, match="finite number"):
            load_method(write(tmp_path, "m.yaml", text))


def test_every_default_parameter_satisfies_its_own_constraints() -> None:
    required = {"nitrate_screening_above": {"limit": 1.0}}  # no default: the method decides
    for name in REGISTRY:
        params = required.get(name, {})
        method = method_from_mapping({"name": "m", "rules": {name: params}}, source="m.toml")
        assert method.rules[0].name == name
    assert parameter_constraints("outside_calibration_range") == {
        "low": "finite",
        "high": "finite",
    }
    assert parameter_constraints("dilution_required") == {"limit": "finite, > 0"}
    assert parameter_constraints("negative_absorbance") == {"noise": "finite, >= 0"}
    assert "limit" in rule_parameters("blank_limit")


def test_a_method_file_may_not_take_the_built_in_name(tmp_path: Path) -> None:
    text = 'name = "default"\n[rules.dilution_required]\nlimit = 5.0\n'
    with pytest.raises(MethodError, match="'default' is reserved for the built-in method"):
        load_method(write(tmp_path, "m.toml", text))


def test_two_method_files_may_not_share_a_name(tmp_path: Path) -> None:
    a = write(tmp_path, "a.toml", 'name = "m"\n[rules.dilution_required]\n')
    b = write(tmp_path, "b.toml", 'name = "m"\n[rules.over_range]\n')
    with pytest.raises(MethodError, match=r"'m' is already used by .*a\.toml"):
        MethodBook.from_paths([a, b])


@pytest.mark.parametrize("name", ["x" * 65, "a\nb", "tab\there"])
def test_a_method_name_is_short_printable_text(name: str) -> None:
    with pytest.raises(MethodError, match="printable characters"):
        method_from_mapping({"name": name, "rules": {"over_range": {}}}, source="m.toml")


def test_a_bom_before_a_toml_method_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_bytes(b'\xef\xbb\xbfname = "m"\n[rules.over_range]\n')
    assert load_method(path).name == "m"


@given(st.text(min_size=200, max_size=5000).map("x".__add__) | st.lists(st.integers(), min_size=50))
def test_an_error_message_never_grows_with_the_value(value: object) -> None:
    data = {"name": "m", "rules": {"dilution_required": {"limit": value}}}
    with pytest.raises(MethodError) as caught:
        method_from_mapping(data, source="m.toml")
    assert len(str(caught.value)) < 300
    assert len(shown(value)) <= 100


def test_a_huge_unknown_key_is_cut_in_the_message() -> None:
    data = {"name": "m", "rules": {"over_range": {}}, "k" * 10_000: 1}
    with pytest.raises(MethodError) as caught:
        method_from_mapping(data, source="m.toml")
    assert len(str(caught.value)) < 300
    assert not math.isnan(0.0)


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_deeply_nested_values_are_refused_not_crashed(tmp_path: Path, suffix: str) -> None:
    n = 30_000  # fits in the size limit; deeper than Python's recursion limit
    nested = "[" * n + "]" * n
    if suffix == ".toml":
        text = f'name = "m"\n[rules.over_range]\nceiling = {nested}\n'
    else:
        text = f"name: m\nrules:\n  over_range: {{ceiling: {nested}}}\n"
    with pytest.raises(MethodError, match="nested too deeply"):
        load_method(write(tmp_path, f"deep{suffix}", text))
