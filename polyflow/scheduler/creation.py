"""Creating the runs of due schedule slots and starting created runs."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Q

from ..models import Pipeline, PipelineRun
from ..services.runs import trigger_run
from ..services.transitions import transition
from ..spec import Plan
from ..statuses import RUN_ACTIVE, RunStatus
from .schedules import ScheduleState, plan_slots


def create_due_runs(now) -> list[PipelineRun]:
    """A run for every due slot of every unpaused scheduled pipeline (DESIGN section 4).

    Pipelines are locked with SKIP LOCKED: two schedulers ticking at once each
    handle a pipeline or leave it to the other, and the unique (pipeline,
    schedule_at) constraint backs that up.
    """
    created = []
    with transaction.atomic():
        pipelines = list(
            Pipeline.objects.select_for_update(skip_locked=True)
            .filter(is_paused=False, schedule_done=False, schedule_start_at__isnull=False)
            .filter(Q(next_slot_at__isnull=True) | Q(next_slot_at__lte=now))
        )
        if not pipelines:
            return created
        active = dict(
            PipelineRun.objects.filter(pipeline__in=pipelines, status__in=RUN_ACTIVE)
            .values("pipeline").annotate(n=Count("pk")).values_list("pipeline", "n")
        )
        for pipeline in pipelines:
            created.extend(_create_for(pipeline, active.get(pipeline.pk, 0), now))
    return created


def _create_for(pipeline: Pipeline, active_runs: int, now) -> list[PipelineRun]:
    schedule = Plan.from_dict(pipeline.plan).schedule
    if schedule is None:  # the schedule was removed by an update
        Pipeline.objects.filter(pk=pipeline.pk).update(schedule_done=True, next_slot_at=None)
        return []
    state = ScheduleState(anchor=pipeline.schedule_start_at, last_slot=pipeline.last_slot_at,
                          runs_created=pipeline.runs_created, active_runs=active_runs)
    decision = plan_slots(schedule, state, now)
    runs = [trigger_run(pipeline, trigger=PipelineRun.Trigger.SCHEDULE, schedule_at=slot, now=now)
            for slot in decision.create]
    Pipeline.objects.filter(pk=pipeline.pk).update(
        last_slot_at=decision.last_considered or pipeline.last_slot_at,
        next_slot_at=decision.next_slot,
        runs_created=pipeline.runs_created + len(runs),
        slots_dropped=pipeline.slots_dropped + decision.dropped,
        schedule_done=decision.done,
    )
    return runs


def start_created_runs(now) -> list[int]:
    """Created runs of unpaused pipelines start running."""
    ids = list(PipelineRun.objects.filter(status=RunStatus.CREATED, pipeline__is_paused=False)
               .values_list("pk", flat=True))
    return transition(ids, RunStatus.RUNNING, model=PipelineRun, now=now)
