"""QC methods: named lists of rules with their parameters, loaded from TOML or YAML.

A method file names rules by their registry name; the keys under a rule are exactly that
rule's keyword arguments. Unknown rules, unknown parameters and ill-typed values are errors
at load time (MethodError), never at check time.

    name = "nitrate-uv"
    [rules.dilution_required]
    limit = 1.0
    [rules.outside_calibration_range]
    low = 0.0
    high = 0.67
    [suppress]           # when the key fires, the listed rules are not reported
    dilution_required = ["outside_calibration_range"]
"""

from __future__ import annotations

import inspect
import tomllib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from uvqc.core.rules import REGISTRY, Rule
from uvqc.errors import MethodError

_TOP_LEVEL_KEYS = {"name", "description", "rules", "suppress", "wavelength_nm"}


@dataclass(frozen=True, slots=True)
class RuleCall:
    """One configured rule: the function and its validated keyword arguments."""

    name: str
    func: Rule
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Method:
    """A named, validated QC method."""

    name: str
    rules: tuple[RuleCall, ...]
    suppress: Mapping[str, frozenset[str]] = field(default_factory=dict)
    description: str = ""
    source: str = "built-in"
    # The analytical wavelength (nm): `uvqc ingest` reads scans there when no --wavelength.
    wavelength_nm: float | None = None


def rule_parameters(name: str) -> dict[str, inspect.Parameter]:
    """The keyword-only parameters a rule accepts (its configuration schema)."""
    sig = inspect.signature(REGISTRY[name])
    return {p.name: p for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _validate_params(method: str, rule_name: str, given: Any) -> dict[str, Any]:
    if rule_name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise MethodError(f"method {method!r}: unknown rule {rule_name!r} (known rules: {known})")
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise MethodError(
            f"method {method!r}: rule {rule_name!r} must be a table of parameters, "
            f"got {type(given).__name__}"
        )
    params = rule_parameters(rule_name)
    hints = typing.get_type_hints(REGISTRY[rule_name])
    validated: dict[str, Any] = {}
    for key, value in given.items():
        if key not in params:
            allowed = ", ".join(params) or "none"
            raise MethodError(
                f"method {method!r}: rule {rule_name!r} has no parameter {key!r} "
                f"(its parameters: {allowed})"
            )
        if isinstance(value, bool) and bool not in (*typing.get_args(hints[key]), hints[key]):
            # lax validation would read `limit = true` as 1.0: a typo, not a limit
            raise MethodError(
                f"method {method!r}: rule {rule_name!r} parameter {key!r}={value!r}: "
                "a true/false value where a number or a name is expected"
            )
        try:
            validated[key] = TypeAdapter(hints[key]).validate_python(value, strict=False)
        except ValidationError as exc:
            reason = exc.errors(include_url=False)[0]["msg"]
            raise MethodError(
                f"method {method!r}: rule {rule_name!r} parameter {key!r}={value!r}: {reason}"
            ) from None
    missing = [
        p.name
        for p in params.values()
        if p.default is inspect.Parameter.empty and p.name not in given
    ]
    if missing:
        raise MethodError(
            f"method {method!r}: rule {rule_name!r} needs parameter(s) {', '.join(missing)}"
        )
    return validated


def method_from_mapping(data: Any, *, source: str = "built-in") -> Method:
    """Build a Method from parsed TOML/YAML, validating every rule and parameter."""
    if not isinstance(data, Mapping):
        raise MethodError(f"{source}: a method file must hold a table/mapping at the top level")
    unknown = set(data) - _TOP_LEVEL_KEYS
    if unknown:
        raise MethodError(
            f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
            f"(allowed: {', '.join(sorted(_TOP_LEVEL_KEYS))})"
        )
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise MethodError(f"{source}: `name` is required and must be a non-empty string")
    rules = data.get("rules")
    if not isinstance(rules, Mapping) or not rules:
        raise MethodError(f"method {name!r} ({source}): `rules` must list at least one rule")
    calls = []
    for rname, params in rules.items():
        validated = _validate_params(name, str(rname), params)  # unknown rule: MethodError
        calls.append(RuleCall(str(rname), REGISTRY[str(rname)], validated))
    suppress_raw = data.get("suppress") or {}
    if not isinstance(suppress_raw, Mapping):
        raise MethodError(f"method {name!r}: `suppress` must map a rule to a list of rules")
    suppress: dict[str, frozenset[str]] = {}
    for key, targets in suppress_raw.items():
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise MethodError(f"method {name!r}: suppress.{key} must be a list of rule names")
        for target in [key, *targets]:
            if target not in rules:
                raise MethodError(
                    f"method {name!r}: suppress names {target!r}, which the method does not use"
                )
        suppress[str(key)] = frozenset(targets)
    description = data.get("description", "")
    wavelength = data.get("wavelength_nm")
    if wavelength is not None and (
        isinstance(wavelength, bool) or not isinstance(wavelength, int | float) or wavelength <= 0
    ):
        raise MethodError(f"method {name!r}: wavelength_nm must be a number of nm > 0")
    return Method(
        name,
        tuple(calls),
        suppress,
        str(description),
        source,
        float(wavelength) if wavelength is not None else None,
    )


def load_method(path: str | Path) -> Method:
    """Load a method file (.toml, .yaml or .yml)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MethodError(f"cannot read method file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise MethodError(f"method file {path} is not UTF-8 text") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml  # only when a YAML method is used: keeps Lambda INIT small

            data = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MethodError(f"method file {path} is not valid TOML: {exc}") from None
    except Exception as exc:  # yaml.YAMLError; yaml is imported lazily
        if type(exc).__module__.startswith("yaml"):
            raise MethodError(f"method file {path} is not valid YAML: {exc}") from None
        raise
    return method_from_mapping(data, source=str(path))


DEFAULT_METHOD = method_from_mapping(
    {
        "name": "default",
        "description": "The original system's two rules: dilute at A >= 1.0; otherwise flag "
        "anything not strictly inside the calibration range (0, 0.67).",
        "rules": {
            "dilution_required": {"limit": 1.0},
            "outside_calibration_range": {"low": 0.0, "high": 0.67},
        },
        "suppress": {"dilution_required": ["outside_calibration_range"]},
    }
)


class MethodBook(Mapping[str, Method]):
    """The methods available at check time, by name, with the one used when none is named."""

    def __init__(self, methods: list[Method] | None = None, default: str | None = None) -> None:
        self._methods: dict[str, Method] = {DEFAULT_METHOD.name: DEFAULT_METHOD}
        for method in methods or []:
            self._methods[method.name] = method
        self.default = self._methods[default or (methods[0].name if methods else "default")]

    def __getitem__(self, name: str) -> Method:
        return self._methods[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._methods)

    def __len__(self) -> int:
        return len(self._methods)

    @classmethod
    def from_paths(cls, paths: list[Path]) -> MethodBook:
        """The built-in methods plus those files; the first file's method is the default."""
        return cls([load_method(p) for p in paths])
