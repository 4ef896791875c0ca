"""One scheduler tick: load state in few queries, decide with the pure modules,
write transitions, hand ready op runs to the backend.

Safe to run twice at once: active runs are claimed with SELECT ... FOR UPDATE
SKIP LOCKED (PostgreSQL), every status change is a conditional UPDATE, and a
submit is idempotent by the attempt's key, so an op run reaches the backend at
most once per attempt even if a worker dies between submitting and recording.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from ..backends import Backend, Submission, SubmitError, get_backend
from ..backends.naming import attempt_key
from ..conf import polyflow_settings
from ..models import OperationRun, PipelineRun
from ..services.runs import stop_run
from ..services.transitions import transition
from ..spec import Plan
from ..statuses import OP_FINAL, OP_SUBMITTED, OpStatus, RunStatus
from . import dag
from .creation import create_due_runs, start_created_runs
from .limits import Candidate, admit
from .outcomes import Outcome, failure, outcome_of, timed_out
from .params import UnresolvedReference, resolve_params
from .past import held_by_past

logger = logging.getLogger("polyflow.scheduler")

# A chain advances within one tick for as long as the backend reports
# finished attempts, for up to this many seconds (an instant backend would
# otherwise keep one tick, and its locks on the runs, for a whole long chain).
ROUNDS_BUDGET = 2.0
# Backends enforce timeouts themselves; the tick steps in only this much later.
TIMEOUT_GRACE = 10
_OP_FIELDS = ("pk", "run_id", "name", "status", "attempt", "handle", "backend", "started_at", "retry_at",
              "outputs", "params", "reason")


@dataclass
class TickReport:
    runs_created: int = 0
    runs_started: int = 0
    submitted: int = 0
    finished: Counter = field(default_factory=Counter)  # op runs by final status
    retrying: int = 0
    held: int = 0
    runs_finished: Counter = field(default_factory=Counter)
    passes: int = 0
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        parts = [f"{self.runs_created} run(s) created", f"{self.runs_started} started",
                 f"{self.submitted} op run(s) submitted"]
        parts += [f"{n} {status}" for status, n in sorted(self.finished.items()) if n]
        if self.retrying:
            parts.append(f"{self.retrying} retrying")
        if self.held:
            parts.append(f"{self.held} waiting")
        parts += [f"{n} run(s) {status}" for status, n in sorted(self.runs_finished.items()) if n]
        return [", ".join(parts)] + self.errors


_plans: dict[str, Plan] = {}


def _plan(run: PipelineRun) -> Plan:
    """Plans of runs never change: parse each once per process."""
    key = str(run.uuid)
    plan = _plans.get(key)
    if plan is None:
        if len(_plans) > 1000:
            _plans.clear()
        plan = _plans[key] = Plan.from_dict(run.plan)
    return plan


def tick(now: dt.datetime | None = None, backend: Backend | None = None) -> TickReport:
    now = now or timezone.now()
    report = TickReport()
    report.runs_created = len(create_due_runs(now))
    report.runs_started = len(start_created_runs(now))
    _reconcile(backend, report)
    _Pass(now, backend, report).run()
    return report


def _reconcile(backend: Backend | None, report: TickReport) -> None:
    """The backend's reconciliation, when it is due (the backend decides); never fatal to the tick."""
    try:
        (backend or get_backend()).reconcile()
    except Exception as error:  # an API server that cannot be reached must not stop the tick
        logger.warning("reconcile: %s", error)
        report.errors.append(f"reconcile: {error}")


class _Pass:
    """The work of one tick on the active runs it claimed.

    Op runs are loaded once; each transition written is applied to the loaded
    objects too, so later rounds of the tick decide on current state without
    reading it again, and look only at what changed.
    """

    def __init__(self, now, backend: Backend | None, report: TickReport):
        self.now = now
        self.default_backend = backend
        self.report = report
        self.backends: dict[str, Backend] = {}

    def backend(self, name: str | None = None) -> Backend:
        if self.default_backend is not None and name in (None, "", self.default_backend.name):
            return self.default_backend
        name = name or polyflow_settings.BACKEND
        if name not in self.backends:
            self.backends[name] = get_backend(name)
        return self.backends[name]

    def run(self) -> None:
        with transaction.atomic():
            runs = list(PipelineRun.objects.select_for_update(skip_locked=True, of=("self",))
                        .filter(status__in=(RunStatus.RUNNING, RunStatus.STOPPING))
                        .select_related("pipeline").order_by("created_at", "pk"))
            if not runs:
                return
            self.runs = {run.pk: run for run in runs}
            self._enforce_run_timeouts()
            self._load_ops()
            deadline = time.monotonic() + ROUNDS_BUDGET
            for round_ in itertools.count():
                first = round_ == 0
                if not first and time.monotonic() > deadline:
                    break
                self.report.passes += 1
                finished = self._sync(stop_requested=first)
                if not first and not finished:
                    break  # nothing changed since the last round: nothing new to decide
                self._decide(finished, first=first)
            self._finalize_runs()

    # -- loading -----------------------------------------------------------------
    def _load_ops(self) -> None:
        self.ops: dict[int, OperationRun] = {}
        self.by_run: dict[int, dict[str, OperationRun]] = defaultdict(dict)
        for op_run in OperationRun.objects.filter(run_id__in=self.runs).only(*_OP_FIELDS).order_by("pk"):
            self.ops[op_run.pk] = op_run
            self.by_run[op_run.run_id][op_run.name] = op_run
        # Kept up to date by _move and _set_reason, so that a round looks only
        # at what may change instead of scanning every op run of a large run.
        self.busy = {pk: o for pk, o in self.ops.items() if o.status in _BUSY}
        self.held_for_room = {pk for pk, o in self.ops.items()
                              if o.status == OpStatus.CREATED and o.reason == "concurrency"}
        self.nodes = {run_id: self._nodes(run_id) for run_id in self.runs}
        self.children = {run_id: dag.downstream_of(nodes) for run_id, nodes in self.nodes.items()}

    def _nodes(self, run_id: int) -> dict[str, dag.Node]:
        plan = _plan(self.runs[run_id])
        return {op.name: dag.Node(op.trigger, op.skip_on_upstream_skip, op.dependencies) for op in plan.ops}

    def _move(self, op_runs, status: str, **kwargs) -> list[OperationRun]:
        """Write a transition and apply it to the loaded op runs; return those that moved."""
        per_row = kwargs.get("per_row") or {}
        moved = transition([o.pk for o in op_runs], status, model=OperationRun, now=self.now, **kwargs)
        result = []
        for pk in moved:
            op_run = self.ops[pk]
            op_run.status = status
            op_run.reason = per_row.get(pk, {}).get("reason", kwargs.get("reason", ""))
            for name, value in {**(kwargs.get("updates") or {}), **per_row.get(pk, {})}.items():
                setattr(op_run, name, value)
            if kwargs.get("next_attempt"):
                op_run.attempt += 1
            if status in _BUSY:
                self.busy[pk] = op_run
            else:
                self.busy.pop(pk, None)
            self.held_for_room.discard(pk)
            result.append(op_run)
        return result

    # -- timeouts of whole runs ----------------------------------------------------
    def _enforce_run_timeouts(self) -> None:
        for run in self.runs.values():
            timeout = _plan(run).timeout
            if (run.status == RunStatus.RUNNING and timeout and run.started_at
                    and self.now > run.started_at + dt.timedelta(seconds=timeout)):
                stopped = stop_run(run, now=self.now, reason="timeout",
                                   message=f"the run took longer than its timeout of {timeout} s")
                run.status, run.reason, run.message = stopped.status, stopped.reason, stopped.message

    # -- syncing submitted op runs -----------------------------------------------
    def _sync(self, stop_requested: bool) -> list[OperationRun]:
        """Read the backends once; return the op runs that reached a final status."""
        watched = [o for o in self.busy.values() if o.handle]
        outcomes: dict[int, Outcome] = {}
        by_backend = defaultdict(list)
        for op_run in watched:
            by_backend[op_run.backend].append(op_run)
        for name, op_runs in by_backend.items():
            backend = self.backend(name)
            stopping = [o.handle for o in op_runs if o.status == OpStatus.STOPPING]
            if stop_requested and stopping:
                backend.stop(stopping)
            observations = backend.sync([o.handle for o in op_runs])
            for op_run in op_runs:
                op = _plan(self.runs[op_run.run_id]).op(op_run.name)
                observation = observations.get(op_run.handle)
                outcome = outcome_of(op_run.status, op_run.attempt, op, observation, self.now) if observation else None
                if outcome is None and op_run.status in OP_SUBMITTED and timed_out(
                        op_run.started_at, op.timeout, self.now, TIMEOUT_GRACE):
                    backend.stop([op_run.handle])
                    outcome = failure(op, op_run.attempt, "timeout",
                                      f"the attempt ran longer than its timeout of {op.timeout} s", self.now)
                if outcome is not None:
                    outcomes[op_run.pk] = outcome
        if stop_requested:
            # Stopping op runs that never reached a backend have nothing to wait for.
            for op_run in self.ops.values():
                if op_run.status == OpStatus.STOPPING and not op_run.handle:
                    outcomes[op_run.pk] = Outcome(OpStatus.STOPPED, "stopped")
        return self._write_outcomes(outcomes)

    def _write_outcomes(self, outcomes: dict[int, Outcome]) -> list[OperationRun]:
        groups = defaultdict(dict)
        for pk, outcome in outcomes.items():
            groups[outcome.status][pk] = {**outcome.fields, "reason": outcome.reason, "message": outcome.message}
        finished = []
        for status, rows in groups.items():
            moved = self._move([self.ops[pk] for pk in rows], status, per_row=rows)
            if status in OP_FINAL:
                self.report.finished[status] += len(moved)
                finished += moved
            elif status == OpStatus.RETRYING:
                self.report.retrying += len(moved)
        return finished

    # -- deciding and submitting -----------------------------------------------------
    def _decide(self, finished: list[OperationRun], first: bool) -> None:
        """Resolve trigger rules where something changed, then submit what is ready."""
        skipped, upstream_failed, ready = [], [], []
        changed_runs = {o.run_id for o in finished}
        for run_id, ops in self.by_run.items():
            run = self.runs[run_id]
            if run.status != RunStatus.RUNNING or not (first or run_id in changed_runs):
                continue
            candidates = None if first else {child for o in finished if o.run_id == run_id
                                             for child in self.children[run_id].get(o.name, ())}
            statuses = _Statuses(ops)
            decisions = dag.resolve(self.nodes[run_id], statuses, candidates, self.children[run_id])
            skipped += [ops[name] for name in decisions.skipped]
            upstream_failed += [ops[name] for name in decisions.upstream_failed]
            ready += [ops[name] for name in decisions.ready]
        moved = self._move(skipped, OpStatus.SKIPPED, reason="trigger_rule")
        self.report.finished[OpStatus.SKIPPED] += len(moved)
        moved_failed = self._move(upstream_failed, OpStatus.UPSTREAM_FAILED, reason="upstream_failed")
        self.report.finished[OpStatus.UPSTREAM_FAILED] += len(moved_failed)
        if first:
            ready += [o for o in self.ops.values() if o.status == OpStatus.RETRYING and o.retry_at
                      and o.retry_at <= self.now and self.runs[o.run_id].status == RunStatus.RUNNING]
        elif finished:
            # Room may have freed up for op runs held by a concurrency limit.
            ready += [self.ops[pk] for pk in sorted(self.held_for_room) if self.ops[pk] not in ready]
        self._submit(ready, resend=first)

    def _submit(self, ready: list[OperationRun], resend: bool) -> None:
        ready = self._hold_paused(ready)
        ready = self._hold_for_past(ready)
        admitted = self._within_limits(ready)
        prepared, failed = {}, {}
        for op_run in admitted:
            attempt = op_run.attempt + (1 if op_run.status == OpStatus.RETRYING else 0)
            submission = self._submission(op_run, attempt)
            if isinstance(submission, str):
                failed[op_run.pk] = {"reason": "unresolved_reference", "message": submission}
            else:
                prepared[op_run.pk] = submission
        backend = self.backend()
        rows = {pk: {"handle": s.key, "backend": backend.name, "params": dict(s.params), "reason": "",
                     "message": ""} for pk, s in prepared.items()}
        first = [self.ops[pk] for pk in prepared if self.ops[pk].status == OpStatus.CREATED]
        again = [self.ops[pk] for pk in prepared if self.ops[pk].status == OpStatus.RETRYING]
        moved = self._move(first, OpStatus.SCHEDULED, per_row=rows)
        moved += self._move(again, OpStatus.SCHEDULED, per_row=rows, next_attempt=True, updates={"retry_at": None})
        # Scheduled but never handed over (a transient submit error): again, same key.
        unsent = [o for o in self.ops.values() if o.status == OpStatus.SCHEDULED and not o.handle
                  and self.runs[o.run_id].status == RunStatus.RUNNING] if resend else []
        for op_run in unsent:
            submission = self._submission(op_run, op_run.attempt)
            if isinstance(submission, str):
                failed[op_run.pk] = {"reason": "unresolved_reference", "message": submission}
            else:
                prepared[op_run.pk] = submission
                moved.append(op_run)
        self._hand_over(backend, moved, prepared, failed)

    def _submission(self, op_run: OperationRun, attempt: int) -> Submission | str:
        run = self.runs[op_run.run_id]
        plan = _plan(run)
        op = plan.op(op_run.name)
        globals_ = {"run_uuid": str(run.uuid), "op_name": op.name, "attempt": attempt,
                    "schedule_at": run.schedule_at.isoformat() if run.schedule_at else ""}
        outputs = _SucceededOutputs(self.by_run[run.pk])
        try:
            params = resolve_params(op_run.params, outputs, globals_)
        except UnresolvedReference as error:
            return str(error)
        return Submission(
            key=attempt_key(plan.name, op.name, str(run.uuid), attempt),
            pipeline=plan.name, op=op.name, run_uuid=str(run.uuid), attempt=attempt,
            template=op.template, params=params, globals=globals_, timeout=op.timeout,
            project=str(run.pipeline.project_id),
        )

    def _hand_over(self, backend: Backend, moved, prepared, failed) -> None:
        """Submit after recording: if this worker dies before committing, the next
        tick submits the same key again, which the backend answers with the
        attempt it already has."""
        unsent = []
        for op_run in moved:
            submission = prepared[op_run.pk]
            try:
                handle = backend.submit(submission)
            except SubmitError as error:
                if error.permanent:
                    failed[op_run.pk] = {"reason": "submit_error", "message": str(error)}
                else:
                    unsent.append(op_run)
                    self.report.errors.append(f"{submission.key}: {error} (will submit again)")
                continue
            if handle != op_run.handle:
                op_run.handle = handle
                OperationRun.objects.filter(pk=op_run.pk).update(handle=handle)
            self.report.submitted += 1
        if unsent:
            OperationRun.objects.filter(pk__in=[o.pk for o in unsent]).update(handle="")
            for op_run in unsent:
                op_run.handle = ""
        if failed:
            moved_failed = self._move([self.ops[pk] for pk in failed], OpStatus.FAILED, per_row=failed)
            self.report.finished[OpStatus.FAILED] += len(moved_failed)

    def _hold_paused(self, ready: list[OperationRun]) -> list[OperationRun]:
        paused = [o for o in ready if self.runs[o.run_id].pipeline.is_paused]
        self._set_reason(paused, "paused", "the pipeline is paused")
        return [o for o in ready if not self.runs[o.run_id].pipeline.is_paused]

    def _hold_for_past(self, ready: list[OperationRun]) -> list[OperationRun]:
        runs = {o.run_id for o in ready if self.runs[o.run_id].schedule_at is not None
                and _plan(self.runs[o.run_id]).op(o.name).depends_on_past}
        if not runs:
            return ready
        previous_run = dict(
            PipelineRun.objects.filter(pk__in=runs).annotate(previous=Subquery(
                PipelineRun.objects.filter(pipeline=OuterRef("pipeline"), schedule_at__lt=OuterRef("schedule_at"))
                .order_by("-schedule_at").values("pk")[:1])).values_list("pk", "previous")
        )
        previous_statuses = defaultdict(dict)
        for run_id, name, status in OperationRun.objects.filter(
                run_id__in=[pk for pk in previous_run.values() if pk]).values_list("run_id", "name", "status"):
            previous_statuses[run_id][name] = status
        kept = []
        for op_run in ready:
            run = self.runs[op_run.run_id]
            previous = previous_run.get(run.pk)
            held = held_by_past([op_run.name], {op_run.name: _plan(run).op(op_run.name).depends_on_past},
                                previous_statuses.get(previous) if previous else None)
            if held:
                self._set_reason([op_run], "depends_on_past", held[op_run.name])
            else:
                kept.append(op_run)
        return kept

    def _within_limits(self, candidates: list[OperationRun]) -> list[OperationRun]:
        if not candidates:
            return []
        items = []
        for o in candidates:
            run = self.runs[o.run_id]
            plan = _plan(run)
            items.append(Candidate(o, o.run_id, run.pipeline_id, o.name, plan.concurrency, plan.op(o.name).concurrency))
        if not polyflow_settings.MAX_CONCURRENCY and all(c.run_limit is None and c.op_limit is None for c in items):
            return candidates
        busy = OP_SUBMITTED | {OpStatus.STOPPING}
        running = OperationRun.objects.filter(status__in=busy)
        per_op = {}
        if any(c.op_limit is not None for c in items):
            pipelines = {c.pipeline for c in items}
            per_op = {(p, name): n for p, name, n in running.filter(run__pipeline__in=pipelines)
                      .values("run__pipeline", "name").annotate(n=Count("pk"))
                      .values_list("run__pipeline", "name", "n")}
        total = running.count() if polyflow_settings.MAX_CONCURRENCY else 0
        per_run = {run_id: sum(o.status in busy for o in ops.values()) for run_id, ops in self.by_run.items()}
        admitted, held = admit(items, per_run, per_op, total, polyflow_settings.MAX_CONCURRENCY)
        for op_run, message in held.items():
            self._set_reason([op_run], "concurrency", message)
        return admitted

    def _set_reason(self, op_runs, reason: str, message: str) -> None:
        """Why a ready op run waits, visible in the API; not a status change."""
        changed = [o for o in op_runs if o.reason != reason]
        self.report.held += len(op_runs)
        if changed:
            OperationRun.objects.filter(pk__in=[o.pk for o in changed]).update(
                reason=reason, message=message, updated_at=self.now)
            for op_run in changed:
                op_run.reason = reason
        if reason == "concurrency":
            self.held_for_room.update(o.pk for o in op_runs)
        else:
            self.held_for_room.difference_update(o.pk for o in op_runs)

    # -- finishing runs ------------------------------------------------------------
    def _finalize_runs(self) -> None:
        outcome = defaultdict(list)
        for run_id, run in self.runs.items():
            ops = self.by_run.get(run_id, {}).values()
            if any(o.status not in OP_FINAL for o in ops):
                continue
            statuses = {o.status for o in ops}
            if run.status == RunStatus.STOPPING:
                status = RunStatus.FAILED if run.reason == "timeout" else RunStatus.STOPPED
            elif statuses & {OpStatus.FAILED, OpStatus.UPSTREAM_FAILED, OpStatus.STOPPED}:
                status = RunStatus.FAILED
            else:
                status = RunStatus.SUCCEEDED
            outcome[status].append(run_id)
        for status, ids in outcome.items():
            timeouts = [pk for pk in ids if self.runs[pk].reason == "timeout"]
            others = [pk for pk in ids if pk not in timeouts]
            moved = transition(others, status, model=PipelineRun, now=self.now)
            if timeouts:
                moved += transition(timeouts, status, model=PipelineRun, now=self.now, reason="timeout",
                                    updates={"message": self.runs[timeouts[0]].message})
            self.report.runs_finished[status] += len(moved)


class _SucceededOutputs:
    """The outputs of a run's succeeded op runs, looked up by op name when a
    reference needs them (copying them all for every submission would cost a
    scan of the run per op)."""

    def __init__(self, op_runs: dict[str, OperationRun]):
        self.op_runs = op_runs

    def get(self, name: str, default=None):
        op_run = self.op_runs.get(name)
        return op_run.outputs if op_run is not None and op_run.status == OpStatus.SUCCEEDED else default


_BUSY = OP_SUBMITTED | {OpStatus.STOPPING}


class _Statuses(Mapping):
    """A run's op statuses by name, read from the loaded op runs (no copy per round)."""

    def __init__(self, op_runs: dict[str, OperationRun]):
        self.op_runs = op_runs

    def __getitem__(self, name: str) -> str:
        return self.op_runs[name].status

    def __iter__(self):
        return iter(self.op_runs)

    def __len__(self) -> int:
        return len(self.op_runs)
