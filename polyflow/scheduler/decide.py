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
from .holds import Hold, first_hold
from .outcomes import Outcome, failure, outcome_of, timed_out
from .params import UnresolvedReference, resolve_params
from .snapshot import OpState, RunSnapshot

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
    run_changes: list[RunChange] = field(default_factory=list)

    @property
    def finished(self) -> list[str]:
        """Names of the op runs this decision makes final (what downstream ops wait for)."""
        by_pk = {op.pk: op.name for op in self.run.ops.values()}
        return [by_pk[change.pk] for change in self.changes if change.status in OP_FINAL]


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
    # The op runs as this decision leaves them (the snapshot itself stays as loaded).
    current = dict(run.ops)
    statuses = {name: op.status for name, op in run.ops.items()}
    run_status, run_reason, run_message = run.status, run.reason, run.message

    def change(op: OpState, status: str, reason: str = "", message: str = "", fields=None) -> None:
        fields = dict(fields or {})
        decision.changes.append(OpChange(op.pk, status, reason, message, fields))
        statuses[op.name] = status
        current[op.name] = replace(current[op.name], status=status, reason=reason, message=message,
                                   retry_at=fields.get("retry_at", current[op.name].retry_at))

    # What the backend saw of the attempts in flight.
    for op in run.ops.values():
        if op.status not in BUSY or not op.handle:
            continue
        spec = run.plan.op(op.name)
        observation = observations.get(op.handle)
        outcome = outcome_of(op.status, op.attempt, spec, observation, now) if observation else None
        if outcome is None and op.status in OP_SUBMITTED and timed_out(op.started_at, spec.timeout, now,
                                                                        TIMEOUT_GRACE):
            decision.stop.append(op.handle)
            outcome = failure(spec, op.attempt, "timeout",
                              f"the attempt ran longer than its timeout of {spec.timeout} s", now)
        if outcome is not None:
            _apply(change, op, outcome)

    timeout = run.plan.timeout
    if (run_status == RunStatus.RUNNING and timeout and run.started_at
            and now > run.started_at + dt.timedelta(seconds=timeout)):
        run_status, run_reason = RunStatus.STOPPING, "timeout"
        run_message = f"the run took longer than its timeout of {timeout} s"
        decision.run_changes.append(RunChange(run_status, run_reason, run_message))

    _stop(decision, change, current, stopping_run=run_status == RunStatus.STOPPING, stop_sent=stop_sent)

    if run_status == RunStatus.RUNNING:
        _advance(decision, change, current, statuses, now, first)

    final = run_outcome(run_status, run_reason, statuses.values())
    if final is not None:
        timed = run_reason == "timeout"
        decision.run_changes.append(RunChange(final, "timeout" if timed else "", run_message if timed else ""))
    return decision


def _apply(change, op: OpState, outcome: Outcome) -> None:
    change(op, outcome.status, outcome.reason, outcome.message, outcome.fields)


def _stop(decision: RunDecision, change, current: dict[str, OpState], stopping_run: bool, stop_sent) -> None:
    """A stopping run stops every op run; a stopping op run ends once its attempt has."""
    for loaded in decision.run.ops.values():
        op = current[loaded.name]
        status = op.status
        if stopping_run and status in (OpStatus.CREATED, OpStatus.RETRYING):
            change(op, OpStatus.STOPPED, "stopped", "stopped with its run")
        elif stopping_run and status in OP_SUBMITTED:
            change(op, OpStatus.STOPPING, "stopped", "stopped with its run")
            if op.handle:
                decision.stop.append(op.handle)
            else:
                change(op, OpStatus.STOPPED, "stopped", "stopped before it reached the backend")
        elif status == OpStatus.STOPPING and loaded.status == OpStatus.STOPPING:
            if not op.handle:
                # Nothing reached a backend: nothing to wait for.
                change(op, OpStatus.STOPPED, "stopped", op.message or "stopped on request")
            elif op.handle not in stop_sent:
                decision.stop.append(op.handle)


def _advance(decision: RunDecision, change, current: dict[str, OpState], statuses: dict[str, str], now,
             first: bool) -> None:
    """Trigger rules where something changed, retries that are due, the holds, and resends."""
    run = decision.run
    graph = run.graph
    finished_now = decision.finished
    if first:
        candidates = None
    else:
        candidates = {child for name in finished_now for child in graph.children.get(name, ())}
        candidates.update(name for name, op in run.ops.items()
                          if op.status == OpStatus.CREATED and op.reason in HOLD_REASONS)
    resolved = dag.resolve(graph.nodes, statuses, candidates, graph.children)
    for name in resolved.skipped:
        change(current[name], OpStatus.SKIPPED, "trigger_rule")
    for name in resolved.upstream_failed:
        change(current[name], OpStatus.UPSTREAM_FAILED, "upstream_failed")
    ready = [current[name] for name in resolved.ready]
    ready += [op for op in current.values() if op.status == OpStatus.RETRYING]
    for op in ready:
        hold = first_hold(run, op, now)
        if hold is None:
            decision.ready.append(op)
        elif op.status == OpStatus.CREATED:
            decision.holds[op.pk] = hold
    if first:
        decision.resend = [op for op in current.values() if op.status == OpStatus.SCHEDULED and not op.handle]


def next_attempt(op: OpState) -> int:
    """The attempt a submission of `op` is: a retrying op run starts its next one."""
    return op.attempt + 1 if op.status == OpStatus.RETRYING else op.attempt


def build_submission(run: RunSnapshot, op: OpState, attempt: int, params: Mapping[str, object],
                     outputs: Mapping[str, Mapping]) -> Submission:
    """The attempt handed to the backend; raises UnresolvedReference when a referenced
    output is missing. `outputs` are the run's succeeded op runs' outputs by op name."""
    spec = run.plan.op(op.name)
    globals_ = {"run_uuid": run.uuid, "op_name": op.name, "attempt": attempt,
                "schedule_at": run.schedule_at.isoformat() if run.schedule_at else ""}
    resolved = resolve_params(thaw(params), outputs, globals_)
    return Submission(
        key=attempt_key(run.plan.name, op.name, run.uuid, attempt),
        pipeline=run.plan.name, op=op.name, run_uuid=run.uuid, attempt=attempt,
        template=spec.template, params=resolved, globals=globals_, timeout=spec.timeout,
        project=run.project,
    )


__all__ = ["OpChange", "RunChange", "RunDecision", "UnresolvedReference", "build_submission", "decide_run",
           "next_attempt", "run_outcome"]
