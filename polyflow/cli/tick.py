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


# A --now this far ahead of the clock is still the clock's (two machines' clocks, a typed "now").
AHEAD_TOLERANCE = dt.timedelta(seconds=1)
SLOTS_SHOWN = 5  # per pipeline, in the refusal


@click.command()
@click.option("--now", callback=_parse_now, metavar="ISO8601",
              help="Tick as of this time instead of the clock's (no offset means UTC).")
@click.option("--yes", is_flag=True,
              help="With a --now ahead of the clock: create the runs of the future slots it makes due anyway.")
def tick(now: dt.datetime | None, yes: bool) -> None:
    """Run one scheduler tick and print what it did.

    A tick creates the runs that schedules make due, starts created runs,
    syncs submitted op runs from their backend, submits the op runs that are
    ready, retries, enforces timeouts and finishes runs. Ticks are safe to run
    at any time and from several processes at once; in production Celery beat
    runs one every POLYFLOW_TICK_INTERVAL seconds (see the README).

    With the local backend, ops run as processes that outlive this command:
    tick again to see them finish.

    With POLYFLOW_LOG_FORMAT=json the scheduler's own log lines go to stderr
    as JSON lines, each with its run, pipeline, op and attempt.

    A --now ahead of the clock would create real runs for slots that are not
    due yet, and move their schedules past them: on a database where it would,
    the tick is refused (exit status 1), naming those slots, unless --yes is
    given.
    """
    setup_database()
    from polyflow.conf import polyflow_settings
    from polyflow.scheduler.tick import tick as run_tick

    if polyflow_settings.LOG_FORMAT == "json":
        # Asked for by a deployment that ticks from cron or a Kubernetes CronJob: its scheduler
        # and backend lines as JSON on stderr, with their run, pipeline, op and attempt. As text
        # the command prints only its report, as it always has.
        from polyflow.telemetry.logs import configure

        configure("json")
    with command_errors():
        clock = dt.datetime.now(dt.UTC)
        if now is not None and not yes and now > clock + AHEAD_TOLERANCE:
            _refuse_future_slots(now, clock)
        report = run_tick(now)
    for line in report.lines():
        click.echo(line)


def _refuse_future_slots(now: dt.datetime, clock: dt.datetime) -> None:
    """ClickException naming the slots after the clock that a tick at `now` would create runs for;
    nothing when it would create none."""
    from polyflow.scheduler.creation import slots_due_at
    from polyflow.selectors.lookup import pipeline_path

    future: dict[int, tuple[object, list[dt.datetime]]] = {}
    for pipeline, slot in slots_due_at(now):
        if slot > clock:
            future.setdefault(pipeline.pk, (pipeline, []))[1].append(slot)
    if not future:
        return
    lines = []
    for pipeline, slots in future.values():
        shown = ", ".join(_utc(slot) for slot in slots[:SLOTS_SHOWN])
        more = f" and {len(slots) - SLOTS_SHOWN} more" if len(slots) > SLOTS_SHOWN else ""
        lines.append(f"  {pipeline_path(pipeline)}: {shown}{more}")
    raise click.ClickException(
        f"--now {now.isoformat()} is {_ahead(now - clock)} ahead of the clock: this tick would create runs "
        "for slots that are not due yet, and move their schedules past them:\n" + "\n".join(lines)
        + "\nRun it again with --yes to do it anyway (or tick without --now).")


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ahead(delta: dt.timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{int(seconds)} seconds"
