"""Settings: the only module that reads the environment.

Precedence, highest first: command-line flags (passed as overrides) > `UVQC_*` environment >
`uvqc.toml` (in the working directory, or UVQC_CONFIG) > defaults. The AWS functions get the
same names from serverless.yml.

One pydantic model validates the merged sources. Every problem is reported under the name
the user wrote it with: `uvqc.toml: key 'mail_to'`, `UVQC_MAIL_TO`, `--db`. A command
validates only the settings it uses (`only=`), so a bad `mail_to` in uvqc.toml does not stop
`uvqc check`, which sends no mail; an unknown key in uvqc.toml is an error for every command
(a typo would otherwise silently do nothing). The sources themselves are read here, in a
few lines, rather than through pydantic-settings: that package added ~90 ms to every Lambda
cold start (INIT is billed) for what is a dictionary merge.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
from collections.abc import Collection, Mapping
from datetime import time as dt_time
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from uvqc.errors import SettingsError
from uvqc.pipeline.addresses import AddressError, parse_address_list, parse_mailbox
from uvqc.runs.grouping import DECISION_CODES, MAX_INTERVAL_SECONDS, STOP_THE_RUN, GroupingPolicy

log = logging.getLogger("uvqc.settings")

ENV_PREFIX = "UVQC_"
CONFIG_ENV = "UVQC_CONFIG"
DEFAULT_CONFIG_FILE = "uvqc.toml"

ChannelName = Literal["file", "smtp", "ses", "sns"]

# the daily digest's own keys (uvqc.daily, docs/REPORTS.md "The daily digest")
LAB_CHARS = 60  # a lab name in the digest's subject, ledger record and mark names
_LAB_NAME = re.compile(r"[A-Za-z0-9._-]+")
_LAB_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
LAB_TIME_HINT = "write HH:MM (24-hour lab time), such as 07:00 or 7:00"


class Settings(BaseModel):
    """Every knob of uvqc, embedded and on AWS. Environment names are UVQC_<FIELD>."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # QC
    method: Path | None = Field(None, description="QC method file used when a result names none")
    run_quiet_seconds: float = Field(
        900.0,
        ge=0,
        le=7 * 86400,
        description="a run without a new result for this long is final (docs/RUNS.md)",
    )
    run_group_seconds: float = Field(
        0.0,
        ge=0,
        le=MAX_INTERVAL_SECONDS,
        description="run decisions not in run_immediate wait this long for others of their "
        "run, then go out as one e-mail (0: each at once; a method's [run.notify] overrides)",
    )
    run_immediate: list[str] = Field(
        default_factory=lambda: sorted(STOP_THE_RUN),
        description="run decision codes e-mailed at once, never grouped (comma-separated)",
    )
    run_digest: bool = Field(
        True, description="a final run gets one digest e-mail (held decisions are folded in)"
    )
    ingest_config: Path | None = Field(
        None, description="lab ingest config TOML: analytical wavelength, naming rules"
    )
    ingest_wavelength_nm: float | None = Field(
        None,
        gt=0,
        description="analytical wavelength (nm) for scans when --wavelength is not given",
    )
    ingest_timezone: str | None = Field(
        None,
        description="IANA time zone of the instruments' clocks (Europe/Berlin): a collection "
        "time an export writes without an offset is read in it (unset: this machine's local "
        "time; on AWS that is UTC)",
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
    housekeeping_interval_minutes: float = Field(
        60.0,
        ge=0,
        le=7 * 24 * 60,
        description="how often the embedded worker sweeps expired ledger rows and frees "
        "pages (0: never)",
    )
    ledger_retention_days: float = Field(
        90.0,
        gt=0,
        le=3650,
        description="SENT/DEAD ledger rows older than this are removed (the DynamoDB "
        "ledger's TTL is 90 days)",
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
    mail_from: str = Field(
        "uvqc@localhost", description="sender: one RFC 5322 mailbox (`Name <a@b>` or `a@b`)"
    )
    mail_to: list[str] = Field(
        default_factory=lambda: ["lab@localhost"],
        description="recipients: an RFC 5322 address list (commas inside quotes do not split)",
    )
    subject_prefix: str = ""
    ses_identity: str | None = None
    sns_topic_arn: str | None = None
    # retries
    retry_base_seconds: float = Field(30.0, ge=0)
    retry_max_seconds: float = Field(900.0, ge=0, le=43200)
    max_attempts: int = Field(5, ge=1, le=100)
    # circuit breaker of the notification channel (uvqc.pipeline.breaker)
    breaker_threshold: int = Field(
        3, ge=1, le=1000, description="consecutive channel-level failures that open it"
    )
    breaker_probe_seconds: float = Field(
        2.0, gt=0, le=3600, description="first wait before probing a channel that is down"
    )
    breaker_max_probe_seconds: float = Field(
        10.0, gt=0, le=3600, description="cap of the doubling probe interval"
    )
    # notification identity
    dedup_window_seconds: float = Field(
        86400.0,
        gt=0,
        le=90 * 86400,
        description="the same result content seen again within this many seconds (from its "
        "first sighting) is the same result: one e-mail; later, a new one (max 90 days, the "
        "ledger's retention)",
    )
    # daily digest (uvqc.daily.digest, docs/REPORTS.md)
    daily_digest_at: str | None = Field(
        None,
        description="HH:MM lab time (H:MM too; a TOML time 07:00:00 in uvqc.toml): the "
        "embedded worker queues yesterday's digest once this time has passed (unset: no "
        "automatic daily digest); kept as HH:MM",
    )
    daily_digest_timezone: str = Field(
        "UTC", description="the lab's IANA time zone (Europe/Berlin): what a lab day is"
    )
    daily_digest_lab: str = Field(
        "lab",
        description="the lab (or stage) a daily digest names, part of its notification key: "
        f"1 to {LAB_CHARS} characters of A-Z a-z 0-9 . _ -",
    )
    # AWS resources
    intake_queue_url: str | None = None
    notify_queue_url: str | None = None
    notify_dlq_url: str | None = None
    intake_dlq_url: str | None = None
    digest_queue_url: str | None = Field(
        None, description="run digest requests go here (the digest function), not to notify"
    )
    digest_dlq_url: str | None = None
    records_table: str | None = None
    ledger_table: str | None = None
    runs_table: str | None = Field(None, description="DynamoDB table of analytical runs")
    runtime: Literal["embedded", "aws"] = "embedded"
    submit_journal: Path = Field(
        Path("var/sqs-submissions.db"),
        description="what `uvqc submit --queue-url` sent already (re-runs skip it)",
    )
    # logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_file: Path | None = Field(None, description="JSON log lines go here instead of stderr")

    @field_validator("mail_to", mode="before")
    @classmethod
    def _split_recipients(cls, value: Any) -> Any:
        """An RFC 5322 address list (`"Smith, Ann" <a@x.example>, b@y.example` is two
        recipients), or a list of them (uvqc.toml); each recipient normalised to one
        mailbox string."""
        lists = [value] if isinstance(value, str) else value
        if not isinstance(lists, list) or not all(isinstance(v, str) for v in lists):
            return value  # pydantic reports the wrong type
        try:
            mailboxes = [m for text in lists for m in parse_address_list(text)]
        except AddressError as exc:
            raise ValueError(f"{exc}. {_ADDRESS_HELP}") from None
        if not mailboxes:
            raise ValueError(f"at least one recipient is needed. {_ADDRESS_HELP}")
        return [str(m) for m in mailboxes]

    @field_validator("run_immediate", mode="before")
    @classmethod
    def _split_codes(cls, value: Any) -> Any:
        """A comma-separated list (environment) or a list (uvqc.toml) of decision codes;
        empty: none is immediate."""
        if isinstance(value, str):
            return [c.strip() for c in value.split(",") if c.strip()]
        return value

    @field_validator("run_immediate")
    @classmethod
    def _known_codes(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - DECISION_CODES)
        if unknown:
            raise ValueError(
                f"unknown run decision code(s) {unknown}; "
                f"known: {', '.join(sorted(DECISION_CODES))}"
            )
        return value

    @property
    def grouping(self) -> GroupingPolicy:
        """The lab's grouping policy of run decision e-mails (uvqc.runs.grouping)."""
        return GroupingPolicy(
            immediate=frozenset(self.run_immediate),
            interval_seconds=self.run_group_seconds,
            digest=self.run_digest,
        )

    @field_validator("daily_digest_at", mode="before")
    @classmethod
    def _lab_time(cls, value: Any) -> Any:
        """H:MM, HH:MM or a TOML time (07:00:00) -> "HH:MM"; seconds must be zero."""
        if value is None:
            return None
        if isinstance(value, dt_time):
            if value.second or value.microsecond or value.tzinfo is not None:
                raise ValueError(f"{value.isoformat()!r}: {LAB_TIME_HINT}")
            return f"{value.hour:02d}:{value.minute:02d}"
        found = _LAB_TIME.fullmatch(str(value).strip())
        if found is None:
            raise ValueError(f"{value!r}: {LAB_TIME_HINT}")
        return f"{int(found[1]):02d}:{found[2]}"

    @field_validator("daily_digest_lab")
    @classmethod
    def _lab_name(cls, value: str) -> str:
        if not (1 <= len(value) <= LAB_CHARS) or not _LAB_NAME.fullmatch(value):
            raise ValueError(
                f"{value[:80]!r} ({len(value)} characters): a lab name is 1 to {LAB_CHARS} "
                "characters of A-Z a-z 0-9 . _ - (it is in the digest's subject and its "
                "notification key)"
            )
        return value

    @field_validator("daily_digest_timezone", "ingest_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: write an IANA name such as Europe/Berlin or UTC"
            ) from None
        return value

    @property
    def ingest_zone(self) -> tzinfo | None:
        """`ingest_timezone` as a tzinfo (None: this machine's local time)."""
        from zoneinfo import ZoneInfo

        return None if self.ingest_timezone is None else ZoneInfo(self.ingest_timezone)

    @field_validator("mail_from", mode="before")
    @classmethod
    def _one_sender(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return str(parse_mailbox(value))
        except AddressError as exc:
            raise ValueError(
                f'{exc}. Write one address, like qc@lab.example or "Lab QC" <qc@lab.example>'
            ) from None

    def address_warnings(self) -> list[str]:
        """What will fail at delivery time although it is a valid address: a non-ASCII local
        part needs a relay that offers SMTPUTF8 (RFC 6531); SES and SNS e-mail do not take
        it (a permanent, dead-lettered failure with that reason)."""
        found = []
        for field, values in (("mail_from", [self.mail_from]), ("mail_to", self.mail_to)):
            for text in values:
                mailbox = parse_mailbox(text)
                if mailbox.needs_smtputf8:
                    found.append(
                        f"{env_name(field)}: {mailbox.addr_spec} has a non-ASCII local part: "
                        "it can only be delivered through an SMTP relay that offers SMTPUTF8 "
                        "(RFC 6531); otherwise (or on SES) its notifications fail permanently "
                        "and are dead-lettered. Use an ASCII alias if the relay cannot."
                    )
        return found


_ADDRESS_HELP = (
    'Write addresses like qc@lab.example or "Smith, Ann" <ann.smith@lab.example>, '
    "several separated by commas"
)


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


def _config_path(environ: Mapping[str, str]) -> Path:
    return Path(environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)


def _from_file(environ: Mapping[str, str]) -> dict[str, Any]:
    """uvqc.toml in the working directory, or the file UVQC_CONFIG names (which must exist).
    A key that names no setting is an error naming the file and the closest setting."""
    named = environ.get(CONFIG_ENV)
    path = _config_path(environ)
    if not path.is_file():
        if named:
            raise SettingsError(f"{CONFIG_ENV}={named}: no such settings file")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"invalid settings file {path}: {exc}") from None
    for key in data:
        if key not in Settings.model_fields:
            close = difflib.get_close_matches(key, list(Settings.model_fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            shown = key if len(key) <= 60 else key[:57] + "..."
            raise SettingsError(f"{path}: key {shown!r} is not a uvqc setting{hint}")
    return data


def load_settings(
    *,
    only: Collection[str] | None = None,
    flag_names: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Settings from defaults < uvqc.toml < UVQC_* environment < overrides (the command-line
    flags; None means "not given").

    `only`: validate just these fields (the ones the command uses); every other field keeps
    its default in the result. `flag_names`: the flag each override came from, for error
    messages (default `--<field>`). SettingsError names each problem by its source:
    `uvqc.toml: key 'x'`, `UVQC_X` or `--x`."""
    environ = os.environ
    from_file = _from_file(environ)
    from_env = _from_environment(environ)
    from_flags = {k: v for k, v in overrides.items() if v is not None}
    origin: dict[str, str] = {}
    config = _config_path(environ)
    origin.update({k: f"{config}: key {k!r}" for k in from_file})
    origin.update({k: env_name(k) for k in from_env})
    flags = flag_names or {}
    origin.update({k: flags.get(k, "--" + k.replace("_", "-")) for k in from_flags})
    merged: dict[str, Any] = {**from_file, **from_env, **from_flags}
    if only is not None:
        merged = {k: v for k, v in merged.items() if k in only}
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{origin.get(str(e['loc'][0]), env_name(str(e['loc'][0])))}: {e['msg']}"
            if e["loc"]
            else e["msg"]
            for e in exc.errors(include_url=False)
        )
        raise SettingsError(f"invalid settings: {problems}") from None
    for warning in settings.address_warnings():
        log.warning(warning)
    return settings
