"""The `file` channel: each e-mail becomes an .eml file in an outbox folder (the demo default).

Files are written atomically (temporary file, fsync, os.replace) and named after the
Message-ID, which is derived from the notification key: a resend overwrites the same file
instead of adding a second one. The outbox is the e-mail's last stop, so an address with a
non-ASCII local part is written as UTF-8 (RFC 6532), as an SMTPUTF8 relay would receive it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from uvqc.errors import TransientDeliveryError
from uvqc.pipeline.ports import Mailable

_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]")


def eml_name(message_id: str) -> str:
    """`<uvqc.KEY@example.org>` -> `uvqc.KEY@example.org.eml` (only safe characters)."""
    return _UNSAFE.sub("_", message_id.strip().strip("<>"))[:200] + ".eml"


class OutboxSender:
    def __init__(self, folder: Path, fsync: bool) -> None:
        self.folder = folder
        self.fsync = fsync

    def send(self, email: Mailable, recipients: Sequence[str]) -> tuple[str, ...]:
        target = self.folder / eml_name(email.message_id)
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with temp.open("wb") as out:
                out.write(email.as_bytes(smtputf8=email.needs_smtputf8))
                if self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
            temp.replace(target)
        except OSError as exc:  # a full disk or a read-only folder may clear up later
            raise TransientDeliveryError(
                f"cannot write {target}: {exc}", channel_down=True
            ) from exc
        return tuple(recipients)


class OutboxChannel:
    """Channel port over a folder of .eml files."""

    name = "file"

    def __init__(self, folder: Path, *, fsync: bool = True) -> None:
        self.folder = folder
        self.fsync = fsync

    def destination(self, email: Mailable) -> str:
        """Where an e-mail goes (for the ledger and `uvqc trace`): `file <folder>/<name>.eml`."""
        return f"file {self.folder / eml_name(email.message_id)}"

    @contextmanager
    def open(self) -> Iterator[OutboxSender]:
        yield OutboxSender(self.folder, self.fsync)
