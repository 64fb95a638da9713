"""The pure core: result model, QC rules and methods, verdicts. No I/O, no AWS, no SQLite."""

from uvqc.core.engine import apply_method, judge, judge_message
from uvqc.core.methods import DEFAULT_METHOD, Method, MethodBook, load_method
from uvqc.core.models import ResultMessage, SampleType, Spectrum, result_schema
from uvqc.core.verdicts import Finding, Judgement, Severity, Verdict

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
