"""`polyflow tick [--now ISO8601]`: one scheduler tick, printed."""

from __future__ import annotations

import datetime as dt

import click

from polyflow.cli.django_setup import command_errors, setup_database


def _parse_now(ctx, param, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        now = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time; e.g. 2026-01-01T12:00:00Z or 2026-01-01T14:00:00+02:00"
        ) from None
    # A time without an offset is UTC, like the rest of Polyflow's times.
    return now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)


@click.command()
@click.option("--now", callback=_parse_now, metavar="ISO8601",
              help="Tick as of this time instead of the clock's (no offset means UTC).")
def tick(now: dt.datetime | None) -> None:
    """Run one scheduler tick and print what it did.

    A tick creates the runs that schedules make due, starts created runs,
    syncs submitted op runs from their backend, submits the op runs that are
    ready, retries, enforces timeouts and finishes runs. Ticks are safe to run
    at any time and from several processes at once; in production Celery beat
    runs one every POLYFLOW_TICK_INTERVAL seconds (see the README).

    With the local backend, ops run as processes that outlive this command:
    tick again to see them finish.
    """
    setup_database()
    from polyflow.scheduler.tick import tick as run_tick

    with command_errors():
        report = run_tick(now)
    for line in report.lines():
        click.echo(line)
