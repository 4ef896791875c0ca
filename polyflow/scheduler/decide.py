"""One pure decision per run: what changes, given its snapshot and what the backend saw.

`decide_run` turns a run's snapshot (snapshot.py) and the backend's latest
observations into a `RunDecision`: transitions of op runs (grouped by the
writer into one UPDATE per status), holds with their reasons, the op runs
ready to be submitted (before the concurrency limits, which count across
runs), attempts to ask the backend to stop, and the run's own outcome. It
reads no database and talks to no backend, so it is tested on plain data and
a failure in it is that run's alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from ..backends.base import Observation, Submission
from ..backends.naming import attempt_key
from ..spec.plan import thaw
from ..statuses import OP_FINAL, OP_SUBMITTED, OpStatus, RunStatus
from . import dag
from .groups import decide_groups, is_group
from .holds import Hold, first_hold
from .outcomes import Outcome, failure, outcome_of, timed_out
from .params import UnresolvedReference, resolve_params
from .snapshot import OpState, Published, RunSnapshot

# Backends enforce timeouts themselves; the scheduler steps in only this much later.
TIMEOUT_GRACE = 10
# Reasons of created op runs that were ready but held: looked at again whenever
# something in the batch changed, since room may have freed up.
HOLD_REASONS = frozenset({"concurrency", "paused", "depends_on_past"})
BUSY = OP_SUBMITTED | {OpStatus.STOPPING}


@dataclass(frozen=True)
class OpChange:
    """One transition of one op run, with the fields written alongside."""

    pk: int
    status: str
    reason: str = ""
    message: str = ""
    fields: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class RunChange:
    status: str
    reason: str = ""
    message: str = ""


@dataclass
class RunDecision:
    run: RunSnapshot
    changes: list[OpChange] = field(default_factory=list)
    ready: list[OpState] = field(default_factory=list)  # to submit, if the concurrency limits allow
    holds: dict[int, Hold] = field(default_factory=dict)  # op run pk -> why it waits (reason to write)
    resend: list[OpState] = field(default_factory=list)  # scheduled, never handed over: the same key again
    stop: list[str] = field(default_factory=list)  # handles the backend is asked to end
    stop_on: dict[str, str] = field(default_factory=dict)  # the backend of those that are no op run's handle
    run_changes: list[RunChange] = field(default_factory=list)
    expand: list[OpState] = field(default_factory=list)  # groups whose trials are to be made
    # Trials to create, by group op run pk: their param sets in trial order (see tick._prepare).
    new_trials: dict[int, list[dict]] = field(default_factory=dict)
    again: bool = False  # something waits on another round (a group ending, new trials)
    # What the attempts that succeeded here stored, by op run pk (recording.AttemptArtifacts).
    artifacts: dict[int, object] = field(default_factory=dict)
    # A run a backend decides itself (mirror.py): handed over to `handover_backend` after the
    # commit, its op runs given their handles there (`handles`, by op run pk) first.
    handover: object | None = None  # backends.base.RunHandover
    handover_backend: str = ""
    handles: dict[int, str] = field(default_factory=dict)

    @property
    def finished(self) -> list[str]:
        """Names of the op runs this decision makes final (what downstream ops wait for)."""
        by_pk = {op.pk: op.name for op in self.run.ops.values()}
        return [by_pk[change.pk] for change in self.changes if change.status in OP_FINAL and change.pk in by_pk]


def run_outcome(status: str, reason: str, op_statuses: Iterable[str]) -> str | None:
    """The final status of a run once all its op runs are final, else None (DESIGN section 5).

    Used by the tick and by the stop service: a stopped run ends `stopped`,
    except one stopped for its own timeout, which ends `failed`.
    """
    statuses = set(op_statuses)
    if statuses - OP_FINAL:
        return None
    if status == RunStatus.STOPPING:
        return RunStatus.FAILED if reason == "timeout" else RunStatus.STOPPED
    if statuses & {OpStatus.FAILED, OpStatus.UPSTREAM_FAILED, OpStatus.STOPPED}:
        return RunStatus.FAILED
    return RunStatus.SUCCEEDED


class _Current:
    """The op runs and trials as the decision leaves them so far (the snapshot stays as loaded)."""

    def __init__(self, decision: RunDecision):
        run = decision.run
        self.decision = decision
        self.ops = dict(run.ops)
        self.trials = {op.pk: op for trials in run.trials.values() for op in trials}
        self.statuses = {name: op.status for name, op in run.ops.items()}  # what the DAG sees
        self.fields: dict[int, dict] = {}  # written with the changes, by pk

    def of(self, op: OpState) -> OpState:
        return self.ops[op.name] if op.trial is None else self.trials[op.pk]

    def change(self, op: OpState, status: str, reason: str = "", message: str = "", fields=None) -> None:
        fields = dict(fields or {})
        self.decision.changes.append(OpChange(op.pk, status, reason, message, fields))
        self.fields.setdefault(op.pk, {}).update(fields)
        now = self.of(op)
        updated = replace(now, status=status, reason=reason, message=message,
                          retry_at=fields.get("retry_at", now.retry_at))
        if op.trial is None:
            self.ops[op.name] = updated
            self.statuses[op.name] = status
        else:
            self.trials[op.pk] = updated


def decide_run(run: RunSnapshot, observations: Mapping[str, Observation], now: dt.datetime, *,
               first: bool = True, stop_sent: frozenset[str] | set[str] = frozenset()) -> RunDecision:
    """What to change in `run`.

    `first` is the first decision of this run in a tick: every waiting op run
    is looked at, and scheduled op runs never handed over are sent again. Later
    decisions look only below what the observations made final and at held op
    runs, so a long chain costs one step per op, not a scan of the DAG.
    `stop_sent` are handles already asked to stop in this tick.
    """
    decision = RunDecision(run)
    current = _Current(decision)
    change = current.change
    run_status, run_reason, run_message = run.status, run.reason, run.message

    # What the backend saw of the attempts in flight (trials included).
    for op in run.every_op():
        if op.status not in BUSY or not op.handle:
            continue
        spec = run.plan.op(op.name)
        observation = observations.get(op.handle)
        outcome = outcome_of(op.status, op.attempt, spec, observation, now) if observation else None
        if outcome is None and op.status in OP_SUBMITTED and timed_out(op.started_at or op.scheduled_at,
                                                                        spec.timeout, now, TIMEOUT_GRACE):
            decision.stop.append(op.handle)
            outcome = failure(spec, op.attempt, "timeout", _timeout_message(op, spec.timeout, observation), now)
        if outcome is not None:
            _apply(change, op, outcome)

    timeout = run.plan.timeout
    if (run_status == RunStatus.RUNNING and timeout and run.started_at
            and now > run.started_at + dt.timedelta(seconds=timeout)):
        run_status, run_reason = RunStatus.STOPPING, "timeout"
        run_message = f"the run took longer than its timeout of {timeout} s"
        decision.run_changes.append(RunChange(run_status, run_reason, run_message))

    _stop(decision, current, stopping_run=run_status == RunStatus.STOPPING, stop_sent=stop_sent)

    if run.graph.groups:
        decision.again |= decide_groups(
            run, now, current=current.of, fields=current.fields, change=change,
            running=run_status == RunStatus.RUNNING, stop=decision.stop.append, ready=decision.ready,
            holds=decision.holds)

    if run_status == RunStatus.RUNNING:
        _advance(decision, current, now, first)

    final = run_outcome(run_status, run_reason, current.statuses.values())
    if final is not None:
        timed = run_reason == "timeout"
        decision.run_changes.append(RunChange(final, "timeout" if timed else "", run_message if timed else ""))
    return decision


def _timeout_message(op: OpState, timeout: int, observation: Observation | None) -> str:
    if op.started_at is not None:
        return f"the attempt ran longer than its timeout of {timeout} s"
    # A pod that never started (unschedulable, an image that never comes): its timeout counts from
    # the submission, and why it waits is what the user needs to know.
    waiting = observation.message if observation is not None and observation.message else ""
    return f"the attempt did not start within its timeout of {timeout} s" + (f": {waiting}" if waiting else "")


def _apply(change, op: OpState, outcome: Outcome) -> None:
    change(op, outcome.status, outcome.reason, outcome.message, outcome.fields)


def _stop(decision: RunDecision, current: _Current, stopping_run: bool, stop_sent) -> None:
    """A stopping run stops every op run; a stopping op run ends once its attempt has (a
    stopping group once its trials have: groups.py)."""
    run = decision.run
    change = current.change
    for loaded in run.every_op():
        op = current.of(loaded)
        status = op.status
        group = is_group(run, op)
        if stopping_run and status in (OpStatus.CREATED, OpStatus.RETRYING):
            change(op, OpStatus.STOPPED, "stopped", "stopped with its run")
        elif stopping_run and status in OP_SUBMITTED:
            change(op, OpStatus.STOPPING, "stopped", "stopped with its run")
            if group:
                continue
            if op.handle:
                decision.stop.append(op.handle)
            else:
                _stop_unrecorded(decision, op)
                change(op, OpStatus.STOPPED, "stopped", "stopped before its backend answered its submit")
        elif status == OpStatus.STOPPING and loaded.status == OpStatus.STOPPING and not group:
            if not op.handle:
                _stop_unrecorded(decision, op)
                change(op, OpStatus.STOPPED, "stopped", op.message or "stopped on request")
            elif op.handle not in stop_sent:
                decision.stop.append(op.handle)


def _stop_unrecorded(decision: RunDecision, op: OpState) -> None:
    """An attempt recorded with no handle may still have reached its backend (the answer to its
    submit was lost): its deterministic name is stopped too, so that no pod or process outlives
    the stop. A submit still under way finds the op run stopped and stops what it made."""
    if op.backend:
        key = attempt_key(decision.run.plan.name, op.name, decision.run.uuid, op.attempt, trial=op.trial)
        decision.stop.append(key)
        decision.stop_on[key] = op.backend


def _advance(decision: RunDecision, current: _Current, now, first: bool) -> None:
    """Trigger rules where something changed, retries that are due, the holds, and resends."""
    run = decision.run
    graph = run.graph
    change = current.change
    statuses = current.statuses
    finished_now = decision.finished
    if first:
        candidates = None
    else:
        candidates = {child for name in finished_now for child in graph.children.get(name, ())}
        candidates.update(name for name, op in run.ops.items()
                          if op.status == OpStatus.CREATED and op.reason in HOLD_REASONS)
    resolved = dag.resolve(graph.nodes, statuses, candidates, graph.children)
    for name in resolved.skipped:
        change(current.ops[name], OpStatus.SKIPPED, "trigger_rule")
    for name in resolved.upstream_failed:
        change(current.ops[name], OpStatus.UPSTREAM_FAILED, "upstream_failed")
    ready = [current.ops[name] for name in resolved.ready]
    ready += [op for op in current.ops.values() if op.status == OpStatus.RETRYING]
    for op in ready:
        hold = first_hold(run, op, now)
        if hold is None:
            (decision.expand if is_group(run, op) else decision.ready).append(op)
        elif op.status == OpStatus.CREATED:
            decision.holds[op.pk] = hold
    if first:
        decision.resend = [op for op in [*current.ops.values(), *current.trials.values()]
                           if op.status == OpStatus.SCHEDULED and not op.handle and not is_group(run, op)]


def next_attempt(op: OpState) -> int:
    """The attempt a submission of `op` is: a retrying op run starts its next one."""
    return op.attempt + 1 if op.status == OpStatus.RETRYING else op.attempt


def build_submission(run: RunSnapshot, op: OpState, attempt: int, params: Mapping[str, object],
                     outputs: Mapping[str, Published], trial_params: Mapping[str, object] | None = None
                     ) -> Submission:
    """The attempt handed to the backend; raises UnresolvedReference when a referenced
    output is missing. `outputs` is what the run's succeeded op runs published, by op name;
    a trial's own matrix values (`trial_params`) are taken as they are, over the op's params."""
    spec = run.plan.op(op.name)
    globals_ = {"run_uuid": run.uuid, "op_name": op.name, "attempt": attempt,
                "schedule_at": run.schedule_at.isoformat() if run.schedule_at else "", "trial": op.trial}
    resolved = resolve_params(thaw(params), outputs, globals_)
    if op.trial is not None:
        resolved.update(thaw(trial_params or {}))
    return Submission(
        key=attempt_key(run.plan.name, op.name, run.uuid, attempt, trial=op.trial),
        pipeline=run.plan.name, op=op.name, run_uuid=run.uuid, attempt=attempt,
        template=spec.template, params=resolved, globals=globals_, timeout=spec.timeout,
        project=run.project, trial=op.trial, workspace=run.plan.workspace,
    )


__all__ = ["OpChange", "RunChange", "RunDecision", "UnresolvedReference", "build_submission", "decide_run",
           "next_attempt", "run_outcome"]
