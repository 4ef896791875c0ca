"""A Polyflow schedule as the fields of an Argo CronWorkflow's spec (pure).

- cron: `schedules: [cron]` with `timezone`;
- interval: a cron expression when the period is one the clock can say (a
  divisor of an hour in minutes, of a day in hours, a day, a week), with
  start_at's phase (`5-59/15 * * * *` from 00:05), and refused otherwise.
  Polyflow's slots are start_at + k x frequency: when start_at is not on a
  whole minute (or not given: then Polyflow anchors at the time of apply) the
  export warns that the slots move;
- exact_time: the cron of that minute, stopped after its one run;
- repeatable: refused (Argo has no "run again as soon as the last ended").

max_runs is a `stopStrategy` expression; start_at and end_at a `when`
expression on `now()`; max_active_runs 1 is concurrencyPolicy Forbid (Argo
then drops a slot that comes while a run is going, where Polyflow starts it
later: a warning), more is Allow, with no bound (a warning); catchup false
is the latest missed slot within startingDeadlineSeconds (a warning says how
long), catchup true is refused (Argo never backfills). depends_on_past is
refused: no Argo run looks at the previous one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..spec.plan import ScheduleSpec
from .base import Warning_

# How long after a missed slot Argo may still start its run (catchup: false).
DEFAULT_STARTING_DEADLINE = 3600
_MINUTE, _HOUR, _DAY, _WEEK = 60, 3600, 86400, 604800


@dataclass
class CronFields:
    spec: dict = field(default_factory=dict)
    warnings: list[Warning_] = field(default_factory=list)
    problems: list[Warning_] = field(default_factory=list)


def _cron_weekday(moment: dt.datetime) -> int:
    return (moment.weekday() + 1) % 7  # cron counts from Sunday, Python from Monday


def _stepped(offset: int, step: int, last: int) -> str:
    """A cron field of every `step` from `offset` (`*/15`, `5-59/15`)."""
    if step == 1:
        return "*"
    return f"*/{step}" if offset == 0 else f"{offset}-{last}/{step}"


def interval_cron(frequency: int, start_at: dt.datetime | None) -> tuple[str | None, bool]:
    """A cron expression (UTC) with the interval's period and, where start_at is given, its
    phase; and whether its slots are Polyflow's (start_at given, on a whole minute).
    (None, False) for a period no cron can say."""
    anchor = start_at.astimezone(dt.UTC) if start_at else None
    aligned = bool(anchor) and anchor.second == 0 and anchor.microsecond == 0
    if frequency % _MINUTE:
        return None, False
    if frequency < _HOUR and _HOUR % frequency == 0:
        minutes = frequency // _MINUTE
        offset = anchor.minute % minutes if anchor else 0
        return f"{_stepped(offset, minutes, 59)} * * * *", aligned
    if frequency % _HOUR == 0 and frequency < _DAY and _DAY % frequency == 0:
        hours = frequency // _HOUR
        minute, offset = (anchor.minute, anchor.hour % hours) if anchor else (0, 0)
        return f"{minute} {_stepped(offset, hours, 23)} * * *", aligned
    if frequency == _DAY:
        minute, hour = (anchor.minute, anchor.hour) if anchor else (0, 0)
        return f"{minute} {hour} * * *", aligned
    if frequency == _WEEK:
        minute, hour, day = (anchor.minute, anchor.hour, _cron_weekday(anchor)) if anchor else (0, 0, 0)
        return f"{minute} {hour} * * {day}", aligned
    return None, False


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cron_fields(schedule: ScheduleSpec, starting_deadline: int = DEFAULT_STARTING_DEADLINE) -> CronFields:
    result = CronFields()
    spec = result.spec
    warn, refuse = result.warnings.append, result.problems.append
    if schedule.kind == "cron":
        spec["schedules"] = [schedule.cron]
        spec["timezone"] = schedule.timezone
    elif schedule.kind == "interval":
        cron, aligned = interval_cron(schedule.frequency, schedule.start_at)
        if cron is None:
            refuse(Warning_("schedule.frequency", f"every {schedule.frequency} s is no period a cron expression "
                                                  "can say (Argo schedules by cron only): use a divisor of an hour "
                                                  "in minutes, of a day in hours, a day or a week"))
            return result
        spec["schedules"] = [cron]
        spec["timezone"] = "UTC"
        if not aligned:
            anchor = f"start_at {schedule.start_at.isoformat()}" if schedule.start_at else "the time of apply"
            warn(Warning_("schedule.start_at", f"carried as cron '{cron}' (UTC): the slots are on the clock, "
                                               f"not every {schedule.frequency} s from {anchor}"))
    elif schedule.kind == "exact_time":
        moment = schedule.start_at.astimezone(dt.UTC)
        spec["schedules"] = [f"{moment.minute} {moment.hour} {moment.day} {moment.month} *"]
        spec["timezone"] = "UTC"
        spec["stopStrategy"] = {"expression": "cronworkflow.succeeded + cronworkflow.failed >= 1"}
        if moment.second or moment.microsecond:
            warn(Warning_("schedule.start_at", f"Argo schedules to the minute: the run starts at "
                                               f"{moment.strftime('%H:%M')} UTC, not {moment.isoformat()}"))
        warn(Warning_("schedule", "an exact_time schedule is carried as a CronWorkflow of that minute "
                                  "(yearly) stopped after its one run: delete it afterwards"))
        return result
    else:
        refuse(Warning_("schedule.kind", f"a {schedule.kind} schedule has no Argo equivalent (Argo runs on a "
                                         "cron only): trigger the Workflow yourself"))
        return result

    if schedule.depends_on_past:
        refuse(Warning_("schedule.depends_on_past", "Argo has no depends_on_past: no run of a CronWorkflow "
                                                    "waits for the previous run's ops"))
    if schedule.max_runs is not None:
        spec["stopStrategy"] = {"expression": f"cronworkflow.succeeded + cronworkflow.failed >= {schedule.max_runs}"}
    window = []
    if schedule.start_at and schedule.kind == "cron":
        window.append(f"now() >= date('{_iso(schedule.start_at)}')")
    if schedule.end_at:
        window.append(f"now() < date('{_iso(schedule.end_at)}')")
    if window:
        spec["when"] = "{{= " + " && ".join(window) + " }}"
        warn(Warning_("schedule.end_at" if schedule.end_at else "schedule.start_at",
                      "carried as the CronWorkflow's `when` expression (Argo 3.6 and later): Argo keeps the "
                      "CronWorkflow after end_at, it only starts no more runs"))
    if schedule.max_active_runs == 1:
        spec["concurrencyPolicy"] = "Forbid"
        warn(Warning_("schedule.max_active_runs", "1 is concurrencyPolicy Forbid: Argo drops a slot that comes "
                                                  "while a run is still going, where Polyflow starts it later"))
    else:
        spec["concurrencyPolicy"] = "Allow"
        warn(Warning_("schedule.max_active_runs", f"Argo can allow one run at a time or any number: "
                                                  f"{schedule.max_active_runs} is carried as Allow, with no bound"))
    if schedule.catchup:
        refuse(Warning_("schedule.catchup", "Argo never backfills missed slots (it runs at most the last one): "
                                            "use catchup: false, and `polyflow backfill` where needed"))
    else:
        spec["startingDeadlineSeconds"] = int(starting_deadline)
        warn(Warning_("schedule.catchup", f"false: Argo runs the latest missed slot only when it was missed by "
                                          f"less than startingDeadlineSeconds ({starting_deadline} s)"))
    return result
