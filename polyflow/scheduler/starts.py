"""Created runs of unpaused pipelines start running; backfill runs wait for room."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Count

from ..models import Pipeline, PipelineRun
from ..services.transitions import transition
from ..statuses import RunStatus

_BACKFILL = PipelineRun.Trigger.BACKFILL


def start_created_runs(now, only: Iterable[int] | None = None) -> list[int]:
    """Start created runs (all of them, or those of `only`); return the ids that started.

    A run's `started_at` is never before its `created_at` (transition() sees to
    it): a run created while a tick was under way starts when it was created.
    Backfill runs are queued: they start oldest slot first while their pipeline has fewer
    running runs than its schedule's `max_active_runs` (scheduled runs are created only when
    there is room; manual and event runs start at once).
    """
    runs = PipelineRun.objects.filter(status=RunStatus.CREATED, pipeline__is_paused=False)
    if only is not None:
        runs = runs.filter(pk__in=list(only))
    rows = list(runs.values_list("pk", "trigger", "pipeline_id"))
    pks = [pk for pk, trigger, _ in rows if trigger != _BACKFILL]
    queued = {pipeline_id for _, trigger, pipeline_id in rows if trigger == _BACKFILL}
    if queued:
        starting = defaultdict(int)
        for _, trigger, pipeline_id in rows:
            if trigger != _BACKFILL:
                starting[pipeline_id] += 1
        pks += _admitted(queued, starting)
    return transition(pks, RunStatus.RUNNING, model=PipelineRun, now=now)


def _admitted(pipeline_ids: set[int], starting: dict[int, int]) -> list[int]:
    """The queued backfill runs of these pipelines that have room now, oldest slot first (three
    queries; none while no backfill run waits)."""
    running = dict(PipelineRun.objects.filter(pipeline_id__in=pipeline_ids,
                                              status__in=(RunStatus.RUNNING, RunStatus.STOPPING))
                   .order_by().values("pipeline_id").annotate(n=Count("pk")).values_list("pipeline_id", "n"))
    limits = dict(Pipeline.objects.filter(pk__in=pipeline_ids)
                  .values_list("pk", "plan__schedule__max_active_runs"))
    admitted = []
    waiting = (PipelineRun.objects.filter(pipeline_id__in=pipeline_ids, status=RunStatus.CREATED, trigger=_BACKFILL,
                                          pipeline__is_paused=False)
               .order_by("pipeline_id", "schedule_at", "pk").values_list("pk", "pipeline_id"))
    room = {}
    for pk, pipeline_id in waiting:
        if pipeline_id not in room:
            # A schedule removed since the backfill: one run at a time, the default.
            limit = limits.get(pipeline_id)
            limit = limit if isinstance(limit, int) and limit > 0 else 1
            room[pipeline_id] = limit - running.get(pipeline_id, 0) - starting.get(pipeline_id, 0)
        if room[pipeline_id] > 0:
            room[pipeline_id] -= 1
            admitted.append(pk)
    return admitted
