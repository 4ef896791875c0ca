"""What the scheduler knows of the runs it is advancing: plain data, loaded in a
fixed number of queries for a whole batch (DESIGN section 8).

The pure decision (decide.py) reads only these objects; nothing here decides.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db.models import OuterRef, Subquery

from ..models import OperationRun, PipelineRun
from ..spec import Plan
from ..statuses import OpStatus, RunStatus
from . import dag

# The columns of an op run the decision needs; params and outputs are read only
# for the op runs about to be submitted (see load_submission_inputs).
_OP_COLUMNS = ("pk", "run_id", "name", "status", "attempt", "handle", "backend", "reason", "message",
               "started_at", "retry_at")
_RUN_COLUMNS = ("pk", "uuid", "status", "reason", "message", "started_at", "schedule_at", "pipeline_id",
                "pipeline__project_id", "pipeline__is_paused", "scheduler_error", "plan")


@dataclass
class OpState:
    pk: int
    name: str
    status: str
    attempt: int
    handle: str
    backend: str
    reason: str
    message: str
    started_at: dt.datetime | None
    retry_at: dt.datetime | None


@dataclass(frozen=True)
class Graph:
    """A plan's DAG as the decision walks it; built once per plan and process."""

    nodes: Mapping[str, dag.Node]
    children: dag.Downstream

    @classmethod
    def of(cls, plan: Plan) -> Graph:
        nodes = {op.name: dag.Node(op.trigger, op.skip_on_upstream_skip, op.dependencies) for op in plan.ops}
        return cls(nodes, dag.downstream_of(nodes))


@dataclass
class RunSnapshot:
    pk: int
    uuid: str
    status: str
    reason: str
    message: str
    started_at: dt.datetime | None
    schedule_at: dt.datetime | None
    pipeline_id: int
    project: str
    paused: bool
    plan: Plan
    graph: Graph
    ops: dict[str, OpState] = field(default_factory=dict)
    # Op statuses of the run of the previous slot, for depends_on_past; None: no such run.
    previous: Mapping[str, str] | None = None
    had_error: bool = False


@dataclass
class Batch:
    runs: dict[int, RunSnapshot]
    # Runs whose stored state could not even be read (a corrupt plan): pk -> why.
    broken: dict[int, str] = field(default_factory=dict)


_plans: dict[str, tuple[Plan, Graph]] = {}


def plan_of(uuid: str, data: Mapping) -> tuple[Plan, Graph]:
    """A run's plan never changes: parse it (and its DAG) once per process."""
    cached = _plans.get(uuid)
    if cached is None:
        if len(_plans) > 1000:
            _plans.clear()
        plan = Plan.from_dict(data)
        cached = _plans[uuid] = (plan, Graph.of(plan))
    return cached


def lock_and_load(run_ids: Iterable[int]) -> Batch:
    """Lock the batch's active runs (FOR UPDATE: the caller holds their lease, so this
    waits at most for an API request's short transaction) and load them: three queries,
    whatever the number of runs and op runs."""
    rows = list(PipelineRun.objects.select_for_update(of=("self",))
                .filter(pk__in=list(run_ids), status__in=(RunStatus.RUNNING, RunStatus.STOPPING))
                .order_by("created_at", "pk").values_list(*_RUN_COLUMNS))
    batch = Batch({})
    for pk, uuid, status, reason, message, started_at, schedule_at, pipeline_id, project, paused, error, data \
            in rows:
        try:
            plan, graph = plan_of(str(uuid), data)
        except Exception as problem:  # noqa: BLE001 - that run's data, not the tick's
            batch.broken[pk] = f"its stored plan cannot be read: {type(problem).__name__}: {problem}"
            continue
        batch.runs[pk] = RunSnapshot(pk, str(uuid), status, reason, message, started_at, schedule_at,
                                     pipeline_id, str(project), paused, plan, graph, had_error=bool(error))
    if not batch.runs:
        return batch
    for values in OperationRun.objects.filter(run_id__in=list(batch.runs)).order_by("pk").values_list(*_OP_COLUMNS):
        pk, run_id, name, *rest = values
        batch.runs[run_id].ops[name] = OpState(pk, name, *rest)
    _load_previous(batch)
    return batch


def _load_previous(batch: Batch) -> None:
    """The previous slot's op statuses, for the scheduled runs that have an op with depends_on_past."""
    wanted = [run.pk for run in batch.runs.values()
              if run.schedule_at is not None and any(op.depends_on_past for op in run.plan.ops)]
    if not wanted:
        return
    previous_of = dict(PipelineRun.objects.filter(pk__in=wanted).annotate(previous=Subquery(
        PipelineRun.objects.filter(pipeline=OuterRef("pipeline"), schedule_at__lt=OuterRef("schedule_at"))
        .order_by("-schedule_at").values("pk")[:1])).values_list("pk", "previous"))
    statuses: dict[int, dict[str, str]] = defaultdict(dict)
    for run_id, name, status in OperationRun.objects.filter(
            run_id__in=[pk for pk in previous_of.values() if pk]).values_list("run_id", "name", "status"):
        statuses[run_id][name] = status
    for pk, previous in previous_of.items():
        if previous:
            batch.runs[pk].previous = statuses.get(previous, {})


@dataclass(frozen=True)
class SubmissionInputs:
    params: Mapping[int, Mapping]  # op run pk -> its params (the plan's, with the run's overrides)
    outputs: Mapping[tuple[int, str], Mapping]  # (run pk, op name) -> outputs of a succeeded op run


def load_submission_inputs(wanted: Mapping[int, Iterable[int]], upstream: Mapping[int, Iterable[str]]) \
        -> SubmissionInputs:
    """Params of the op runs about to be submitted ({run: op run pks}) and the outputs of
    the succeeded upstream op runs they may reference ({run: op names}): two queries."""
    pks = [pk for pks in wanted.values() for pk in pks]
    if not pks:
        return SubmissionInputs({}, {})
    params = dict(OperationRun.objects.filter(pk__in=pks).values_list("pk", "params"))
    outputs = {}
    names = {name for names in upstream.values() for name in names}
    if names:
        for run_id, name, values in OperationRun.objects.filter(
                run_id__in=list(upstream), name__in=names, status=OpStatus.SUCCEEDED).values_list("run_id", "name",
                                                                                          "outputs"):
            if name in upstream[run_id]:
                outputs[(run_id, name)] = values
    return SubmissionInputs(params, outputs)
