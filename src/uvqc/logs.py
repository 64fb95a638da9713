"""Structured JSON logs for the embedded runtime, in the same shape as on Lambda.

Powertools' LambdaPowertoolsFormatter on a stdlib handler (it works outside Lambda): every
`extra=` key (sampleId, messageId, recordId, notificationKey...) becomes a JSON field, so a
failure can be tied to its sample from the logs alone. Logs go to stderr or a file, never to
stdout, where the commands print their reports.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE = "uvqc"
_HANDLER_NAME = "uvqc-json"


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at emit time (so a live progress bar that redirects
    stderr keeps its log lines above the bar)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """StreamHandler assigns a stream in __init__; the current sys.stderr wins."""


def configure_logging(level: str = "INFO", file: Path | None = None) -> logging.Handler:
    """Install (or replace) the JSON handler on the `uvqc` logger; return it."""
    logger = logging.getLogger(SERVICE)
    for old in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(old)
        old.close()
    handler: logging.Handler
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(file, encoding="utf-8")
    else:
        handler = StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(LambdaPowertoolsFormatter(service=SERVICE))
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler
