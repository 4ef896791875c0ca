"""Runs: trigger, stop, retry, for a whole run or one op run; mark an op run."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from ..backends import RUN_ENGINES
from ..backends.naming import attempt_key
from ..exceptions import Conflict, InvalidInput, NotFound, Unprocessable
from ..handoff import wake_on_commit
from ..models import Operation, OperationRun, PipelineRun
from ..scheduler import run_end
from ..scheduler.decide import run_outcome
from ..spec import Plan
from ..spec.errors import choices_text, describe, format_path, suggest
from ..spec.params import input_errors
from ..spec.plan import thaw
from ..statuses import (
    OP_FINAL,
    OP_MARKS,
    OP_RETRYABLE,
    OP_SUBMITTED,
    RUN_ACTIVE,
    RUN_FINAL,
    OpStatus,
    RunStatus,
)
from .apply import spec_limits
from .transitions import record_created, transition


def validate_run_params(plan: Plan, params: object) -> dict:
    """Per-op overrides `{"op": {"input": value}}`, checked like the spec checks params."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise InvalidInput("params must map op names to their params",
                           [{"source": "", "path": "params", "message": f"expected a mapping, got {describe(params)}"}])
    names = [op.name for op in plan.ops]
    errors = []
    for op_name, values in params.items():
        if op_name not in names:
            errors.append((("params", str(op_name)), f"unknown op {op_name!r}{suggest(op_name, names)} "
                                                     f"(ops: {choices_text(names)})"))
            continue
        template = plan.op(op_name).template
        for name, message in input_errors(template.inputs, values, f"template {template.name!r}",
                                          limits=spec_limits()):
            errors.append((("params", op_name) + ((name,) if name else ()), message))
    if errors:
        raise Unprocessable("invalid params", [{"source": "", "path": format_path(path), "message": message}
                                              for path, message in errors])
    return {op: dict(values) for op, values in params.items()}


def trigger_run(pipeline, *, params=None, user=None, trigger=PipelineRun.Trigger.MANUAL,
                schedule_at=None, event=None, now=None, wake: bool = True, no_cache: bool = False) -> PipelineRun:
    """Create a run of the pipeline's current plan with one created op run per op.
    `wake`: hand it to a worker once this commits (a caller making many wakes them at once).
    `no_cache`: every op runs, cached or not (DESIGN section 10)."""
    plan = Plan.from_dict(pipeline.plan)
    overrides = validate_run_params(plan, params)
    now = now or timezone.now()
    operation_ids = dict(Operation.objects.filter(pipeline=pipeline).values_list("name", "pk"))
    try:
        with transaction.atomic():
            run = PipelineRun.objects.create(pipeline=pipeline, plan=pipeline.plan, params=overrides,
                                             trigger=trigger, schedule_at=schedule_at, event=event,
                                             created_by=user, created_at=now, no_cache=no_cache)
            record_created([run], now)
            op_runs = OperationRun.objects.bulk_create([
                OperationRun(run=run, operation_id=operation_ids.get(name), name=name, created_at=now,
                             params=thaw({**plan.op(name).params, **overrides.get(name, {})}))
                for name in plan.order
            ])
            record_created(op_runs, now)
        if wake:
            wake_on_commit([run.pk])
    except IntegrityError as error:
        if schedule_at is not None and PipelineRun.objects.filter(pipeline=pipeline, schedule_at=schedule_at).exists():
            raise Conflict(f"a run for slot {schedule_at.isoformat()} exists already") from None
        raise Conflict(f"the run could not be created: {error}") from None
    return run


def get_op_run(run: PipelineRun, name: str) -> OperationRun:
    op_run = run.op_runs.filter(name=name, trial__isnull=True).first()
    if op_run is None:
        raise NotFound(f"op {name!r} not found in run {run.uuid}")
    return op_run


def stop_run(run: PipelineRun, *, now=None, reason: str = "stopped",
             message: str = "stopped on request") -> PipelineRun:
    """Pending op runs stop now; submitted ones go to stopping until their backend confirms.

    A run stopped for its `timeout` (reason "timeout") ends failed, not stopped.
    """
    now = now or timezone.now()
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=run.pk)
        if run.status in RUN_FINAL:
            raise Conflict(f"run {run.uuid} is already {run.status}")
        statuses = _stop_op_runs(run.op_runs.all(), now)
        if run.status != RunStatus.STOPPING:
            transition(run, RunStatus.STOPPING, reason=reason, message=message, now=now)
        final = run_outcome(RunStatus.STOPPING, reason, statuses)
        if final is not None:
            transition(run, final, reason=reason, message=message, now=now)
    run.refresh_from_db()
    run_end.release_stopped(run)
    return run


def _stop_op_runs(op_runs, now) -> list[str]:
    """Stop the op runs; return their statuses as they are now."""
    rows = list(op_runs.values_list("pk", "status"))
    submitted = [pk for pk, status in rows if status in OP_SUBMITTED]
    moved = set(transition(submitted, OpStatus.STOPPING, model=OperationRun, reason="stopped", now=now))
    pending = [pk for pk, status in rows if status not in OP_FINAL and status not in OP_SUBMITTED]
    stopped = set(transition(pending, OpStatus.STOPPED, model=OperationRun, reason="stopped", now=now))
    return [OpStatus.STOPPING if pk in moved else OpStatus.STOPPED if pk in stopped else status
            for pk, status in rows]


def stop_op_run(run: PipelineRun, name: str, *, now=None) -> OperationRun:
    now = now or timezone.now()
    with transaction.atomic():
        op_run = get_op_run(run, name)
        if op_run.status in OP_FINAL:
            raise Conflict(f"op {name!r} is already {op_run.status}")
        # A group stops with its trials (it ends once they have).
        _stop_op_runs(run.op_runs.filter(name=name), now)
    op_run.refresh_from_db()
    return op_run


def _downstream_closure(plan: Plan, names) -> set[str]:
    children: dict[str, list[str]] = {}
    for up, down in plan.edges:
        children.setdefault(up, []).append(down)
    seen, stack = set(names), list(names)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def _retry(run: PipelineRun, names: set[str], now) -> None:
    """Bring op runs `names` and everything downstream back to created; reopen the run.

    A retried group runs again only its failed (or stopped, upstream_failed) trials and
    keeps the others; a group downstream of what is retried is worked out anew (its
    upstream's outputs, a mapping's items, may differ), so its trials are dropped.
    """
    plan = Plan.from_dict(run.plan)
    closure = _downstream_closure(plan, names)
    rows = run.op_runs.filter(name__in=closure, trial__isnull=True, status__in=OP_FINAL)
    ids = list(rows.values_list("pk", flat=True))
    retried_groups = [name for name in names if plan.op(name).matrix is not None]
    ids += run.op_runs.filter(name__in=retried_groups, trial__isnull=False,
                              status__in=OP_RETRYABLE).values_list("pk", flat=True)
    run.op_runs.filter(name__in=closure - names, trial__isnull=False).delete()
    transition(ids, OpStatus.CREATED, model=OperationRun, explicit_retry=True, reason="retry", now=now)
    if run.status in RUN_FINAL:
        transition(run, RunStatus.CREATED, explicit_retry=True, reason="retry", now=now)
    wake_on_commit([run.pk])


def retry_run(run: PipelineRun, *, now=None) -> PipelineRun:
    """Every failed, upstream_failed or stopped op run (and what depends on it) runs again."""
    now = now or timezone.now()
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=run.pk)
        if run.status not in RUN_FINAL:
            raise Conflict(f"run {run.uuid} is {run.status}: only a finished run can be retried")
        names = set(run.op_runs.filter(status__in=OP_RETRYABLE, trial__isnull=True).values_list("name", flat=True))
        if not names:
            raise Conflict(f"run {run.uuid} has no failed, upstream_failed or stopped op to retry")
        _retry(run, names, now)
    run.refresh_from_db()
    return run


def retry_op_run(run: PipelineRun, name: str, *, now=None) -> OperationRun:
    now = now or timezone.now()
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=run.pk)
        op_run = get_op_run(run, name)
        if op_run.status not in OP_FINAL:
            raise Conflict(f"op {name!r} is {op_run.status}: only a finished op can be retried")
        _retry(run, {name}, now)
    op_run.refresh_from_db()
    return op_run


# Longest reason a mark records (the API's schema says so too).
MAX_MARK_REASON = 1000
# What the trigger rules decided for an op that never ran: worked out again once an upstream is
# marked. Ops that ran (or were marked, or stopped) keep what they are.
_DECIDED_BY_UPSTREAMS = ((OpStatus.UPSTREAM_FAILED, "upstream_failed"), (OpStatus.SKIPPED, "trigger_rule"))


def mark_op_run(op_run: OperationRun, status: str, *, reason: str = "", user=None, now=None) -> OperationRun:
    """Set op run `op_run` (an op's, or a matrix op's group's) to `status`, one of OP_MARKS, as
    Airflow's mark success / failed (and skipped) do.

    An attempt handed to a backend is stopped first: its op run moves to `stopping`, then to
    the mark, and its backend is asked to end the process or pod once this commits (its
    outcome is not read any more). A final op run is marked again. A group is marked
    itself; its trials that had not ended are stopped (reason `marked`), the others are kept.
    Ops downstream that the trigger rules had decided (upstream_failed, or skipped by a
    rule) are worked out again, and a finished run is reopened when that leaves something
    to run, else its outcome is worked out again. The history rows record the reason and
    the user; depends_on_past of the next slot's run reads the mark, and that run is woken.
    """
    if status not in OP_MARKS:
        raise InvalidInput(f"cannot mark an op run {status!r} (marks: {choices_text(sorted(OP_MARKS))})",
                           [{"source": "", "path": "status", "message": f"not one of {sorted(OP_MARKS)}"}])
    if not isinstance(reason, str) or len(reason) > MAX_MARK_REASON:
        raise InvalidInput(f"reason: at most {MAX_MARK_REASON} characters",
                           [{"source": "", "path": "reason", "message": f"at most {MAX_MARK_REASON} characters"}])
    if op_run.trial is not None:
        raise Unprocessable(f"trial {op_run.label} cannot be marked: mark its op {op_run.name!r} (the group)")
    if op_run.backend in RUN_ENGINES:
        # Its downstream is that backend's to decide again, not Polyflow's.
        raise Conflict(f"op {op_run.name!r} runs on {op_run.backend}, whose scheduler decides this run: mark its "
                       f"task there (Airflow's mark success / failed); Polyflow shows what it decides")
    now = now or timezone.now()
    who = f" by {user.get_username()}" if user is not None else ""
    message = reason or f"marked {status}{who}"
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=op_run.run_id)
        plan = Plan.from_dict(run.plan)
        group = plan.op(op_run.name).matrix is not None
        rows = list(run.op_runs.filter(name=op_run.name).values_list("pk", "trial", "status", "backend", "handle",
                                                                      "attempt"))
        # The attempts to end on their backend: the op's own, or the group's trials' (a group
        # itself runs nothing).
        to_end = [row for row in rows if (row[1] is not None) == group
                  and row[2] in OP_SUBMITTED | {OpStatus.STOPPING}]
        transition([row[0] for row in rows if row[2] in OP_SUBMITTED], OpStatus.STOPPING, model=OperationRun,
                   reason="marked", message=f"stopped to be marked {status}{who}", now=now, user=user)
        transition([row[0] for row in rows if row[1] is not None and row[2] not in OP_FINAL], OpStatus.STOPPED,
                   model=OperationRun, reason="marked", message=f"its group was marked {status}{who}", now=now,
                   user=user)
        if not transition(op_run, status, explicit_mark=True, reason="marked", message=message, now=now, user=user):
            raise Conflict(f"op {op_run.name!r} could not be marked: it changed meanwhile; try again")
        _work_out_again(run, plan, op_run.name, now, user)
        if run.schedule_at is not None:
            following = (PipelineRun.objects.filter(pipeline_id=run.pipeline_id, schedule_at__gt=run.schedule_at,
                                                    status__in=RUN_ACTIVE)
                         .order_by("schedule_at").values_list("pk", flat=True)[:1])
            wake_on_commit([run.pk, *following])
        else:
            wake_on_commit([run.pk])
    _end_attempts(run, plan, op_run.name, to_end)
    op_run.refresh_from_db()
    return op_run


def _work_out_again(run: PipelineRun, plan: Plan, name: str, now, user) -> None:
    """After op `name` was marked: the ops below it that the trigger rules decided go back to
    created (as a retry does), and the run's own status follows."""
    below = _downstream_closure(plan, {name}) - {name}
    decided = Q()
    for status, reason in _DECIDED_BY_UPSTREAMS:
        decided |= Q(status=status, reason=reason)
    reopen = list(run.op_runs.filter(decided, name__in=below, trial__isnull=True).values_list("pk", "name"))
    if reopen:
        # A group worked out again makes its trials anew (its upstreams' outputs may differ).
        run.op_runs.filter(name__in=[n for _, n in reopen], trial__isnull=False).delete()
        transition([pk for pk, _ in reopen], OpStatus.CREATED, model=OperationRun, explicit_retry=True,
                   reason="marked", message=f"upstream {name!r} was marked", now=now, user=user)
    if run.status not in RUN_FINAL:
        return  # the next tick decides the rest
    statuses = list(run.op_runs.filter(trial__isnull=True).values_list("status", flat=True))
    if any(status not in OP_FINAL for status in statuses):
        transition(run, RunStatus.CREATED, explicit_retry=True, reason="marked",
                   message=f"op {name!r} was marked", now=now, user=user)
        return
    outcome = run_outcome(RunStatus.RUNNING, "", statuses)
    # A run stopped on request stays stopped unless the marks make it a success.
    if outcome != run.status and not (run.status == RunStatus.STOPPED and outcome == RunStatus.FAILED):
        transition(run, outcome, explicit_mark=True, reason="marked", message=f"op {name!r} was marked",
                   now=now, user=user)


def _end_attempts(run: PipelineRun, plan: Plan, name: str, rows) -> None:
    """Ask the backends to end these attempts (after the commit: no network I/O under a lock).
    An attempt recorded without a handle is ended by its deterministic name, as a stop does."""
    from ..backends import get_backend
    from ..scheduler.handover import stop

    handles = []
    for _pk, trial, _status, backend, handle, attempt in rows:
        if handle:
            handles.append((backend, handle))
        elif backend:
            handles.append((backend, attempt_key(plan.name, name, str(run.uuid), attempt, trial=trial)))
    if handles:
        stop(get_backend, handles)
