"""Logger and Metrics shared by the handlers (Powertools for AWS Lambda, v3).

Logger(service="uvqc") *is* the stdlib logger "uvqc": the stages' loggers
(`uvqc.pipeline.check`, `uvqc.pipeline.notify`, `uvqc.adapters.*`) propagate to it and come
out as the same JSON lines, with the keys they pass in `extra=` (sampleId, messageId,
correlationId, notificationKey). Per-record keys are passed per line, never appended, so
nothing leaks from one record to the next; `clear_state=True` resets the invocation keys.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "uvqc"
NAMESPACE = "uvqc"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
