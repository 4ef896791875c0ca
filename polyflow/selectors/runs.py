from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import Count, Prefetch, QuerySet

from ..exceptions import NotFound
from ..models import OperationRun, OperationRunStatus, PipelineRun, PipelineRunStatus

# What the list may be ordered by; "-" sorts descending. Ties go to the newest run.
RUN_ORDERINGS = ("created_at", "started_at", "finished_at", "updated_at", "status")


def with_op_runs(runs: QuerySet) -> QuerySet:
    """Runs with what their representation reads, in a constant number of queries."""
    # The plan is the run's copy of the pipeline's (large, and not shown): loaded only when used.
    return runs.select_related("pipeline__project__owner", "event", "created_by").defer(
        "plan", "pipeline__plan", "pipeline__content").prefetch_related(
        Prefetch("op_runs", queryset=OperationRun.objects.order_by("id")),
    )


def runs_of(
    project,
    *,
    pipeline: str | None = None,
    statuses: Iterable[str] = (),
    created_after=None,
    created_before=None,
    ordering: str = "-created_at",
) -> QuerySet:
    runs = PipelineRun.objects.filter(pipeline__project=project)
    if pipeline is not None:
        runs = runs.filter(pipeline__name=pipeline)
    statuses = list(statuses)
    if statuses:
        runs = runs.filter(status__in=statuses)
    if created_after is not None:
        runs = runs.filter(created_at__gte=created_after)
    if created_before is not None:
        runs = runs.filter(created_at__lt=created_before)
    if ordering.lstrip("-") not in RUN_ORDERINGS:
        raise ValueError(f"unknown ordering {ordering!r}")
    return with_op_runs(runs).order_by(ordering, "-id")


def get_run(project, run_uuid: str) -> PipelineRun:
    """A run of the project by its UUID; anything that is not a UUID is simply not found."""
    try:
        parsed = uuid.UUID(run_uuid)
    except ValueError:
        raise NotFound(f"run {run_uuid!r} not found") from None
    run = with_op_runs(PipelineRun.objects.filter(pipeline__project=project, uuid=parsed)).first()
    if run is None:
        raise NotFound(f"run {run_uuid} not found in {project}")
    return run


def get_op_run(run: PipelineRun, name: str) -> OperationRun:
    op_run = OperationRun.objects.filter(run=run, name=name).select_related("run").first()
    if op_run is None:
        raise NotFound(f"op {name!r} not found in run {run.uuid}")
    return op_run


def run_statuses(run: PipelineRun) -> QuerySet:
    return PipelineRunStatus.objects.filter(run=run).order_by("created_at", "id")


def op_run_statuses(op_run: OperationRun) -> QuerySet:
    return OperationRunStatus.objects.filter(op_run=op_run).order_by("created_at", "id")


def runs_by_ids(ids: Iterable[int], visible_project_ids: Iterable[int]) -> list[PipelineRun]:
    """The runs among `ids` whose project is among `visible_project_ids`, oldest first."""
    return list(with_op_runs(PipelineRun.objects.filter(pk__in=list(ids),
                                                        pipeline__project_id__in=list(visible_project_ids)))
                .order_by("id"))


# For the command line: whoever runs it has the database, so it sees every project.


def all_runs(*, project=None, pipeline: str | None = None, statuses: Iterable[str] = ()) -> QuerySet:
    """Runs of every project (or of `project`), newest first, without their op runs."""
    runs = PipelineRun.objects.select_related("pipeline__project__owner")
    if project is not None:
        runs = runs.filter(pipeline__project=project)
    if pipeline is not None:
        runs = runs.filter(pipeline__name=pipeline)
    statuses = list(statuses)
    if statuses:
        runs = runs.filter(status__in=statuses)
    return runs.order_by("-created_at", "-id")


def op_status_counts(run_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """{run id: {op status: how many op runs}}, in one query."""
    counts: dict[int, dict[str, int]] = {}
    rows = (OperationRun.objects.filter(run_id__in=list(run_ids)).order_by()
            .values_list("run_id", "status").annotate(n=Count("id")))
    for run_id, status, n in rows:
        counts.setdefault(run_id, {})[status] = n
    return counts


def get_any_run(run_uuid: str) -> PipelineRun:
    """A run of any project by its UUID; anything that is not a UUID is simply not found."""
    try:
        parsed = uuid.UUID(run_uuid)
    except ValueError:
        raise NotFound(f"run {run_uuid!r} not found: not a UUID") from None
    run = with_op_runs(PipelineRun.objects.filter(uuid=parsed)).first()
    if run is None:
        raise NotFound(f"run {parsed} not found")
    return run
