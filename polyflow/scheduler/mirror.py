"""The decision for a run that a backend decides itself (Airflow): what to write, given what it
reports (pure, like decide.py, whose place it takes for these runs).

Such a backend's scheduler applies the trigger rules, retries, timeouts and concurrency; Polyflow
hands the run over, then mirrors the state of each task onto its op run. Statuses still move
along the one transition table (statuses.py): a task seen `success` while its op run was
`created` (it ran between two ticks) is written created -> scheduled -> running -> succeeded,
so every op run's history reads as any other's. What Polyflow still decides here: handing the
run over (again, if the backend lost it), stopping it, its own run timeout as a safety net, and
the run's end once every op run is final (the backend's verdict on the run, when it gave one).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, deque
from collections.abc import Callable, Collection

from ..backends.base import LOST, SUCCEEDED, EngineRun, Observation, RunHandover, engine_handle, engine_run_handle
from ..matrix import group_status
from ..statuses import OP_FINAL, OP_SUBMITTED, OP_TRANSITIONS, OpStatus, RunStatus
from .decide import OpChange, RunChange, RunDecision, run_outcome
from .outputs import parse_outputs
from .snapshot import OpState, RunSnapshot

# The statuses a mirrored op run may pass through on its way to the one the backend reports.
_STEPS = frozenset({OpStatus.SCHEDULED, OpStatus.RUNNING, OpStatus.RETRYING})
_FAILED = frozenset({OpStatus.FAILED, OpStatus.UPSTREAM_FAILED, OpStatus.STOPPED})
MAPPING = "mapping"  # the one matrix kind a backend that decides runs itself expands (its mapped tasks)


def path(source: str, target: str) -> tuple[str, ...] | None:
    """The shortest series of allowed moves from `source` to `target` (excluding `source`), through
    scheduled, running and retrying only; () when they are equal, None when there is none."""
    if source == target:
        return ()
    queue = deque([(source, ())])
    seen = {source}
    while queue:
        status, steps = queue.popleft()
        for nxt, sources in OP_TRANSITIONS.items():
            if status not in sources or nxt in seen:
                continue
            if nxt == target:
                return (*steps, nxt)
            if nxt in _STEPS:
                seen.add(nxt)
                queue.append((nxt, (*steps, nxt)))
    return None


def engine_of(run: RunSnapshot, default: str, engines: Collection[str]) -> str:
    """The backend deciding this run, if one does: the one its op runs were handed to, else the
    default backend when it is such a backend and nothing of the run went elsewhere."""
    names = {op.backend for op in run.every_op() if op.backend}
    chosen = names & set(engines)
    if chosen:
        return min(chosen)
    return default if not names and default in engines else ""


def mirror_run(run: RunSnapshot, engine: EngineRun | None, now: dt.datetime, *, backend: str,
               handle_of: Callable[[RunHandover], str], stop_sent: Collection[str] = frozenset()) -> RunDecision:
    """What to change in `run`, given what `backend` reports of it (`engine`; None: not read now)."""
    decision = RunDecision(run)
    mirror = _Mirror(decision)
    status, reason, message = run.status, run.reason, run.message
    ops = list(run.ops.values())
    handle = next((engine_run_handle(op.handle, op.name) for op in ops if op.handle), "")

    if any(run.plan.op(name).matrix.kind != MAPPING for name in run.graph.groups):
        _refuse_searches(run, mirror, backend)
    elif status == RunStatus.RUNNING:
        if run.plan.timeout and run.started_at and now > run.started_at + dt.timedelta(seconds=run.plan.timeout):
            status, reason = RunStatus.STOPPING, "timeout"
            message = f"the run took longer than its timeout of {run.plan.timeout} s"
            decision.run_changes.append(RunChange(status, reason, message))
        else:
            handle = _hand_over(run, mirror, engine, handle, backend, handle_of)

    if engine is not None and engine.state != LOST:
        for op in ops:
            # A mapping op expanded there has no task instance of its own: its trials tell (below).
            if op.handle and mirror.status(op) not in OP_FINAL and not engine.trials.get(op.name):
                mirror.follow(op, engine.tasks.get(op.name), engine)
    if handle:
        for name in run.graph.groups:
            _mirror_group(mirror, run.ops[name], engine, handle, backend, running=status == RunStatus.RUNNING)

    if status == RunStatus.RUNNING:
        # An op stopped on its own (the API's op stop): its task is failed there, and the backend's
        # scheduler decides its downstream.
        for op in ops:
            if mirror.status(op) == OpStatus.STOPPING and op.handle and op.handle not in stop_sent:
                decision.stop.append(op.handle)
                decision.stop_on[op.handle] = backend
    if status == RunStatus.STOPPING:
        _stop(mirror, ops, engine)
        if handle and handle not in stop_sent and not (engine is not None and (engine.final or engine.state == LOST)):
            decision.stop.append(handle)
            decision.stop_on[handle] = backend

    final = _outcome(run, mirror, ops, engine, status, reason)
    if final is not None:
        decision.run_changes.append(final if status != RunStatus.STOPPING or reason != "timeout"
                                    else RunChange(final.status, "timeout", message))
    return decision


def _hand_over(run: RunSnapshot, mirror: _Mirror, engine: EngineRun | None, handle: str, backend: str,
               handle_of) -> str:
    """The ops Polyflow wants run and the backend does not have: all of them at first, those an
    explicit retry brought back later, every active one when the backend has lost the run."""
    waiting = [op for op in run.ops.values() if not op.handle and op.status == OpStatus.CREATED]
    lost = engine is not None and engine.state == LOST
    if not waiting and not lost:
        return handle
    names = waiting if waiting else [op for op in run.ops.values() if op.status not in OP_FINAL]
    if not names:
        return handle
    handover = RunHandover(run.uuid, run.plan.name, run.project, run.plan, run.overrides, run.schedule_at,
                           tuple(op.name for op in names))
    handle = handle or handle_of(handover)
    decision = mirror.decision
    decision.handover, decision.handover_backend = handover, backend
    decision.handles = {op.pk: f"{handle}/{op.name}" for op in waiting}
    return handle


def _refuse_searches(run: RunSnapshot, mirror: _Mirror, backend: str) -> None:
    """A search's trials are Polyflow's to choose (its export refuses them): a pipeline applied
    before the server switched backends fails, saying so."""
    names = ", ".join(name for name in run.graph.groups if run.plan.op(name).matrix.kind != MAPPING)
    for op in run.ops.values():
        if op.status == OpStatus.CREATED:
            mirror.change(op, OpStatus.FAILED, "not_carried",
                          f"the {backend} backend runs mappings only, not searches ({names}); run this pipeline "
                          f"on the local or kubernetes backend")


def _mirror_group(mirror: _Mirror, group: OpState, engine: EngineRun | None, handle: str, backend: str,
                  running: bool) -> None:
    """A mapping op: its task's mapped instances there are its trials. Once the backend has
    expanded it, the group starts as any group does (its trials made from the matrix, by
    scheduler/expansion.py, in trial order = map index order); its trials follow their
    instances; it ends with every trial, by the matrix's rule, its outputs lists over them."""
    decision = mirror.decision
    run = decision.run
    trials = run.trials.get(group.name, [])
    for trial in trials:
        if not trial.handle and mirror.status(trial) not in OP_FINAL:
            decision.handles[trial.pk] = engine_handle(handle, group.name, trial.trial)
            decision.handover_backend = backend
    if engine is None or engine.state == LOST:
        return
    mapped = engine.trials.get(group.name, {})
    if mapped and running and mirror.status(group) in (OpStatus.CREATED, OpStatus.SCHEDULED):
        decision.expand.append(group)  # made, or resumed after a retry (expansion.py)
        return
    for trial in trials:
        if trial.handle and mirror.status(trial) not in OP_FINAL:
            mirror.follow(trial, mapped.get(trial.trial), engine)
    statuses = [mirror.status(trial) for trial in trials]
    if not trials or mirror.status(group) != OpStatus.RUNNING or any(s not in OP_FINAL for s in statuses):
        return
    spec = run.plan.op(group.name)
    declared = [io.name for io in spec.template.outputs] if spec.template else []
    published = {}
    for trial in trials:
        seen = mapped.get(trial.trial)
        if mirror.status(trial) == OpStatus.SUCCEEDED and seen is not None:
            published[trial.trial] = parse_outputs(seen.outputs, spec.template.outputs if spec.template else ()).outputs
    counts = Counter(statuses)
    summary = {"trials": len(trials), "counts": dict(counts), "best": None, "early_stopping": None}
    outputs = {name: [(published.get(trial.trial) or {}).get(name) for trial in trials] for name in declared}
    mirror.change(group, group_status(spec.matrix, statuses),
                  message=f"{counts.get(OpStatus.SUCCEEDED, 0)} of {len(trials)} trial(s) succeeded",
                  fields={"outputs": outputs, "summary": summary})


def _stop(mirror: _Mirror, ops: list[OpState], engine: EngineRun | None) -> None:
    gone = engine is not None and (engine.final or engine.state == LOST)
    for op in [*ops, *(trial for trials in mirror.decision.run.trials.values() for trial in trials)]:
        now = mirror.status(op)
        if now in (OpStatus.CREATED, OpStatus.RETRYING):
            mirror.change(op, OpStatus.STOPPED, "stopped", "stopped with its run")
        elif now in OP_SUBMITTED:
            mirror.change(op, OpStatus.STOPPING, "stopped", "stopped with its run")
            now = OpStatus.STOPPING
        if now == OpStatus.STOPPING and (gone or not op.handle):
            mirror.change(op, OpStatus.STOPPED, "stopped", "stopped with its run")


def _outcome(run: RunSnapshot, mirror: _Mirror, ops: list[OpState], engine: EngineRun | None, status: str,
             reason: str) -> RunChange | None:
    statuses = [mirror.status(op) for op in ops]
    if any(s not in OP_FINAL for s in statuses):
        return None
    own = run_outcome(status, reason, statuses)
    if status == RunStatus.STOPPING or not any(op.handle for op in ops):
        return RunChange(own)  # stopped, or never handed over: Polyflow's rule
    if engine is None:
        return None  # not read this time
    if engine.state == LOST:
        return RunChange(own)  # handed over and refused there (its op runs failed saying why)
    if not engine.final:
        return None  # every op run is final and the backend's verdict comes with its next answer
    verdict = RunStatus.SUCCEEDED if engine.state == SUCCEEDED else RunStatus.FAILED
    if verdict == own:
        return RunChange(verdict)
    failed = sorted(op.name for op in ops if mirror.status(op) in _FAILED)
    note = (f"Airflow judged the run by its last tasks: {verdict}, though op(s) {', '.join(failed)} failed"
            if failed else f"Airflow judged the run {verdict} by its last tasks")
    return RunChange(verdict, "engine", note)


class _Mirror:
    """The op runs' statuses as the changes so far leave them (the snapshot stays as loaded)."""

    def __init__(self, decision: RunDecision):
        self.decision = decision
        self.statuses: dict[int, str] = {op.pk: op.status for op in decision.run.every_op()}
        self.attempts: dict[int, int] = {op.pk: op.attempt for op in decision.run.every_op()}

    def status(self, op: OpState) -> str:
        return self.statuses[op.pk]

    def change(self, op: OpState, status: str, reason: str = "", message: str = "", fields=None) -> None:
        self.decision.changes.append(OpChange(op.pk, status, reason, message, dict(fields or {})))
        self.statuses[op.pk] = status

    def follow(self, op: OpState, seen: Observation | None, engine: EngineRun) -> None:
        """Bring the op run to what the backend reports of its task."""
        current = self.status(op)
        if current == OpStatus.STOPPING:
            if engine.final or (seen is not None and (seen.status in OP_FINAL or seen.status == OpStatus.RETRYING)):
                self.change(op, OpStatus.STOPPED, "stopped", seen.message if seen else "stopped with its run",
                            _times(seen))
            return
        if seen is None or not seen.status:
            if engine.final and current == OpStatus.CREATED:
                self.change(op, OpStatus.SKIPPED, "not_run", f"{engine.message or 'the run ended there'} "
                                                             f"without running it")
            return
        target, reason, message = seen.status, seen.reason, seen.message
        fields = _times(seen)
        if seen.attempt:
            fields["attempt"] = seen.attempt
        if target == OpStatus.SUCCEEDED:
            spec = self.decision.run.plan.op(op.name)
            parsed = parse_outputs(seen.outputs, spec.template.outputs if spec.template else ())
            if parsed.error:
                target, reason = OpStatus.FAILED, "invalid_outputs"
                message = f"{parsed.error} (the task itself succeeded there)"
            else:
                fields["outputs"] = parsed.outputs
        if target == OpStatus.CREATED:
            return  # not scheduled there yet (or cleared for a retry, and not read again yet)
        # A later attempt than the one recorded: the one recorded failed in between.
        steps: tuple[str, ...] | None
        if (seen.attempt and seen.attempt > self.attempts[op.pk] and current in OP_SUBMITTED
                and target != OpStatus.RETRYING):
            steps = (OpStatus.RETRYING, *(path(OpStatus.RETRYING, target) or ()))
        else:
            steps = path(current, target)
        if steps and seen.started_at and OpStatus.RUNNING not in (current, *steps):
            # It ran there (between two reads): its history says so, as a local run's would.
            through = path(current, OpStatus.RUNNING), path(OpStatus.RUNNING, target)
            if through[0] is not None and through[1] is not None:
                steps = (*through[0], *through[1])
        if steps is None:
            if target not in OP_FINAL:
                return
            # No move leads there (Airflow skips a task its dagrun_timeout cut short): failed, saying why.
            steps = path(current, OpStatus.FAILED) or ()
            reason = reason or "engine"
        for index, step in enumerate(steps):
            last = index == len(steps) - 1
            self.change(op, step, reason if last else "", message if last else "",
                        fields if last else {} if step == OpStatus.RETRYING
                        else {k: v for k, v in fields.items() if k in ("attempt", "started_at")})


def _times(seen: Observation | None) -> dict:
    if seen is None:
        return {}
    fields: dict = {}
    if seen.started_at:
        fields["started_at"] = seen.started_at
    if seen.finished_at:
        fields["finished_at"] = seen.finished_at
    return fields

