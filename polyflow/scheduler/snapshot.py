"""What the scheduler knows of the runs it is advancing: plain data, loaded in a
fixed number of queries for a whole batch (DESIGN section 8).

The pure decision (decide.py) reads only these objects; nothing here decides.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db.models import Max, OuterRef, Subquery

from ..backends import RUN_ENGINES
from ..backends.base import engine_run_handle
from ..models import OperationRun, OperationRunStatus, PipelineRun
from ..spec import Plan
from ..spec.references import ExpressionError, references_in, walk_strings
from ..statuses import OpStatus, RunStatus
from . import dag

# The columns of an op run the decision needs; params and outputs are read only
# for the op runs about to be submitted (see load_submission_inputs).
_OP_COLUMNS = ("pk", "run_id", "name", "status", "attempt", "handle", "backend", "reason", "message",
               "started_at", "retry_at", "trial")
_RUN_COLUMNS = ("pk", "uuid", "status", "reason", "message", "started_at", "schedule_at", "pipeline_id",
                "pipeline__project_id", "pipeline__is_paused", "scheduler_error", "params", "no_cache")


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
    trial: int | None = None  # a matrix trial's index; None for an op (or a group) itself
    # When the current attempt was scheduled: loaded only for attempts not started yet whose op
    # has a timeout (it counts from the submission for a pod that never starts).
    scheduled_at: dt.datetime | None = None


@dataclass(frozen=True)
class TrialData:
    """What a group's decision reads of a trial beyond its status (loaded only when needed)."""

    metrics: Mapping[str, object]  # latest reported metrics, with the numeric outputs once succeeded
    outputs: Mapping[str, object] | None  # None: not loaded (the group is not about to end)
    params: Mapping[str, object] | None


@dataclass(frozen=True)
class Graph:
    """A plan's DAG as the decision walks it; built once per plan and process."""

    nodes: Mapping[str, dag.Node]
    children: dag.Downstream
    groups: tuple[str, ...] = ()  # the matrix ops

    @classmethod
    def of(cls, plan: Plan) -> Graph:
        nodes = {op.name: dag.Node(op.trigger, op.skip_on_upstream_skip, op.dependencies) for op in plan.ops}
        return cls(nodes, dag.downstream_of(nodes), tuple(op.name for op in plan.ops if op.matrix is not None))


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
    overrides: Mapping[str, Mapping] = field(default_factory=dict)  # the run's params, per op
    # A matrix op's trials, by op name, in trial order; and what was loaded of them (by pk).
    trials: dict[str, list[OpState]] = field(default_factory=dict)
    trial_data: dict[int, TrialData] = field(default_factory=dict)
    no_cache: bool = False  # run every op, cached or not

    def every_op(self) -> Iterable[OpState]:
        """The op runs (groups included) and every trial."""
        yield from self.ops.values()
        for trials in self.trials.values():
            yield from trials


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
    waits at most for an API request's short transaction) and load them: a few queries,
    whatever the number of runs and op runs. A run's plan (large for a large DAG) is
    read only the first time this process meets the run: it never changes."""
    rows = list(PipelineRun.objects.select_for_update(of=("self",))
                .filter(pk__in=list(run_ids), status__in=(RunStatus.RUNNING, RunStatus.STOPPING))
                .order_by("created_at", "pk").values_list(*_RUN_COLUMNS))
    known = {row[0]: _plans.get(str(row[1])) for row in rows}  # taken now: the cache may be emptied below
    unknown = [pk for pk, entry in known.items() if entry is None]
    stored = dict(PipelineRun.objects.filter(pk__in=unknown).values_list("pk", "plan")) if unknown else {}
    batch = Batch({})
    for pk, uuid, status, reason, message, started_at, schedule_at, pipeline_id, project, paused, error, \
            overrides, no_cache in rows:
        try:
            plan, graph = known[pk] or plan_of(str(uuid), stored.get(pk))
        except Exception as problem:  # noqa: BLE001 - that run's data, not the tick's
            batch.broken[pk] = f"its stored plan cannot be read: {type(problem).__name__}: {problem}"
            continue
        batch.runs[pk] = RunSnapshot(pk, str(uuid), status, reason, message, started_at, schedule_at,
                                     pipeline_id, str(project), paused, plan, graph, had_error=bool(error),
                                     overrides=overrides if isinstance(overrides, dict) else {},
                                     no_cache=bool(no_cache))
    if not batch.runs:
        return batch
    for values in OperationRun.objects.filter(run_id__in=list(batch.runs)).order_by("pk").values_list(*_OP_COLUMNS):
        pk, run_id, name, *rest = values
        op = OpState(pk, name, *rest)
        run = batch.runs[run_id]
        if op.trial is None:
            run.ops[name] = op
        else:
            run.trials.setdefault(name, []).append(op)
    for run in batch.runs.values():
        for trials in run.trials.values():
            trials.sort(key=lambda op: op.trial)
    _load_previous(batch)
    _load_trial_data(batch)
    _load_scheduled_at(batch)
    return batch


def _load_scheduled_at(batch: Batch) -> None:
    """When the attempts handed over but not started yet were scheduled, for those whose op has
    a timeout: from their status history, one query (none when there is no such attempt)."""
    waiting = {op.pk: op for run in batch.runs.values() for op in run.every_op()
               if op.status in (OpStatus.SCHEDULED, OpStatus.STARTING) and op.started_at is None and op.handle
               and run.plan.op(op.name).timeout}
    if not waiting:
        return
    rows = (OperationRunStatus.objects.filter(op_run_id__in=list(waiting), status=OpStatus.SCHEDULED)
            .values("op_run_id", "attempt").annotate(at=Max("created_at")).values_list("op_run_id", "attempt", "at"))
    for pk, attempt, at in rows:
        if attempt == waiting[pk].attempt:
            waiting[pk].scheduled_at = at


_WAITING_TRIAL = (OpStatus.CREATED, OpStatus.RETRYING)


def _load_trial_data(batch: Batch) -> None:
    """Metrics of the trials of groups that rank or stop early on them, and the outputs and
    params of every trial of a group about to end (none of its trials waits to start):
    one query, none when no group needs them."""
    metrics_of: set[tuple[int, str]] = set()
    ending: set[tuple[int, str]] = set()
    for run in batch.runs.values():
        for name, trials in run.trials.items():
            matrix = run.plan.op(name).matrix
            if matrix is None:
                continue
            if matrix.metric or matrix.early_stopping:
                metrics_of.add((run.pk, name))
            if not any(op.status in _WAITING_TRIAL for op in trials):
                ending.add((run.pk, name))
    wanted = metrics_of | ending
    if not wanted:
        return
    pks = [op.pk for run in batch.runs.values() for name, trials in run.trials.items()
           if (run.pk, name) in wanted for op in trials]
    columns = ("pk", "run_id", "name", "metrics", "outputs", "trial_params", "status")
    for pk, run_id, name, metrics, outputs, params, status in (
            OperationRun.objects.filter(pk__in=pks).values_list(*columns)):
        full = (run_id, name) in ending
        batch.runs[run_id].trial_data[pk] = TrialData(
            metrics=_metric_values(metrics, outputs if status == OpStatus.SUCCEEDED else None),
            outputs=outputs if full else None, params=params if full else None)


def _metric_values(metrics: object, outputs: object) -> dict[str, float]:
    """The reported metrics, and a succeeded trial's numeric outputs (a declared output may be
    the metric that ranks the trials): what early stopping and `best` compare."""
    values = {}
    for source in (outputs, metrics):  # a reported metric wins over an output of the same name
        if isinstance(source, Mapping):
            values.update({key: value for key, value in source.items()
                           if isinstance(value, int | float) and not isinstance(value, bool)})
    return values


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
            run_id__in=[pk for pk in previous_of.values() if pk], trial__isnull=True).values_list(
            "run_id", "name", "status"):
        statuses[run_id][name] = status
    for pk, previous in previous_of.items():
        if previous:
            batch.runs[pk].previous = statuses.get(previous, {})


@dataclass(frozen=True)
class Published:
    """An op run's outputs as downstream params read them; a group's best trial, if it has one."""

    outputs: Mapping[str, object]
    best: Mapping[str, object] | None = None


_IN_FLIGHT = (OpStatus.SCHEDULED, OpStatus.STARTING, OpStatus.RUNNING, OpStatus.STOPPING)


def in_flight(run_ids: Iterable[int]) -> list[tuple[str, str]]:
    """(backend, handle) of the runs' attempts in flight, without locking anything (not those of
    the backends that decide runs themselves: engine_runs reads those, run by run)."""
    return list(OperationRun.objects.filter(run_id__in=list(run_ids), status__in=_IN_FLIGHT).exclude(handle="")
                .exclude(backend__in=RUN_ENGINES).values_list("backend", "handle"))


def engine_runs(run_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """{run pk: (backend, the run's handle there)} of the runs handed to a backend that decides
    them itself (an op run's handle is "<run handle>/<op>"): one query."""
    rows = (OperationRun.objects.filter(run_id__in=list(run_ids), backend__in=RUN_ENGINES, trial__isnull=True)
            .exclude(handle="").order_by("run_id", "pk").values_list("run_id", "backend", "handle", "name"))
    found: dict[int, tuple[str, str]] = {}
    for run_id, backend, handle, name in rows:
        found.setdefault(run_id, (backend, engine_run_handle(handle, name)))
    return found


def attempts_of(handles: Iterable[str]) -> dict[int, list[tuple[str, str]]]:
    """The active runs of these attempts' handles, each with its attempts in flight among them
    as (backend, handle): one query."""
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    rows = OperationRun.objects.filter(handle__in=list(dict.fromkeys(handles)),
                                       run__status__in=(RunStatus.RUNNING, RunStatus.STOPPING))
    for run_id, backend, handle, status in rows.values_list("run_id", "backend", "handle", "status"):
        if status in _IN_FLIGHT:
            found[run_id].append((backend, handle))
        else:
            found.setdefault(run_id, [])
    return dict(found)



def params_of(run: RunSnapshot, name: str) -> Mapping[str, object]:
    """Op `name`'s params in `run`: the plan's, with the run's overrides (what trigger_run
    stored on the op run; worked out again rather than read, the plan being loaded already)."""
    overrides = run.overrides.get(name)
    params = run.plan.op(name).params
    return {**params, **overrides} if overrides else params


def referenced_ops(run: RunSnapshot, name: str) -> frozenset[str]:
    """The upstream ops whose outputs op `name`'s params reference (cached per plan and op)."""
    key = (run.uuid, name)
    found = _referenced.get(key)
    if found is None:
        if len(_referenced) > 10000:
            _referenced.clear()
        spec = run.plan.op(name)
        # A mapping's values may come from an upstream output, read when the group starts.
        values = spec.matrix.values if spec.matrix and isinstance(spec.matrix.values, str) else None
        found = _referenced[key] = _references([spec.params, values], spec.dependencies)
    overrides = run.overrides.get(name)
    return found | _references(overrides, run.plan.op(name).dependencies) if overrides else found


def _references(params: object, dependencies) -> frozenset[str]:
    try:
        return frozenset(ref.op for _, text in walk_strings(params) for ref in references_in(text)
                         if ref.namespace == "ops")
    except ExpressionError:  # checked when applied; if not, resolving reports it
        return frozenset(dependencies)


_referenced: dict[tuple[str, str], frozenset[str]] = {}


def load_outputs(upstream: Mapping[int, Iterable[str]]) -> dict[tuple[int, str], Published]:
    """What the succeeded op runs that submissions reference ({run: op names}) published, by
    (run, op name): one query, none when nothing is referenced. A group's outputs are lists
    over its trials, with its best trial."""
    names = {name for names in upstream.values() for name in names}
    if not names:
        return {}
    outputs = {}
    for run_id, name, published, summary in OperationRun.objects.filter(
            run_id__in=[run for run, names in upstream.items() if names], name__in=names, trial__isnull=True,
            status=OpStatus.SUCCEEDED).values_list("run_id", "name", "outputs", "summary"):
        if name in upstream[run_id]:
            best = summary.get("best") if isinstance(summary, dict) else None
            outputs[(run_id, name)] = Published(published, best)
    return outputs


def load_trial_params(pks: Iterable[int]) -> dict[int, Mapping]:
    """The matrix values of these trials (read when they are submitted): one query."""
    pks = list(pks)
    return dict(OperationRun.objects.filter(pk__in=pks).values_list("pk", "trial_params")) if pks else {}
