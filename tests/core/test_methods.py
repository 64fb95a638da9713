"""Method files (TOML and YAML): what loads, and every way loading fails with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from uvqc.core.engine import judge_message
from uvqc.core.methods import DEFAULT_METHOD, MethodBook, load_method, method_from_mapping
from uvqc.core.models import ResultMessage
from uvqc.core.verdicts import Severity, Verdict
from uvqc.errors import MethodError, UsageError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "methods"

TOML = """
name = "nitrate-uv"
description = "Nitrate at 220 nm"
[rules.dilution_required]
limit = 0.9
[rules.outside_calibration_range]
low = 0.01
high = 0.6
severity = "fail"
[suppress]
dilution_required = ["outside_calibration_range"]
"""

YAML = """
name: nitrate-uv
rules:
  dilution_required: {limit: 0.9}
  outside_calibration_range:
    low: 0.01
    high: 0.6
    severity: fail
  negative_absorbance:
suppress:
  dilution_required: [outside_calibration_range]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_toml_method_file_loads_with_its_parameters(tmp_path: Path) -> None:
    method = load_method(write(tmp_path, "m.toml", TOML))
    assert method.name == "nitrate-uv"
    assert method.description == "Nitrate at 220 nm"
    assert method.source.endswith("m.toml")
    assert [(c.name, dict(c.params)) for c in method.rules] == [
        ("dilution_required", {"limit": 0.9}),
        ("outside_calibration_range", {"low": 0.01, "high": 0.6, "severity": "fail"}),
    ]
    assert method.suppress == {"dilution_required": frozenset({"outside_calibration_range"})}


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YAML"])
def test_a_yaml_method_file_loads_and_a_rule_without_parameters_keeps_its_defaults(
    tmp_path: Path, suffix: str
) -> None:
    method = load_method(write(tmp_path, f"m{suffix}", YAML))
    assert [c.name for c in method.rules] == [
        "dilution_required",
        "outside_calibration_range",
        "negative_absorbance",
    ]
    assert dict(method.rules[2].params) == {}


def test_integer_parameters_are_taken_as_numbers(tmp_path: Path) -> None:
    method = load_method(
        write(tmp_path, "m.toml", 'name = "m"\n[rules.dilution_required]\nlimit = 2\n')
    )
    assert method.rules[0].params["limit"] == 2.0


def test_a_loaded_method_judges_with_its_own_limits(tmp_path: Path) -> None:
    book = MethodBook([load_method(write(tmp_path, "m.toml", TOML))])
    result = ResultMessage.model_validate({"sampleId": "S", "absorbance": 0.62})
    judgement = judge_message(result, book)
    assert judgement.method == "nitrate-uv"
    assert judgement.verdict is Verdict.FLAG
    assert judgement.findings[0].severity is Severity.FAIL
    assert judge_message(result.model_copy(update={"method": "default"}), book).verdict is (
        Verdict.PASS
    )


@pytest.mark.parametrize("path", sorted(EXAMPLES.iterdir()), ids=lambda p: p.name)
def test_the_example_method_files_load(path: Path) -> None:
    assert load_method(path).rules


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        (
            "m.toml",
            'name = "m"\n[rules.dilute_please]\n',
            "method 'm': unknown rule 'dilute_please' (known rules: ",
        ),
        (
            "m.toml",
            'name = "m"\n[rules.dilution_required]\nlimt = 1.0\n',
            "rule 'dilution_required' has no parameter 'limt' "
            "(its parameters: limit, severity, applies_to)",
        ),
        (
            "m.toml",
            'name = "m"\n[rules.dilution_required]\nlimit = "high"\n',
            "rule 'dilution_required' parameter 'limit'='high': Input should be a valid number",
        ),
        (
            "m.toml",
            'name = "m"\n[rules.dilution_required]\nseverity = "warning"\n',
            "parameter 'severity'='warning': Input should be 'suspect' or 'fail'",
        ),
        (
            "m.toml",
            'name = "m"\n[rules.dilution_required]\nlimit = true\n',
            "parameter 'limit'=True",
        ),
        ("m.toml", 'name = "m"\nrules = 3\n', "`rules` must list at least one rule"),
        ("m.toml", 'name = "m"\n[rules]\n', "`rules` must list at least one rule"),
        ("m.toml", "[rules.dilution_required]\n", "`name` is required"),
        ("m.toml", 'name = "  "\n[rules.dilution_required]\n', "`name` is required"),
        ("m.toml", "name = 5\n[rules.dilution_required]\n", "`name` is required"),
        (
            "m.toml",
            'name = "m"\nrule = {}\n[rules.dilution_required]\n',
            "unknown key(s) rule (allowed: description, name, rules, run, suppress, wavelength_nm)",
        ),
        ("m.toml", 'name = "m"\nrules = {dilution_required = 1}\n', "must be a table of param"),
        ("m.toml", 'name = "m"\n[rules.dilution_required\n', "is not valid TOML"),
        ("m.yaml", "name: m\nrules: [dilution_required\n", "is not valid YAML"),
        ("m.yaml", "- a\n- b\n", "must hold a table/mapping at the top level"),
        ("m.yaml", "", "must hold a table/mapping at the top level"),
        (
            "m.toml",
            'name = "m"\n[rules.dilution_required]\n[suppress]\ndilution_required = "x"\n',
            "suppress.dilution_required must be a list of rule names",
        ),
        (
            "m.toml",
            'name = "m"\n[rules.dilution_required]\n[suppress]\n'
            'dilution_required = ["outside_calibration_range"]\n',
            "suppress names 'outside_calibration_range', which the method does not use",
        ),
        (
            "m.toml",
            'name = "m"\n[rules.dilution_required]\n[suppress]\n'
            'over_range = ["dilution_required"]\n',
            "suppress names 'over_range', which the method does not use",
        ),
        ("m.toml", 'name = "m"\nsuppress = [1]\n[rules.dilution_required]\n', "`suppress` must"),
    ],
)
def test_a_bad_method_file_fails_to_load_with_the_reason(
    tmp_path: Path, name: str, text: str, reason: str
) -> None:
    with pytest.raises(MethodError) as caught:
        load_method(write(tmp_path, name, text))
    assert reason in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_missing_method_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(MethodError, match=r"cannot read method file .*nope\.toml"):
        load_method(tmp_path / "nope.toml")
    assert issubclass(MethodError, UsageError)


def test_a_method_file_that_is_not_utf8_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_bytes(b'name = "\xff"\n')
    with pytest.raises(MethodError, match="is not UTF-8 text"):
        load_method(path)


def test_a_required_rule_parameter_must_be_given() -> None:
    # No built-in rule has a required parameter yet: a rule registered for this test does.
    from uvqc.core import rules

    def needs_limit(result: ResultMessage, *, limit: float) -> None:
        return None

    rules.REGISTRY["needs_limit"] = needs_limit
    try:
        with pytest.raises(MethodError, match=r"needs parameter\(s\) limit"):
            method_from_mapping({"name": "m", "rules": {"needs_limit": {}}})
    finally:
        del rules.REGISTRY["needs_limit"]


def test_the_method_book_always_holds_the_default_method() -> None:
    book = MethodBook()
    assert list(book) == ["default"]
    assert len(book) == 1
    assert book.default is DEFAULT_METHOD
    assert book["default"] is DEFAULT_METHOD


def test_the_first_method_file_becomes_the_default_of_the_book(tmp_path: Path) -> None:
    book = MethodBook.from_paths(
        [write(tmp_path, "a.toml", TOML), write(tmp_path, "b.yaml", YAML.replace("nitrate", "x"))]
    )
    assert set(book) == {"default", "nitrate-uv", "x-uv"}
    assert book.default.name == "nitrate-uv"
    assert "missing" not in book


def test_the_method_book_default_can_be_chosen_by_name(tmp_path: Path) -> None:
    method = load_method(write(tmp_path, "a.toml", TOML))
    assert MethodBook([method], default="default").default is DEFAULT_METHOD


def test_a_method_book_with_a_bad_file_raises_the_file_reason(tmp_path: Path) -> None:
    with pytest.raises(MethodError, match="unknown rule"):
        MethodBook.from_paths([write(tmp_path, "a.toml", 'name = "m"\n[rules.x]\n')])
