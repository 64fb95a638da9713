"""The SMTP password on AWS: read once per container from SSM Parameter Store (a
SecureString, WithDecryption) or Secrets Manager, never from a plain environment value.

Precedence: an explicit password (UVQC_SMTP_PASSWORD, local use) > UVQC_SMTP_PASSWORD_PARAMETER
> UVQC_SMTP_PASSWORD_SECRET. A Secrets Manager secret may be the bare password or a JSON
object with a "password" key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from uvqc.adapters.boto import describe, error_code
from uvqc.errors import InfrastructureError, SettingsError

_cache: dict[tuple[str, str], SecretStr] = {}
_lock = threading.Lock()

_MISSING = {"ParameterNotFound", "ResourceNotFoundException", "ParameterVersionNotFound"}


def smtp_password(
    *,
    explicit: SecretStr | None,
    parameter: str | None,
    secret: str | None,
    client: Callable[[str], Any],
) -> SecretStr | None:
    """The SMTP password from the first configured source (cached per process)."""
    if explicit is not None:
        return explicit
    if parameter:
        return _cached(("ssm", parameter), lambda: _from_parameter(client("ssm"), parameter))
    if secret:
        return _cached(
            ("secretsmanager", secret), lambda: _from_secret(client("secretsmanager"), secret)
        )
    return None


def _cached(key: tuple[str, str], load: Callable[[], SecretStr]) -> SecretStr:
    with _lock:
        if key not in _cache:
            _cache[key] = load()
        return _cache[key]


def forget() -> None:
    """Drop cached passwords (after a rotation, or between tests)."""
    with _lock:
        _cache.clear()


def _from_parameter(ssm: Any, name: str) -> SecretStr:
    try:
        response = ssm.get_parameter(Name=name, WithDecryption=True)
    except (BotoCoreError, ClientError) as exc:
        if error_code(exc) in _MISSING:
            raise SettingsError(
                f"UVQC_SMTP_PASSWORD_PARAMETER: SSM parameter {name!r} does not exist; create "
                "it as a SecureString (see docs/DEPLOY.md)"
            ) from exc
        raise InfrastructureError(f"could not read SSM parameter {name}: {describe(exc)}") from exc
    return SecretStr(str(response["Parameter"]["Value"]))


def _from_secret(secrets: Any, secret_id: str) -> SecretStr:
    try:
        response = secrets.get_secret_value(SecretId=secret_id)
    except (BotoCoreError, ClientError) as exc:
        if error_code(exc) in _MISSING:
            raise SettingsError(
                f"UVQC_SMTP_PASSWORD_SECRET: secret {secret_id!r} does not exist"
            ) from exc
        raise InfrastructureError(f"could not read secret {secret_id}: {describe(exc)}") from exc
    text = str(response.get("SecretString", ""))
    try:
        data = json.loads(text)
    except ValueError:
        return SecretStr(text)
    if isinstance(data, dict):
        if "password" not in data:
            raise SettingsError(f"secret {secret_id!r} is JSON without a 'password' key")
        return SecretStr(str(data["password"]))
    return SecretStr(text)
