"""One rooted exception hierarchy; the CLI turns these into exit codes in one place."""

from __future__ import annotations


class UvqcError(Exception):
    """Base of every error uvqc raises on purpose."""

    exit_code = 1


class UsageError(UvqcError):
    """When the request cannot be done as asked (bad flag, unreadable file)."""

    exit_code = 2


class MethodError(UsageError):
    """When a QC method file is unreadable or names an unknown rule or parameter."""


class SettingsError(UsageError):
    """When settings (flags, UVQC_* environment, uvqc.toml) are invalid or incomplete."""


class DeliveryError(UvqcError):
    """When a notification could not be delivered by a channel."""

    def __init__(
        self,
        reason: str,
        *,
        transient: bool,
        accepted: tuple[str, ...] = (),
        channel_down: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.accepted = accepted  # recipients that did accept before the failure
        # The channel itself failed (refused/dropped/timed-out connection, 421, service
        # unreachable), not this message: what the circuit breaker counts.
        self.channel_down = channel_down


class TransientDeliveryError(DeliveryError):
    """When delivery failed in a way that may succeed later (SMTP 4xx, timeout, dropped link)."""

    def __init__(
        self, reason: str, *, accepted: tuple[str, ...] = (), channel_down: bool = False
    ) -> None:
        super().__init__(reason, transient=True, accepted=accepted, channel_down=channel_down)


class PermanentDeliveryError(DeliveryError):
    """When delivery failed for good (SMTP 5xx, rejected address); retrying will not help."""

    def __init__(self, reason: str, *, accepted: tuple[str, ...] = ()) -> None:
        super().__init__(reason, transient=False, accepted=accepted)


class InfrastructureError(UvqcError):
    """When a queue or store could not be reached; the message is retried by its transport."""


class DatabaseBusyError(InfrastructureError):
    """When another process held the database's write lock longer than the busy timeout (a
    backup, a long `sqlite3` session); a long-running worker waits and tries again."""


class DatabaseFileError(UsageError):
    """When a database file cannot be used as asked: missing (for a read), another
    application's, written by a newer uvqc, corrupt, or not yet migrated."""


class UnstorableRecords(InfrastructureError):
    """When some records can never be stored as they are (over a store's item size limit, or
    refused as invalid) while the others of the batch were stored. `reasons` maps each such
    record id to why: the transport dead-letters those messages instead of retrying them."""

    def __init__(self, reasons: dict[str, str]) -> None:
        super().__init__(
            f"{len(reasons)} record(s) could not be stored: "
            + "; ".join(f"{k}: {v}" for k, v in list(reasons.items())[:3])
        )
        self.reasons = reasons
