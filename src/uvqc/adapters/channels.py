"""Build the configured notification channel: `file` and `smtp` here; `ses` and `sns` come
from the AWS runtime (imported lazily, so the embedded runtime never loads boto3)."""

from __future__ import annotations

import importlib

from uvqc.adapters.outbox import OutboxChannel
from uvqc.adapters.smtp import SmtpChannel, SmtpConfig
from uvqc.errors import SettingsError
from uvqc.pipeline.ports import Channel
from uvqc.settings import Settings


def smtp_config(settings: Settings) -> SmtpConfig:
    if settings.smtp_starttls and settings.smtp_ssl:
        raise SettingsError("UVQC_SMTP_STARTTLS and UVQC_SMTP_SSL exclude each other: pick one")
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.smtp_starttls,
        ssl=settings.smtp_ssl,
        username=settings.smtp_username,
        password=password,
        timeout=settings.smtp_timeout_seconds,
        mail_from=settings.mail_from,
    )


def channel_identity(settings: Settings) -> str:
    """What a channel is, for binding a database to it: the kind and the destination
    (`file /abs/outbox`, `smtp relay.lab:25`, `ses <identity>`, `sns <topic arn>`)."""
    if settings.channel == "file":
        return f"file {settings.outbox.resolve()}"
    if settings.channel == "smtp":
        return f"smtp {settings.smtp_host}:{settings.smtp_port}"
    if settings.channel == "ses":
        return f"ses {settings.ses_identity or settings.mail_from}"
    return f"{settings.channel} {settings.sns_topic_arn or ''}".strip()


def make_channel(settings: Settings) -> Channel:
    """The channel named by UVQC_CHANNEL."""
    if settings.channel == "file":
        return OutboxChannel(settings.outbox, fsync=settings.outbox_fsync)
    if settings.channel == "smtp":
        return SmtpChannel(smtp_config(settings))
    if settings.channel in ("ses", "sns"):
        module_name = f"uvqc.adapters.{settings.channel}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name not in (module_name, "boto3", "botocore"):
                raise
            raise SettingsError(
                f"channel {settings.channel} needs the AWS runtime ({module_name} or boto3 "
                "is missing); use UVQC_CHANNEL=smtp or file"
            ) from exc
        channel: Channel = module.make_channel(settings)
        return channel
    raise SettingsError(f"unknown channel {settings.channel!r}: choose file, smtp, ses or sns")
