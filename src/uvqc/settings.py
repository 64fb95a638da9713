"""Settings: the only module that reads the environment.

Precedence, highest first: command-line flags (passed as overrides) > `UVQC_*` environment >
`uvqc.toml` (in the working directory, or UVQC_CONFIG) > defaults. The AWS functions get the
same names from serverless.yml.

One pydantic model validates the merged sources. The sources themselves are read here, in a
few lines, rather than through pydantic-settings: that package added ~90 ms to every Lambda
cold start (INIT is billed) for what is a dictionary merge.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from uvqc.errors import SettingsError

ENV_PREFIX = "UVQC_"
CONFIG_ENV = "UVQC_CONFIG"
DEFAULT_CONFIG_FILE = "uvqc.toml"

ChannelName = Literal["file", "smtp", "ses", "sns"]


class Settings(BaseModel):
    """Every knob of uvqc, embedded and on AWS. Environment names are UVQC_<FIELD>."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # QC
    method: Path | None = Field(None, description="QC method file used when a result names none")
    ingest_config: Path | None = Field(
        None, description="lab ingest config TOML: analytical wavelength, naming rules"
    )
    ingest_wavelength_nm: float | None = Field(
        None,
        gt=0,
        description="analytical wavelength (nm) for scans when --wavelength is not given",
    )
    # embedded runtime
    db: Path = Field(Path("var/uvqc.db"), description="SQLite database of the embedded runtime")
    batch_size: int = Field(10, ge=1, le=1000)
    visibility_timeout_seconds: float = Field(60.0, gt=0, le=43200)
    worker_batch_size: int = Field(
        250, ge=1, le=5000, description="messages an embedded worker takes per receive"
    )
    max_receive_count: int = Field(
        10, ge=2, le=1000, description="receives before a queue moves a message to its DLQ"
    )
    # notification channel
    channel: ChannelName = "file"
    outbox: Path = Path("var/outbox")
    poll_seconds: float = Field(
        0.1, gt=0, le=60, description="worker's pause between looks at empty queues"
    )
    outbox_fsync: bool = Field(True, description="fsync each .eml before counting it sent")
    smtp_host: str = "localhost"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_password_parameter: str | None = Field(None, description="SSM SecureString name")
    smtp_password_secret: str | None = Field(None, description="Secrets Manager secret id")
    smtp_timeout_seconds: float = Field(10.0, gt=0, le=300)
    mail_from: str = "uvqc@localhost"
    mail_to: list[str] = Field(default_factory=lambda: ["lab@localhost"])
    subject_prefix: str = ""
    ses_identity: str | None = None
    sns_topic_arn: str | None = None
    # retries
    retry_base_seconds: float = Field(30.0, ge=0)
    retry_max_seconds: float = Field(900.0, ge=0, le=43200)
    max_attempts: int = Field(5, ge=1, le=100)
    # AWS resources
    intake_queue_url: str | None = None
    notify_queue_url: str | None = None
    notify_dlq_url: str | None = None
    intake_dlq_url: str | None = None
    records_table: str | None = None
    ledger_table: str | None = None
    runtime: Literal["embedded", "aws"] = "embedded"
    # logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_file: Path | None = Field(None, description="JSON log lines go here instead of stderr")

    @field_validator("mail_to", mode="before")
    @classmethod
    def _split_recipients(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("mail_to")
    @classmethod
    def _no_header_injection(cls, value: list[str]) -> list[str]:
        for address in value:
            if any(ch in address for ch in "\r\n\x00") or "@" not in address:
                raise ValueError(f"not an e-mail address: {address!r}")
        if not value:
            raise ValueError("at least one recipient is needed")
        return value


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def _from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """UVQC_<FIELD> (any case) for every field; an empty value counts as unset."""
    prefix = ENV_PREFIX.lower()
    found: dict[str, str] = {}
    for name, value in environ.items():
        lowered = name.lower()
        if lowered.startswith(prefix) and value:
            field = lowered[len(prefix) :]
            if field in Settings.model_fields:
                found[field] = value
    return found


def _from_file(environ: Mapping[str, str]) -> dict[str, Any]:
    """uvqc.toml in the working directory, or the file UVQC_CONFIG names (which must exist)."""
    named = environ.get(CONFIG_ENV)
    path = Path(named or DEFAULT_CONFIG_FILE)
    if not path.is_file():
        if named:
            raise SettingsError(f"{CONFIG_ENV}={named}: no such settings file")
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"invalid settings file {path}: {exc}") from None


def load_settings(**overrides: Any) -> Settings:
    """Settings from defaults < uvqc.toml < UVQC_* environment < overrides (the command-line
    flags; None means "not given")."""
    environ = os.environ
    merged: dict[str, Any] = {
        **_from_file(environ),
        **_from_environment(environ),
        **{k: v for k, v in overrides.items() if v is not None},
    }
    try:
        return Settings(**merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{env_name('.'.join(map(str, e['loc'])))}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise SettingsError(f"invalid settings: {problems}") from None
