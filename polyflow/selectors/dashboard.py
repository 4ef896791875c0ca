"""What the dashboard's pages read (polyflow/ui/), in a fixed number of queries per page.

Scoping is the API's: `visible_projects` and `get_project` from selectors.projects.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Prefetch, QuerySet, Window
from django.db.models.functions import RowNumber

from ..access import Access, access_level
from ..exceptions import NotFound
from ..models import OperationRun, OperationRunStatus, Pipeline, PipelineRun, ProjectMember
from ..scheduler.schedules import ScheduleState, SlotPlan, plan_slots
from ..spec import Plan
from ..spec.plan import ScheduleSpec
from ..statuses import RUN_ACTIVE
from .projects import member_role, visible_projects
from .runs import run_statuses, runs_of

LAST_RUNS = 12  # status dots per pipeline on the projects page
RUNS_PER_PAGE = 20


@dataclass
class NextSlot:
    at: dt.datetime | None  # the slot; None when there is none to come
    note: str = ""  # "due now", "due, waiting for 1 active run", "schedule finished", ...
    due: bool = False  # the slot has come: the next tick creates its run (unless paused or waiting)


@dataclass
class PipelineSummary:
    pipeline: Pipeline
    plan: Plan
    schedule: str  # in words, to the minute
    schedule_full: str  # in words, to the second
    next_slot: NextSlot
    active_runs: int
    last_runs: list[PipelineRun] = field(default_factory=list)  # newest first


@dataclass
class ProjectSummary:
    project: object
    access: Access
    pipelines: list[PipelineSummary]


def project_access(user, project) -> Access:
    return access_level(user, project, member_role(user, project))


def summarize(pipeline: Pipeline, active_runs: int, now: dt.datetime, last_runs=()) -> PipelineSummary:
    from ..ui.schedules import schedule_in_words  # cron expressions as sentences (cron-descriptor)

    plan = Plan.from_dict(pipeline.plan)
    return PipelineSummary(
        pipeline=pipeline, plan=plan,
        schedule=schedule_in_words(plan.schedule, minutes=True),
        schedule_full=schedule_in_words(plan.schedule),
        next_slot=next_slot(pipeline, plan.schedule, active_runs, now),
        active_runs=active_runs, last_runs=list(last_runs),
    )


def projects_overview(user, now: dt.datetime, *, owner: str | None = None, name: str | None = None,
                      last: int = LAST_RUNS) -> list[ProjectSummary]:
    """Every project the user may read (or the one named), with its pipelines and their last runs.

    Five queries whatever the number of projects, pipelines and runs.
    """
    projects = visible_projects(user).order_by("owner__username", "name")
    if owner is not None:
        projects = projects.filter(owner__username=owner, name=name)
    projects = list(projects)
    pipelines = list(Pipeline.objects.filter(project__in=projects).defer("content").order_by("name"))
    ids = [pipeline.pk for pipeline in pipelines]
    active = active_run_counts(ids)
    recent = last_runs(ids, last)
    by_project = defaultdict(list)
    for pipeline in pipelines:
        by_project[pipeline.project_id].append(
            summarize(pipeline, active.get(pipeline.pk, 0), now, recent.get(pipeline.pk, ())))
    roles = dict(ProjectMember.objects.filter(user=user, project__in=projects).values_list("project_id", "role")) \
        if user.is_authenticated else {}
    return [ProjectSummary(project, access_level(user, project, roles.get(project.pk)), by_project[project.pk])
            for project in projects]


def active_run_counts(pipeline_ids: Iterable[int]) -> dict[int, int]:
    rows = (PipelineRun.objects.filter(pipeline_id__in=list(pipeline_ids), status__in=RUN_ACTIVE).order_by()
            .values("pipeline_id").annotate(n=Count("pk")).values_list("pipeline_id", "n"))
    return dict(rows)


def last_runs(pipeline_ids: Iterable[int], count: int) -> dict[int, list[PipelineRun]]:
    """{pipeline id: its `count` newest runs, newest first}, in one query (a window function)."""
    runs = (PipelineRun.objects.filter(pipeline_id__in=list(pipeline_ids))
            .annotate(rank=Window(RowNumber(), partition_by=[F("pipeline_id")],
                                  order_by=[F("created_at").desc(), F("id").desc()]))
            .filter(rank__lte=count)
            .only("id", "uuid", "pipeline_id", "status", "reason", "trigger", "created_at", "schedule_at")
            .order_by("pipeline_id", "rank"))
    result: dict[int, list[PipelineRun]] = defaultdict(list)
    for run in runs:
        result[run.pipeline_id].append(run)
    return dict(result)


def next_slot(pipeline: Pipeline, schedule: ScheduleSpec | None, active_runs: int, now: dt.datetime) -> NextSlot:
    """The next slot of the pipeline's schedule as the scheduler will see it: the scheduler's own
    decision (`plan_slots`), asked for `now`."""
    if schedule is None:
        return NextSlot(None, "manual only")
    if pipeline.schedule_done:
        return NextSlot(None, "schedule finished")
    if pipeline.next_slot_at is not None and pipeline.next_slot_at > now:
        return NextSlot(pipeline.next_slot_at)  # the scheduler does not look at the pipeline before it
    state = ScheduleState(anchor=pipeline.schedule_start_at or schedule.start_at or now,
                          last_slot=pipeline.last_slot_at, runs_created=pipeline.runs_created,
                          active_runs=active_runs)
    return slot_in_words(plan_slots(schedule, state, now), active_runs)


def slot_in_words(decision: SlotPlan, active_runs: int) -> NextSlot:
    if decision.create:
        return NextSlot(decision.create[0], "due now", True)
    if decision.waiting:
        if decision.next_slot is None:  # repeatable: the next run comes when the active one is done
            return NextSlot(None, "after the active run")
        return NextSlot(decision.next_slot,
                        f"due, waiting for {active_runs} active run{'s' if active_runs != 1 else ''}", True)
    if decision.next_slot is not None:
        return NextSlot(decision.next_slot)
    return NextSlot(None, "schedule finished")


def pipeline_runs(project, pipeline: str, *, statuses: Iterable[str] = (), page: int | str = 1,
                  per_page: int = RUNS_PER_PAGE) -> Page:
    """A page of the pipeline's runs, newest first, each with its op runs. Past the last page: the last page."""
    runs = ops_only(runs_of(project, pipeline=pipeline, statuses=statuses))
    return Paginator(runs, per_page).get_page(page)


def ops_only(runs: QuerySet) -> QuerySet:
    """Runs with the op runs of their ops only: a matrix op is one node, its group's op run
    (trial NULL); its trials, maybe a thousand, are read apart and bounded (selectors.groups)."""
    return runs.prefetch_related(None).prefetch_related(
        Prefetch("op_runs", queryset=OperationRun.objects.filter(trial__isnull=True).order_by("id")))


def run_status_counts(project, pipeline: str) -> dict[str, int]:
    rows = (PipelineRun.objects.filter(pipeline__project=project, pipeline__name=pipeline).order_by()
            .values("status").annotate(n=Count("pk")).values_list("status", "n"))
    return dict(rows)


@dataclass
class RunDetail:
    run: PipelineRun
    plan: Plan
    op_runs: list[OperationRun]  # one per op (a group for a matrix op, not its trials), in creation order
    history: list  # the run's status records, oldest first
    op_history: dict[str, list[OperationRunStatus]]  # op name -> its status records (every attempt), oldest first


def dashboard_run(project, run_uuid) -> PipelineRun:
    """A run of the project (`run_uuid` a UUID: the page's URL takes nothing else) with its ops' op runs."""
    # With its plan (runs_of leaves it out): the page draws the DAG from it.
    run = ops_only(runs_of(project)).defer(None).defer("pipeline__plan", "pipeline__content").filter(
        uuid=run_uuid).first()
    if run is None:
        raise NotFound(f"run {run_uuid} not found in {project}")
    return run


def run_detail(project, run_uuid, op: str | None = None, every_history_up_to: int | None = None) -> RunDetail:
    """A run with its ops' op runs, its plan, its history and every op run's history (4 queries);
    with `op`, that op's op run and history only. With `every_history_up_to`, a run of more ops
    reads the history of its retried op runs only (what their earlier attempts' bars may need):
    the page does not draw the others' histories."""
    run = dashboard_run(project, run_uuid)
    op_runs = [op_run for op_run in run.op_runs.all() if op is None or op_run.name == op]
    by_id = {op_run.pk: op_run.name for op_run in op_runs}
    op_history: dict[str, list[OperationRunStatus]] = {name: [] for name in by_id.values()}
    read = list(by_id)
    if every_history_up_to is not None and len(op_runs) > every_history_up_to:
        read = [op_run.pk for op_run in op_runs if op_run.attempt > 1]
    for record in OperationRunStatus.objects.filter(op_run__in=read).order_by("id"):
        op_history[by_id[record.op_run_id]].append(record)
    return RunDetail(run, Plan.from_dict(run.plan), op_runs, list(run_statuses(run)), op_history)


# -- The project's runs page: filters and search ------------------------------------------

TIME_RANGES = {"1h": dt.timedelta(hours=1), "24h": dt.timedelta(days=1), "7d": dt.timedelta(days=7),
               "30d": dt.timedelta(days=30)}
_HEX = frozenset("0123456789abcdef")


def uuid_prefix(text: str) -> str | None:
    """A run UUID's prefix as typed (`ed2298c4`, `ED22-98`, with or without hyphens), in the
    canonical form the database compares (hyphens at 8, 12, 16, 20); None if not hex."""
    digits = text.strip().lower().replace("-", "")
    if not digits or len(digits) > 32 or not set(digits) <= _HEX:
        return None
    parts, at = [], 0
    for size in (8, 4, 4, 4, 12):
        if at >= len(digits):
            break
        parts.append(digits[at:at + size])
        at += size
    prefix = "-".join(parts)
    return prefix + "-" if len(digits) in (8, 12, 16, 20) else prefix


def project_runs(project, **filters) -> Page:
    """A page of the project's runs (see `runs_page`)."""
    return runs_page(PipelineRun.objects.filter(pipeline__project=project), **filters)


def visible_runs(user, **filters) -> Page:
    """A page of the runs of every project `user` can see (see `runs_page`)."""
    return runs_page(PipelineRun.objects.filter(pipeline__project__in=visible_projects(user).values("pk")),
                     **filters)


def runs_page(runs, *, statuses: Iterable[str] = (), pipelines: Iterable[str] = (),
              triggers: Iterable[str] = (), created_after: dt.datetime | None = None,
              created_before: dt.datetime | None = None, search: str = "", params: Iterable = (),
              page: int | str = 1, per_page: int = RUNS_PER_PAGE) -> Page:
    """A page of these runs, newest first, filtered, each with its pipeline and its op runs
    (a matrix op as its group): three queries whatever the page holds (the count, the runs, their ops).
    `search`: a prefix of the run's UUID; text that cannot be one finds nothing. `params`:
    selectors.run_search.ParamFilter, every one matched."""
    from .run_search import with_params
    from .runs import filtered_runs

    runs = filtered_runs(runs, statuses=statuses, triggers=triggers, created_after=created_after,
                         created_before=created_before)
    pipelines = list(pipelines)
    if pipelines:
        runs = runs.filter(pipeline__name__in=pipelines)
    if search.strip():
        prefix = uuid_prefix(search)
        runs = runs.filter(uuid__startswith=prefix) if prefix else runs.none()
    params = list(params)
    if params:
        runs = with_params(runs, params)
    return Paginator(ops_only(runs), per_page).get_page(page)


def pipeline_names(project) -> list[str]:
    return list(Pipeline.objects.filter(project=project).order_by("name").values_list("name", flat=True))


def visible_pipeline_names(user) -> list[str]:
    """The names of the pipelines of every project `user` can see, each once."""
    return list(Pipeline.objects.filter(project__in=visible_projects(user).values("pk")).order_by("name")
                .values_list("name", flat=True).distinct())


# -- The header: the scheduler's health ----------------------------------------------------

@dataclass
class SchedulerHealth:
    last_tick: dt.datetime | None
    workers: list  # SchedulerHeartbeat rows, latest tick first
    interval: int  # TICK_INTERVAL, seconds
    late: bool  # no tick for more than READY_INTERVALS intervals (or never)
    age: float | None  # seconds since the last tick

    @property
    def live_workers(self) -> list:
        return [worker for worker in self.workers if not worker.late]


def scheduler_health(now: dt.datetime, shown: int = 20) -> SchedulerHealth:
    """The scheduler processes' heartbeats (polyflow.telemetry.heartbeat): one query. Late when no
    process ticked for three TICK_INTERVALs, as /readyz judges."""
    from ..conf import polyflow_settings
    from ..models import SchedulerHeartbeat
    from ..telemetry.heartbeat import READY_INTERVALS

    interval = polyflow_settings.TICK_INTERVAL
    allowed = READY_INTERVALS * interval
    workers = list(SchedulerHeartbeat.objects.order_by("-ticked_at")[:shown])
    for worker in workers:
        worker.age = max((now - worker.ticked_at).total_seconds(), 0.0)
        worker.late = worker.age > allowed
    last = workers[0].ticked_at if workers else None
    age = workers[0].age if workers else None
    return SchedulerHealth(last, workers, interval, last is None or age > allowed, age)
