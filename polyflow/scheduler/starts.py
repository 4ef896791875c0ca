"""Created runs of unpaused pipelines start running."""

from __future__ import annotations

from collections.abc import Iterable

from ..models import PipelineRun
from ..services.transitions import transition
from ..statuses import RunStatus


def start_created_runs(now, only: Iterable[int] | None = None) -> list[int]:
    """Start created runs (all of them, or those of `only`); return the ids that started.

    A run's `started_at` is never before its `created_at` (transition() sees to
    it): a run created while a tick was under way starts when it was created.
    """
    runs = PipelineRun.objects.filter(status=RunStatus.CREATED, pipeline__is_paused=False)
    if only is not None:
        runs = runs.filter(pk__in=list(only))
    return transition(list(runs.values_list("pk", flat=True)), RunStatus.RUNNING, model=PipelineRun, now=now)
