"""Schedules in words for the dashboard: a cron expression as a sentence (the cron-descriptor
library: "At 02:30, Monday through Friday"), with its zone; every other kind as
polyflow.spec.describe says it."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..spec.describe import _moment, describe_schedule
from ..spec.plan import ScheduleSpec

_ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
            "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


@lru_cache(maxsize=512)
def cron_in_words(expression: str) -> str:
    """`30 2 * * 1-5` -> "at 02:30, Monday through Friday"; the expression itself if the library
    cannot read it (the spec accepts what croniter accepts, e.g. `@daily`)."""
    try:
        from cron_descriptor import ExpressionDescriptor, Options

        options = Options()
        options.use_24hour_time_format = True
        options.throw_exception_on_parse_error = True
        text = ExpressionDescriptor(_ALIASES.get(expression.strip().lower(), expression), options).get_description()
    except Exception:  # an expression it does not read, or the library missing: say it as written
        return f"cron '{expression}'"
    return text[:1].lower() + text[1:]


def schedule_in_words(schedule: ScheduleSpec | None, *, minutes: bool = False) -> str:
    """As polyflow.spec.describe says it, a cron expression as a sentence with its zone, and the
    start of a cron schedule in that zone ("from 2026-01-01 00:00 CET")."""
    text = describe_schedule(schedule, minutes=minutes)
    if schedule is None or schedule.kind != "cron":
        return text
    raw = f"cron '{schedule.cron}' ({schedule.timezone}) from {_moment(schedule.start_at, minutes)}"
    start = schedule.start_at
    if start is not None:
        try:
            start = start.astimezone(ZoneInfo(schedule.timezone))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return text.replace(raw, f"{cron_in_words(schedule.cron)} ({schedule.timezone}) from {_moment(start, minutes)}", 1)
