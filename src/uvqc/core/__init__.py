"""The pure core: result model, QC rules and methods, verdicts. No I/O, no AWS, no SQLite.

Names are re-exported lazily: importing `uvqc.core.verdicts` (as the notify stage does) must
not import pydantic and build the result model, which costs ~200 ms of Lambda INIT.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uvqc.core.engine import apply_method, judge, judge_message
    from uvqc.core.methods import DEFAULT_METHOD, Method, MethodBook, load_method
    from uvqc.core.models import ResultMessage, SampleType, Spectrum, result_schema
    from uvqc.core.verdicts import Finding, Judgement, Severity, Verdict

_EXPORTS = {
    "DEFAULT_METHOD": "uvqc.core.methods",
    "Finding": "uvqc.core.verdicts",
    "Judgement": "uvqc.core.verdicts",
    "Method": "uvqc.core.methods",
    "MethodBook": "uvqc.core.methods",
    "ResultMessage": "uvqc.core.models",
    "SampleType": "uvqc.core.models",
    "Severity": "uvqc.core.verdicts",
    "Spectrum": "uvqc.core.models",
    "Verdict": "uvqc.core.verdicts",
    "apply_method": "uvqc.core.engine",
    "judge": "uvqc.core.engine",
    "judge_message": "uvqc.core.engine",
    "load_method": "uvqc.core.methods",
    "result_schema": "uvqc.core.models",
}

__all__ = [
    "DEFAULT_METHOD",
    "Finding",
    "Judgement",
    "Method",
    "MethodBook",
    "ResultMessage",
    "SampleType",
    "Severity",
    "Spectrum",
    "Verdict",
    "apply_method",
    "judge",
    "judge_message",
    "load_method",
    "result_schema",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'uvqc.core' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
