from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import BigIntegerField, Count, ExpressionWrapper, F, Prefetch, Q, QuerySet, Window
from django.db.models.functions import Greatest, RowNumber

from ..exceptions import NotFound
from ..models import MetricPoint, OperationRun, OperationRunStatus, PipelineRun, PipelineRunStatus
from ..spec.errors import choices_text

# What the list may be ordered by; "-" sorts descending. Ties go to the newest run.
RUN_ORDERINGS = ("created_at", "started_at", "finished_at", "updated_at", "status")


def with_op_runs(runs: QuerySet) -> QuerySet:
    """Runs with what their representation reads, in a constant number of queries."""
    # The plan is the run's copy of the pipeline's (large, and not shown): loaded only when used.
    return runs.select_related("pipeline__project__owner", "event", "created_by").defer(
        "plan", "pipeline__plan", "pipeline__content").prefetch_related(
        Prefetch("op_runs", queryset=OperationRun.objects.select_related("cache_source__run").order_by("id")),
    )


def runs_of(project, **filters) -> QuerySet:
    """The project's runs, filtered (see `filtered_runs`)."""
    return filtered_runs(PipelineRun.objects.filter(pipeline__project=project), **filters)


def runs_visible_to(user, **filters) -> QuerySet:
    """The runs of every project `user` can see, filtered (see `filtered_runs`)."""
    from .projects import visible_projects

    return filtered_runs(PipelineRun.objects.filter(pipeline__project__in=visible_projects(user).values("pk")),
                         **filters)


def filtered_runs(
    runs: QuerySet,
    *,
    pipeline: str | None = None,
    statuses: Iterable[str] = (),
    triggers: Iterable[str] = (),
    created_after=None,
    created_before=None,
    uuid_prefix: str | None = None,
    params: Iterable[str] = (),
    ordering: str = "-created_at",
) -> QuerySet:
    """`params`: `OP.NAME=VALUE` texts, every one matched (selectors.run_search)."""
    from .run_search import parse_param_filter, with_params, with_uuid_prefix

    if pipeline is not None:
        runs = runs.filter(pipeline__name=pipeline)
    statuses = list(statuses)
    if statuses:
        runs = runs.filter(status__in=statuses)
    triggers = list(triggers)
    if triggers:
        runs = runs.filter(trigger__in=triggers)
    if created_after is not None:
        runs = runs.filter(created_at__gte=created_after)
    if created_before is not None:
        runs = runs.filter(created_at__lt=created_before)
    if uuid_prefix:
        runs = with_uuid_prefix(runs, uuid_prefix)
    params = [parse_param_filter(text) for text in params]
    if params:
        runs = with_params(runs, params)
    if ordering.lstrip("-") not in RUN_ORDERINGS:
        raise ValueError(f"unknown ordering {ordering!r}")
    return with_op_runs(runs).order_by(ordering, "-id")


def get_run(project, run_uuid: str, *, op_runs: bool = True) -> PipelineRun:
    """A run of the project by its UUID; anything that is not a UUID is simply not found.
    `op_runs`: with its op runs (its representation), else the run alone (its plan deferred)."""
    try:
        parsed = uuid.UUID(run_uuid)
    except ValueError:
        raise NotFound(f"run {run_uuid!r} not found") from None
    runs = PipelineRun.objects.filter(pipeline__project=project, uuid=parsed)
    run = (with_op_runs(runs) if op_runs else runs.defer("plan")).first()
    if run is None:
        raise NotFound(f"run {run_uuid} not found in {project}")
    return run


def get_op_run(run: PipelineRun, name: str, trial: int | None = None) -> OperationRun:
    """The op run of op `name` (a matrix op's group), or with `trial` that trial of the group.
    Not found: a message naming the run's ops (or the group's trials)."""
    op_run = OperationRun.objects.filter(run=run, name=name, trial=trial).select_related(
        "run", "cache_source__run").first()
    if op_run is None:
        raise _not_found(run, name, trial)
    return op_run


def get_op_run_with_trials(run: PipelineRun, name: str) -> OperationRun:
    """The op run of op `name` with `trials_in_run`, a matrix op's trials in trial order ([] for
    another op): one query."""
    rows = list(OperationRun.objects.filter(run=run, name=name).select_related("run", "cache_source__run")
                .order_by(F("trial").asc(nulls_first=True)))
    if not rows or rows[0].trial is not None:
        raise _not_found(run, name, None)
    op_run = rows[0]
    op_run.trials_in_run = rows[1:]
    return op_run


def get_trial(run: PipelineRun, name: str, index: str | int) -> OperationRun:
    """Trial `index` of matrix op `name`; `index` as the URL gives it (anything but a trial's
    index is not found, with a message naming the op's trials)."""
    try:
        trial = int(index)
    except (TypeError, ValueError):
        trial = None
    if trial is None or trial < 0 or str(trial) != str(index).strip():
        raise _not_found(run, name, str(index))
    return get_op_run(run, name, trial)


def _not_found(run: PipelineRun, name: str, trial: int | str | None) -> NotFound:
    """Why an op or a trial is not found, naming the valid ones (one more query)."""
    if trial is None:
        ops = OperationRun.objects.filter(run=run, trial__isnull=True).order_by("id").values_list("name", flat=True)
        return NotFound(f"op {name!r} not found in run {run.uuid} (ops: {choices_text(ops)})")
    indexes = list(OperationRun.objects.filter(run=run, name=name).order_by(F("trial").asc(nulls_first=True))
                   .values_list("trial", flat=True))
    if not indexes:
        return _not_found(run, name, None)
    trials = [index for index in indexes if index is not None]
    if not trials:
        return NotFound(f"trial {name}[{trial}] not found in run {run.uuid}: op {name!r} has no trials")
    return NotFound(f"trial {name}[{trial}] not found in run {run.uuid} (trials: {_indexes_text(trials)})")


def _indexes_text(indexes: list[int]) -> str:
    """`0 to 9` for an unbroken range, else the indexes (shortened when many)."""
    if len(indexes) > 2 and indexes == list(range(indexes[0], indexes[-1] + 1)):
        return f"{indexes[0]} to {indexes[-1]}"
    return choices_text(str(index) for index in indexes)


def run_statuses(run: PipelineRun) -> QuerySet:
    return PipelineRunStatus.objects.filter(run=run).select_related("user").order_by("created_at", "id")


def op_run_statuses(op_run: OperationRun) -> QuerySet:
    return OperationRunStatus.objects.filter(op_run=op_run).select_related("user").order_by("created_at", "id")


def op_statuses_of_run(run: PipelineRun, after: int = 0) -> QuerySet:
    """Every change of the run's op runs after record `after`, in the order they were written."""
    return (OperationRunStatus.objects.filter(op_run__run=run, pk__gt=after)
            .select_related("user", "op_run").only("pk", "status", "previous", "reason", "message", "attempt",
                                                  "created_at", "user__username", "op_run__name", "op_run__trial")
            .order_by("id"))


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
    """{run id: {op status: how many ops}}, in one query (a matrix op counts once: its group)."""
    counts: dict[int, dict[str, int]] = {}
    rows = (OperationRun.objects.filter(run_id__in=list(run_ids), trial__isnull=True).order_by()
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


# A metric series longer than this is thinned (docs/api.md, "Metrics").
POINTS_PER_SERIES = 2000


def thinned(points_of: QuerySet, partition: list, points: int) -> QuerySet:
    """At most `points` of each series (the MetricPoints of one `partition`, by step), evenly
    spread, its first and last kept: a series of n > `points` points is cut, by its order, into
    `points` equal spans and keeps the first point of each. The database does it, so that a
    long series never travels whole."""
    points = max(points, 2)
    span = Greatest(F("size") - 1, 1)
    return (points_of.annotate(rank=Window(RowNumber(), partition_by=partition, order_by=[F("step").asc(),
                                                                                          F("id").asc()]),
                               size=Window(Count("id"), partition_by=partition))
            .annotate(bucket=ExpressionWrapper((F("rank") - 1) * (points - 1) / span, output_field=BigIntegerField()),
                      previous=ExpressionWrapper((F("rank") - 2) * (points - 1) / span,
                                                 output_field=BigIntegerField()))
            .filter(Q(size__lte=points) | Q(rank=1) | ~Q(bucket=F("previous"))))


def metric_series(op_run: OperationRun, *, names: Iterable[str] | None = None, attempt: int | None = None,
                  points: int = POINTS_PER_SERIES) -> dict[str, list[tuple[int, float, object]]]:
    """{metric: [(step, value, reported_at)], by step} of one attempt of an op run (its
    current one by default), every metric or those `names`, in one query; each thinned to
    `points` (see `thinned`).
    """
    rows = MetricPoint.objects.filter(op_run=op_run, attempt=op_run.attempt if attempt is None else attempt)
    if names is not None:
        rows = rows.filter(name__in=list(names))
    rows = (thinned(rows, [F("name")], points).order_by("name", "step", "id")
            .values_list("name", "step", "value", "reported_at"))
    series: dict[str, list[tuple[int, float, object]]] = {}
    for name, step, value, reported_at in rows:
        series.setdefault(name, []).append((step, value, reported_at))
    return series


def runs_in_slot_order(ids: Iterable[int]) -> list[PipelineRun]:
    """These runs with what their representation reads, oldest slot first (a backfill's answer)."""
    return list(with_op_runs(PipelineRun.objects.filter(pk__in=list(ids))).order_by("schedule_at", "id"))


GRID_MAX_RUNS = 100


def recent_runs_grid(pipeline, limit: int = 25) -> dict:
    """Airflow's grid: the pipeline's `limit` newest runs, newest first, each with its ops'
    statuses (a matrix op's: its group's). `ops` are the current plan's ops in order, then any
    op only older runs had. Three queries at most, whatever the number of runs and ops."""
    limit = max(1, min(int(limit), GRID_MAX_RUNS))
    runs = list(PipelineRun.objects.filter(pipeline=pipeline).order_by("-created_at", "-id")
                .values("pk", "uuid", "created_at", "status", "trigger", "schedule_at")[:limit])
    names = list(pipeline.operations.order_by("position").values_list("name", flat=True))
    known = set(names)
    statuses: dict[int, dict[str, str]] = {run["pk"]: {} for run in runs}
    if runs:
        for run_id, name, status in (OperationRun.objects.filter(run_id__in=list(statuses), trial__isnull=True)
                                     .order_by("id").values_list("run_id", "name", "status")):
            statuses[run_id][name] = status
            if name not in known:
                known.add(name)
                names.append(name)
    return {"ops": names,
            "runs": [{"uuid": run["uuid"], "created_at": run["created_at"], "schedule_at": run["schedule_at"],
                      "status": run["status"], "trigger": run["trigger"], "ops": statuses[run["pk"]]}
                     for run in runs]}
