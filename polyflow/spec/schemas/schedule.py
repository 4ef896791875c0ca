"""Schedules: interval, cron, exact_time and repeatable (DESIGN section 4).

Each kind accepts only the fields that mean something for it, so a `cron` key
on an interval schedule is reported instead of silently ignored.
"""

from __future__ import annotations

import zoneinfo

from marshmallow import ValidationError

from .. import fields as f
from ..errors import choices_text, suggest
from .base import KindField, StrictSchema, validates_always

CRON_ALIASES = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly")


def cron_error(expression: str) -> str | None:
    if expression.startswith("@"):
        if expression in CRON_ALIASES:
            return None
        return (
            f"unknown cron alias {expression!r}{suggest(expression, CRON_ALIASES)} "
            f"(aliases: {choices_text(CRON_ALIASES)})"
        )
    from croniter import croniter  # only cron schedules need it (9 ms to import)

    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        return (
            f"{expression!r} is not a cron expression: expected five fields "
            "(minute hour day-of-month month day-of-week), e.g. '*/5 * * * *'"
        )
    return None


class _ScheduleSchema(StrictSchema):
    kind = f.Str(required=True)
    start_at = f.DateTime()

    @validates_always
    def _check_window(self, data, **kwargs):
        start, end = data.get("start_at"), data.get("end_at")
        if start and end:
            if (start.tzinfo is None) != (end.tzinfo is None):
                raise ValidationError({"end_at": "give time zones on both start_at and end_at, or on neither"})
            if end <= start:
                raise ValidationError(
                    {"end_at": f"must be after start_at ({end.isoformat()} <= {start.isoformat()})"}
                )


class _RecurringSchema(_ScheduleSchema):
    depends_on_past = f.Bool(load_default=False)
    end_at = f.DateTime()
    max_runs = f.Count(minimum=1)
    catchup = f.Bool(load_default=False)
    max_active_runs = f.Count(minimum=1, load_default=1)


class IntervalScheduleSchema(_RecurringSchema):
    what = "interval schedule"
    frequency = f.Seconds(minimum=1, required=True)


class CronScheduleSchema(_RecurringSchema):
    what = "cron schedule"
    cron = f.Str(required=True)
    timezone = f.Str(load_default="UTC")

    @validates_always
    def _check_cron(self, data, **kwargs):
        errors = {}
        if "cron" in data and (error := cron_error(data["cron"])):
            errors["cron"] = error
        if "timezone" in data:
            try:
                zoneinfo.ZoneInfo(data["timezone"])
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                errors["timezone"] = (
                    f"unknown time zone {data['timezone']!r}: use an IANA name such as "
                    "'UTC' or 'Europe/Berlin'"
                )
        if errors:
            raise ValidationError(errors)


class ExactTimeScheduleSchema(_ScheduleSchema):
    what = "exact_time schedule"
    start_at = f.DateTime(required=True)


class RepeatableScheduleSchema(_ScheduleSchema):
    what = "repeatable schedule"
    limit = f.Count(minimum=1, required=True)
    depends_on_past = f.Bool(load_default=False)
    end_at = f.DateTime()


SCHEDULE_SCHEMAS = {
    "interval": IntervalScheduleSchema,
    "cron": CronScheduleSchema,
    "exact_time": ExactTimeScheduleSchema,
    "repeatable": RepeatableScheduleSchema,
}


class ScheduleField(KindField):
    """Loads a schedule with the schema of its `kind`."""

    def __init__(self, **kwargs):
        super().__init__(SCHEDULE_SCHEMAS, what="schedule kind", **kwargs)
