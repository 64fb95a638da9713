"""`uvqc digest daily`: queue the daily digest of a lab day on the database's notify queue;
the worker (`uvqc work`, `uvqc run`) sends it like every e-mail (docs/REPORTS.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from uvqc.cli.app import app
from uvqc.cli.pipeline import DbOption
from uvqc.daily.digest import check_day, parse_day, previous_day
from uvqc.local.daily import queue_day
from uvqc.local.runtime import Database
from uvqc.settings import load_settings

digest_app = typer.Typer(help="Digest e-mails.", no_args_is_help=True)
app.add_typer(digest_app, name="digest")


@digest_app.command("daily")
def digest_daily(
    day: Annotated[
        str | None,
        typer.Option(
            "--date",
            metavar="YYYY-MM-DD",
            help="The lab day (UVQC_DAILY_DIGEST_TIMEZONE); default yesterday; not after today.",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Queue the daily digest of a lab day (sent by `uvqc work` / `uvqc run`). A day whose
    digest was queued with the same content queues nothing; a changed day queues an update.
    Today is allowed (the day is not over: a later digest of it is an update); a future day
    is refused (exit 2)."""
    settings = load_settings(db=db)
    now = datetime.now(UTC)
    tz = settings.daily_digest_timezone
    chosen = parse_day(day) if day is not None else previous_day(now, tz)
    today = check_day(chosen, now, tz)
    with Database.from_settings(settings, access="existing") as database:
        queued = queue_day(database, settings, chosen, now)
    typer.echo(queued.describe())
    if today:
        typer.echo(
            f"note: {chosen.isoformat()} is today ({tz}) and not over; a later digest of it "
            "(the worker's automatic one, or this command again) is sent as an update"
        )
    if queued.request is not None:
        typer.echo(WORKER_SENDS)


WORKER_SENDS = "a worker (`uvqc work` or `uvqc run`) sends what was queued"
