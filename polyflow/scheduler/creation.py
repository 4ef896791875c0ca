"""Creating the runs of due schedule slots (starting them is scheduler/starts.py)."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery

from ..models import Pipeline, PipelineRun
from ..services.runs import trigger_run
from ..spec import Plan
from ..statuses import RUN_ACTIVE
from .schedules import ScheduleState, SlotPlan, plan_slots, slots_due

logger = logging.getLogger("polyflow.scheduler")

# The largest value of a PositiveIntegerField on every database Django supports:
# a counter that reached it stays there rather than failing the pipeline's update.
COUNTER_MAX = 2**31 - 1
ERROR_MAX = 2000  # characters of an error kept on the pipeline (the log has all of it)


def create_due_runs(now) -> list[PipelineRun]:
    """A run for every due slot of every unpaused scheduled pipeline (DESIGN sections 4 and 8).

    Pipelines are locked with SKIP LOCKED: two schedulers ticking at once each
    handle a pipeline or leave it to the other. Each pipeline's runs are created
    in a savepoint of their own, so a pipeline whose creation fails is rolled
    back alone, with the error recorded on it, and the others get their runs.
    """
    created = []
    with transaction.atomic():
        pipelines = _claim_due_pipelines(now)
        if not pipelines:
            return created
        active = _active_counts(pipelines)
        for pipeline in pipelines:
            try:
                with transaction.atomic():
                    runs = _create_for(pipeline, active.get(pipeline.pk, 0), now)
            except Exception as error:  # any failure is this pipeline's alone (DESIGN section 8)
                _record_error(pipeline, error, now)
                continue
            created.extend(runs)
    return created


def _due_pipelines(now):
    """The pipelines whose schedule may have a slot due at `now`, each with `newest_slot`: its
    runs' newest slot."""
    newest = (PipelineRun.objects.filter(pipeline=OuterRef("pk"), schedule_at__isnull=False)
              .order_by("-schedule_at").values("schedule_at")[:1])
    return (Pipeline.objects
            .filter(is_paused=False, schedule_done=False, schedule_start_at__isnull=False)
            .filter(Q(next_slot_at__isnull=True) | Q(next_slot_at__lte=now))
            .defer("content")
            .annotate(newest_slot=Subquery(newest))
            .order_by("pk"))


def _claim_due_pipelines(now) -> list[Pipeline]:
    """The due pipelines nobody else holds, locked."""
    return list(_due_pipelines(now).select_for_update(skip_locked=True))


def _active_counts(pipelines) -> dict[int, int]:
    return dict(
        PipelineRun.objects.filter(pipeline__in=pipelines, status__in=RUN_ACTIVE).order_by()
        .values("pipeline").annotate(n=Count("pk")).values_list("pipeline", "n")
    )


def slots_due_at(now) -> list[tuple[Pipeline, dt.datetime]]:
    """(pipeline, slot) for every run a tick at `now` would create, in pipeline order, oldest
    slot first: read, never written or locked (`polyflow tick --now` ahead of the clock says
    which slots it would create before it does). A pipeline whose stored plan cannot be read
    is left out (the tick records its error)."""
    pipelines = list(_due_pipelines(now))
    active = _active_counts(pipelines)
    states = []
    for pipeline in pipelines:
        try:
            schedule = Plan.from_dict(pipeline.plan).schedule
        except Exception:  # noqa: BLE001 - the tick records it on the pipeline
            continue
        if schedule is not None:
            states.append((pipeline, schedule, schedule_state(pipeline, pipeline.newest_slot,
                                                              active.get(pipeline.pk, 0))))
    return slots_due(states, now)


def schedule_state(pipeline: Pipeline, newest_run_slot, active_runs: int) -> ScheduleState:
    """What the schedule decides from. The newest slot is the later of the one recorded and the newest
    run's: a slot that has a run is never considered again, whatever an update did to the schedule."""
    slots = [slot for slot in (pipeline.last_slot_at, newest_run_slot) if slot is not None]
    return ScheduleState(anchor=pipeline.schedule_start_at, last_slot=max(slots, default=None),
                         runs_created=pipeline.runs_created, active_runs=active_runs)


def schedule_updates(pipeline: Pipeline, state: ScheduleState, decision: SlotPlan) -> dict:
    """The pipeline's schedule fields after `decision` was carried out."""
    return {
        "last_slot_at": decision.last_considered or state.last_slot,
        "next_slot_at": decision.next_slot,
        "runs_created": min(COUNTER_MAX, pipeline.runs_created + len(decision.create)),
        "slots_dropped": min(COUNTER_MAX, pipeline.slots_dropped + decision.dropped),
        "schedule_done": decision.done,
        "scheduler_error": "",
        "scheduler_error_at": None,
    }


def _create_for(pipeline: Pipeline, active_runs: int, now) -> list[PipelineRun]:
    schedule = Plan.from_dict(pipeline.plan).schedule
    if schedule is None:  # the schedule was removed by an update
        Pipeline.objects.filter(pk=pipeline.pk).update(schedule_done=True, next_slot_at=None,
                                                       scheduler_error="", scheduler_error_at=None)
        return []
    state = schedule_state(pipeline, pipeline.newest_slot, active_runs)
    decision = plan_slots(schedule, state, now)
    runs = [trigger_run(pipeline, trigger=PipelineRun.Trigger.SCHEDULE, schedule_at=slot, now=now)
            for slot in decision.create]
    Pipeline.objects.filter(pk=pipeline.pk).update(**schedule_updates(pipeline, state, decision))
    return runs


def error_text(error: Exception) -> str:
    text = f"creating the due runs failed: {type(error).__name__}: {error}"
    return text if len(text) <= ERROR_MAX else text[:ERROR_MAX - 1] + "…"


def _record_error(pipeline: Pipeline, error: Exception, now) -> None:
    """Shown with the pipeline (API, dashboard) until a later tick creates its runs."""
    logger.error("pipeline %s (id %s): %s", pipeline.name, pipeline.pk, error_text(error), exc_info=error)
    Pipeline.objects.filter(pk=pipeline.pk).update(scheduler_error=error_text(error), scheduler_error_at=now)
