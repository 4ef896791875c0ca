"""Backfill: runs for a scheduled pipeline's past slots that have none (Airflow's backfill)."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..exceptions import Conflict, Unprocessable
from ..handoff import wake_on_commit
from ..models import PipelineRun
from ..scheduler.schedules import slots_between
from ..spec import Plan
from .runs import trigger_run

# Slots one call may cover: a larger range is split by the caller.
MAX_BACKFILL_SLOTS = 1000


def backfill(pipeline, start: dt.datetime, end: dt.datetime, *, user=None, now=None) -> list[PipelineRun]:
    """Runs (trigger `backfill`) for the slots of the pipeline's schedule in [start, end) that
    have no run yet, in slot order; slots after `now` are left to the scheduler.

    The runs are created `created` and queued: the tick starts them oldest slot first while
    the pipeline has fewer running runs than `max_active_runs` (scheduler/starts.py), and
    their ops follow `depends_on_past` as scheduled runs do (the previous slot is the one
    before, whoever made its run). They do not count towards `max_runs`, and the schedule's
    own next slot does not move. At most MAX_BACKFILL_SLOTS slots in the range (422 beyond).
    """
    now = now or timezone.now()
    if end <= start:
        raise Unprocessable(f"end ({end.isoformat()}) must be later than start ({start.isoformat()})",
                            [{"source": "body", "path": "end", "message": "must be later than start"}])
    schedule = Plan.from_dict(pipeline.plan).schedule
    if schedule is None or pipeline.schedule_start_at is None:
        raise Unprocessable(f"pipeline {pipeline.name!r} has no schedule: only a scheduled pipeline's slots can "
                            "be backfilled (trigger a run instead)")
    if schedule.kind == "repeatable":
        raise Unprocessable(f"pipeline {pipeline.name!r} has a repeatable schedule, whose slots are the times its "
                            "runs were created: it has no past slots to backfill")
    # The schedule has no slot before its start, nor one this call makes after now: the range is
    # cut to those (which also keeps the slot arithmetic within the datetimes Python has).
    first, horizon = max(start, pipeline.schedule_start_at), min(end, now + dt.timedelta(microseconds=1))
    if horizon <= first:
        return []
    due = slots_between(schedule, pipeline.schedule_start_at, first, horizon, most=MAX_BACKFILL_SLOTS)
    if due.count > MAX_BACKFILL_SLOTS:
        about = "about " if schedule.kind == "cron" and due.count > MAX_BACKFILL_SLOTS + 1 else ""
        raise Unprocessable(
            f"[{start.isoformat()}, {end.isoformat()}) holds {about}{due.count} slots of the schedule of "
            f"pipeline {pipeline.name!r}; a backfill makes at most {MAX_BACKFILL_SLOTS} runs: split the range",
            [{"source": "body", "path": "", "message": f"{about}{due.count} slots (at most {MAX_BACKFILL_SLOTS})"}])
    slots = list(due.oldest)
    taken = set(PipelineRun.objects.filter(pipeline=pipeline, schedule_at__in=slots)
                .values_list("schedule_at", flat=True))
    runs = []
    try:
        with transaction.atomic():
            for slot in slots:
                if slot not in taken:
                    runs.append(trigger_run(pipeline, user=user, trigger=PipelineRun.Trigger.BACKFILL,
                                            schedule_at=slot, now=now, wake=False))
            if runs:
                wake_on_commit([run.pk for run in runs])
    except Conflict as error:
        raise Conflict(f"{error.message} (made meanwhile): nothing was backfilled; try again") from None
    except IntegrityError as error:  # pragma: no cover - trigger_run turns these into Conflict
        raise Conflict(f"the backfill could not be made: {error}") from None
    return runs
