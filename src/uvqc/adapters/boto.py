"""boto3 clients, created once per process (one Lambda container) and reused.

Creating a client costs milliseconds and memory (its service model); a warm Lambda
container must reuse them. Region, credentials and endpoint come from the standard AWS
configuration (AWS_REGION, AWS_ENDPOINT_URL, ...), which boto3 reads itself.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.config import Config

# Short connect timeout and standard retry mode (exponential backoff with jitter on
# throttling and 5xx): a Lambda should fail over to its queue's retry rather than hang.
_CONFIG = Config(
    connect_timeout=5,
    read_timeout=20,
    retries={"max_attempts": 4, "mode": "standard"},
    tcp_keepalive=True,
)

_clients: dict[str, Any] = {}
_sessions: list[Any] = []  # one boto3 Session shared by all clients (its loader caches models)
_lock = threading.Lock()


def client(service: str, *, max_attempts: int | None = None) -> Any:
    """The shared low-level client for an AWS service (typed `Any` at this boundary).
    `max_attempts` gives a separate client with that retry budget (1: fail fast)."""
    key = service if max_attempts is None else f"{service}/{max_attempts}"
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _clients:
            if not _sessions:
                import boto3

                _sessions.append(boto3.session.Session())
            session: Any = _sessions[0]
            config = _CONFIG
            if max_attempts is not None:
                config = _CONFIG.merge(
                    Config(retries={"max_attempts": max_attempts, "mode": "standard"})
                )
            _clients[key] = session.client(service, config=config)
        return _clients[key]


def reset() -> None:
    """Forget every client (tests that change region or endpoint between runs)."""
    with _lock:
        _clients.clear()
        _sessions.clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ('' for connection errors and the like)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def http_status(exc: BaseException) -> int:
    """The HTTP status of a ClientError (0 when there was no response)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0


def describe(exc: BaseException) -> str:
    """A one-line description of an SDK error for logs and dead-letter reasons."""
    code = error_code(exc)
    return f"{code}: {exc}" if code else f"{type(exc).__name__}: {exc}"
