"""Facts about a database file kept in its `meta` table: the channel it is bound to.

A notification must never silently change channel (issue 8, case 2): the first notify batch
on a database binds it to the worker's channel identity (kind + destination,
`uvqc.adapters.channels.channel_identity`); a later `uvqc run`/`uvqc work` configured with
another channel is refused before it does anything, with both names and the flag that
switches on purpose (`--switch-channel`).
"""

from __future__ import annotations

import sqlite3

from uvqc.adapters.sqlite.db import transaction
from uvqc.errors import UsageError

CHANNEL = "channel"


class ChannelMismatchError(UsageError):
    """When a database bound to one channel is asked to send through another."""


def get(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def refuse_other_channel(conn: sqlite3.Connection, identity: str, *, db: str = "") -> None:
    """ChannelMismatchError if the database is bound to a channel other than `identity`."""
    bound = get(conn, CHANNEL)
    if bound is not None and bound != identity:
        where = f" {db}" if db else ""
        raise ChannelMismatchError(
            f"the database{where} sends notifications through [{bound}], but this command "
            f"is configured for [{identity}]. Configure the same channel (UVQC_CHANNEL, "
            "UVQC_SMTP_HOST/PORT or UVQC_OUTBOX, uvqc.toml, or --smtp/--outbox), or pass "
            "--switch-channel to send through the new one from now on"
        )


def bind_channel(
    conn: sqlite3.Connection, identity: str, *, switch: bool = False, db: str = ""
) -> str | None:
    """Bind the database to `identity` (first use), accept it (same), switch it (`switch`),
    or raise ChannelMismatchError. Returns the previous binding."""
    with transaction(conn) as c:
        bound = get(c, CHANNEL)
        if bound == identity:
            return bound
        if not switch:
            refuse_other_channel(c, identity, db=db)
        c.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (CHANNEL, identity))
        return bound
