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

Hostile files are refused with a reason, never expanded: a file is at most
METHOD_FILE_MAX_BYTES, YAML aliases (the "billion laughs" expansion) and duplicate keys are
errors, parameters must satisfy the constraints their rule declares (finite, > 0, low < high),
and the built-in method's name is reserved. Error messages show values through a bounded
repr, so no message can grow with the input.
"""

from __future__ import annotations

import inspect
import math
import reprlib
import tomllib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from uvqc.core.models import SampleType
from uvqc.core.rules import REGISTRY, Rule, spec_of
from uvqc.errors import MethodError
from uvqc.runs.config import RunConfig, run_config_from_mapping

_TOP_LEVEL_KEYS = {"name", "description", "rules", "suppress", "run", "wavelength_nm"}
# A method file is a page of settings (the commented example is 2 KiB): 64 KiB is generous,
# and bounds what a mistaken or hostile file can cost to parse.
METHOD_FILE_MAX_BYTES = 64 * 1024
METHOD_NAME_MAX_CHARS = 64
# Names a method file may not take: the built-in method stays selectable by its name.
RESERVED_NAMES = frozenset({"default"})
# The engine's own parameter, accepted under every rule: the sample types it judges.
APPLIES_TO = "applies_to"

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlevel = 3
_short.maxlong = 24


def shown(value: Any) -> str:
    """A bounded repr for error messages: never grows with the value (a nested YAML alias
    bomb, a 60 KiB string)."""
    return clipped(_short.repr(value))


def clipped(text: str, limit: int = 80) -> str:
    """Text for an error message, cut at `limit` characters."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class RuleCall:
    """One configured rule: the function, its validated keyword arguments and the sample
    types it judges (others skip it)."""

    name: str
    func: Rule
    params: Mapping[str, Any]
    applies_to: frozenset[str] = frozenset(SampleType)


@dataclass(frozen=True, slots=True)
class Method:
    """A named, validated QC method."""

    name: str
    rules: tuple[RuleCall, ...]
    suppress: Mapping[str, frozenset[str]] = field(default_factory=dict)
    description: str = ""
    source: str = "built-in"
    run: RunConfig | None = None  # the [run] section: run-level QC (uvqc.runs)
    # The analytical wavelength (nm): `uvqc ingest` reads scans there when no --wavelength.
    wavelength_nm: float | None = None


def rule_parameters(name: str) -> dict[str, inspect.Parameter]:
    """The keyword-only parameters a rule accepts (its configuration schema)."""
    sig = inspect.signature(REGISTRY[name])
    return {p.name: p for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def parameter_constraints(name: str) -> dict[str, str]:
    """Each parameter's declared constraints in words ("finite, > 0"), for `methods list`."""
    hints = typing.get_type_hints(REGISTRY[name], include_extras=True)
    described: dict[str, str] = {}
    for pname in rule_parameters(name):
        words: list[str] = []
        for hint in [hints[pname], *typing.get_args(hints[pname])]:
            for meta in getattr(hint, "__metadata__", ()):
                if getattr(meta, "allow_inf_nan", True) is False:
                    words.append("finite")
                for attr, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                    if getattr(meta, attr, None) is not None:
                        words.append(f"{op} {getattr(meta, attr)}")
        if words:
            described[pname] = ", ".join(words)
    return described


def _applies_to(method: str, rule_name: str, value: Any) -> frozenset[str]:
    allowed = [t.value for t in SampleType]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v in allowed for v in value)
    ):
        raise MethodError(
            f"method {method!r}: rule {rule_name!r} parameter {APPLIES_TO!r}={shown(value)}: "
            f"must be a non-empty list of sample types ({', '.join(allowed)})"
        )
    return frozenset(value)


def _validate_params(
    method: str, rule_name: str, given: Any
) -> tuple[dict[str, Any], frozenset[str]]:
    if rule_name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise MethodError(
            f"method {method!r}: unknown rule {shown(rule_name)} (known rules: {known})"
        )
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise MethodError(
            f"method {method!r}: rule {rule_name!r} must be a table of parameters, "
            f"got {type(given).__name__}"
        )
    params = rule_parameters(rule_name)
    hints = typing.get_type_hints(REGISTRY[rule_name])
    full_hints = typing.get_type_hints(REGISTRY[rule_name], include_extras=True)
    spec = spec_of(rule_name)
    applies_to = frozenset(t.value for t in spec.applies_to)
    validated: dict[str, Any] = {}
    for key, value in given.items():
        if key == APPLIES_TO:
            applies_to = _applies_to(method, rule_name, value)
            continue
        if key not in params:
            allowed = ", ".join([*params, APPLIES_TO])
            raise MethodError(
                f"method {method!r}: rule {rule_name!r} has no parameter {shown(key)} "
                f"(its parameters: {allowed})"
            )
        if isinstance(value, bool) and bool not in (*typing.get_args(hints[key]), hints[key]):
            # lax validation would read `limit = true` as 1.0: a typo, not a limit
            raise MethodError(
                f"method {method!r}: rule {rule_name!r} parameter {key!r}={value!r}: "
                "a true/false value where a number or a name is expected"
            )
        try:
            validated[key] = TypeAdapter(full_hints[key]).validate_python(value, strict=False)
        except ValidationError as exc:
            reason = exc.errors(include_url=False)[0]["msg"]
            raise MethodError(
                f"method {method!r}: rule {rule_name!r} parameter {key!r}={shown(value)}: {reason}"
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
    effective = {p.name: p.default for p in params.values()} | validated
    for low, high in spec.ordered:
        a, b = effective.get(low), effective.get(high)
        if a is not None and b is not None and not a < b:
            raise MethodError(
                f"method {method!r}: rule {rule_name!r}: {low} ({a!r}) must be below {high} ({b!r})"
            )
    return validated, applies_to


def method_from_mapping(data: Any, *, source: str = "built-in") -> Method:
    """Build a Method from parsed TOML/YAML, validating every rule and parameter."""
    if not isinstance(data, Mapping):
        raise MethodError(f"{source}: a method file must hold a table/mapping at the top level")
    unknown = set(data) - _TOP_LEVEL_KEYS
    if unknown:
        raise MethodError(
            f"{source}: unknown key(s) {clipped(', '.join(sorted(map(str, unknown))))} "
            f"(allowed: {', '.join(sorted(_TOP_LEVEL_KEYS))})"
        )
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise MethodError(f"{source}: `name` is required and must be a non-empty string")
    if len(name) > METHOD_NAME_MAX_CHARS or not name.isprintable():
        raise MethodError(
            f"{source}: `name` {shown(name)} must be at most {METHOD_NAME_MAX_CHARS} "
            "printable characters"
        )
    if source != "built-in" and name in RESERVED_NAMES:
        raise MethodError(
            f"{source}: the name {name!r} is reserved for the built-in method "
            "(results select it by that name): choose another name"
        )
    run = run_config_from_mapping(name, data["run"]) if "run" in data else None
    rules = data.get("rules", {} if run is not None else None)
    if not isinstance(rules, Mapping) or (not rules and run is None):
        raise MethodError(f"method {name!r} ({source}): `rules` must list at least one rule")
    calls = []
    for rname, params in rules.items():
        validated, applies_to = _validate_params(name, str(rname), params)  # or MethodError
        calls.append(RuleCall(str(rname), REGISTRY[str(rname)], validated, applies_to))
    suppress_raw = data.get("suppress") or {}
    if not isinstance(suppress_raw, Mapping):
        raise MethodError(f"method {name!r}: `suppress` must map a rule to a list of rules")
    suppress: dict[str, frozenset[str]] = {}
    for key, targets in suppress_raw.items():
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise MethodError(
                f"method {name!r}: suppress.{clipped(str(key))} must be a list of rule names"
            )
        for target in [key, *targets]:
            if target not in rules:
                raise MethodError(
                    f"method {name!r}: suppress names {shown(target)}, which the method does "
                    "not use"
                )
        suppress[str(key)] = frozenset(targets)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise MethodError(f"method {name!r}: `description` must be text")
    wavelength = data.get("wavelength_nm")
    if wavelength is not None and (
        isinstance(wavelength, bool)
        or not isinstance(wavelength, int | float)
        or not math.isfinite(wavelength)
        or wavelength <= 0
    ):
        raise MethodError(f"method {name!r}: wavelength_nm must be a finite number of nm > 0")
    return Method(
        name,
        tuple(calls),
        suppress,
        description,
        source,
        run,
        float(wavelength) if wavelength is not None else None,
    )


def _read_limited(path: Path) -> str:
    """The file's text, refusing more than METHOD_FILE_MAX_BYTES (read in a bounded way, so a
    pipe or a device is fine too). A leading UTF-8 BOM (Windows editors) is dropped."""
    try:
        with path.open("rb") as f:
            data = f.read(METHOD_FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise MethodError(f"cannot read method file {path}: {exc.strerror or exc}") from None
    if len(data) > METHOD_FILE_MAX_BYTES:
        raise MethodError(
            f"method file {path} is larger than {METHOD_FILE_MAX_BYTES // 1024} KiB: "
            "a method file holds a page of settings; is this the right file?"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MethodError(f"method file {path} is not UTF-8 text") from None


def _load_yaml(text: str, path: Path) -> Any:
    """Safe YAML without aliases (no "billion laughs" expansion) and without duplicate keys
    (PyYAML would keep the last one silently; TOML refuses them too)."""
    import yaml  # only when a YAML method is used: keeps Lambda INIT small

    def where(node_or_event: Any) -> str:
        mark = node_or_event.start_mark
        return f"method file {path} line {mark.line + 1} column {mark.column + 1}"

    class StrictLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise MethodError(
                    f"{where(event)}: YAML aliases (*name) are not allowed in "
                    "method files: write the value out"
                )
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                seen: set[Any] = set()
                for key_node, _value in node.value:
                    key = self.construct_object(key_node, deep=deep)
                    try:
                        duplicate = key in seen
                        seen.add(key)
                    except TypeError:
                        continue  # unhashable: the base class says so
                    if duplicate:
                        raise MethodError(
                            f"{where(key_node)}: duplicate key {shown(key)} (only one value "
                            "per key: which one was meant?)"
                        )
            return super().construct_mapping(node, deep=deep)

    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        raise MethodError(f"method file {path} is not valid YAML: {exc}") from None


def load_method(path: str | Path) -> Method:
    """Load a method file (.toml, .yaml or .yml); MethodError with the reason if it is
    unreadable, too large (METHOD_FILE_MAX_BYTES), malformed or invalid."""
    path = Path(path)
    text = _read_limited(path)
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            data = _load_yaml(text, path)
        else:
            data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MethodError(f"method file {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise MethodError(f"method file {path} is nested too deeply") from None
    return method_from_mapping(data, source=str(path))


DEFAULT_METHOD = method_from_mapping(
    {
        "name": "default",
        "description": "The original system's two rules: dilute at A >= 1.0; otherwise flag "
        "anything not strictly inside the calibration range (0, 0.67).",
        "rules": {
            # samples, duplicates and spikes: the original two rules, unchanged
            "dilution_required": {"limit": 1.0},
            "outside_calibration_range": {"low": 0.0, "high": 0.67},
            # blanks: near zero is the expected value (SM 2020 B)
            "blank_limit": {"limit": 0.01},
            # standards: only what is wrong whatever their true value (run-level QC judges
            # them against it)
            "negative_absorbance": {"applies_to": ["calibration_standard", "check_standard"]},
            "over_range": {"applies_to": ["calibration_standard", "check_standard"]},
        },
        "suppress": {"dilution_required": ["outside_calibration_range"]},
    }
)


class MethodBook(Mapping[str, Method]):
    """The methods available at check time, by name, with the one used when none is named."""

    def __init__(self, methods: list[Method] | None = None, default: str | None = None) -> None:
        self._methods: dict[str, Method] = {DEFAULT_METHOD.name: DEFAULT_METHOD}
        for method in methods or []:
            if method.name in self._methods:
                other = self._methods[method.name]
                raise MethodError(
                    f"{method.source}: method name {method.name!r} is already used by "
                    f"{other.source}: each method needs its own name"
                )
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
