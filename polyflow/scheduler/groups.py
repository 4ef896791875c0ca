"""A matrix op's group within a run's decision (pure; DESIGN section 9).

A matrix op is one op run for the group, whose status downstream trigger rules
see, and one op run per trial. Trials are observed, timed out, retried and
stopped like any op run (decide.py); here the group admits its waiting trials
under its `concurrency`, applies its early-stopping policies, and ends once
every trial is final: a search succeeds when a trial did, a mapping only when
every item did. Its outputs are then lists over the trials in trial order, and
its summary names the best trial when the matrix has a metric.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from ..matrix import TrialView, Verdict, best_trial, early_stop, group_status
from ..spec.plan import MatrixSpec, OpSpec
from ..statuses import OP_FINAL, OP_SUBMITTED, OpStatus
from .holds import Hold, first_hold
from .snapshot import OpState, RunSnapshot

EARLY_STOPPING = "early_stopping"
BUSY = OP_SUBMITTED | {OpStatus.STOPPING}

Change = Callable[..., None]


def is_group(run: RunSnapshot, op: OpState) -> bool:
    return op.trial is None and run.plan.op(op.name).matrix is not None


def decide_groups(run: RunSnapshot, now: dt.datetime, *, current: Callable[[OpState], OpState],
                  fields: Mapping[int, Mapping], change: Change, running: bool, stop: Callable[[str], None],
                  ready: list[OpState], holds: dict[int, Hold]) -> bool:
    """Advance every group of the run; return whether a group waits on data not loaded yet
    (it ends in another round, which loads its trials' outputs).

    `current` gives an op run as this decision leaves it so far, `fields` what the decision
    writes with the trials' changes (the outputs of those that succeeded just now), `change`
    moves an op run, `stop` asks the backend to end an attempt; trials to submit go to
    `ready`, held ones to `holds`. `running`: the run goes on (not stopping).
    """
    waiting = False
    for name in run.graph.groups:
        spec = run.plan.op(name)
        if name not in run.ops:
            continue
        group = current(run.ops[spec.name])
        trials = [current(op) for op in run.trials.get(spec.name, ())]
        if group.status == OpStatus.STOPPING:
            if all(trial.status in OP_FINAL for trial in trials):
                change(group, OpStatus.STOPPED, group.reason or "stopped", group.message or "stopped on request")
            continue
        if group.status != OpStatus.RUNNING:
            continue
        if running and spec.matrix.early_stopping:
            # Built only for the policies: every decision of a large search would pay for them.
            verdict = early_stop(spec.matrix.early_stopping, [_view(run, trial, fields) for trial in trials])
            if verdict is not None:
                _stop_early(trials, verdict, change, stop)
                trials = [current(op) for op in run.trials.get(spec.name, ())]
        if running:
            _admit(run, spec, trials, now, ready, holds)
        if all(trial.status in OP_FINAL for trial in trials):
            if not _end(run, spec, group, trials, fields, change):
                waiting = True
    return waiting


def _view(run: RunSnapshot, trial: OpState, fields: Mapping[int, Mapping]) -> TrialView:
    data = run.trial_data.get(trial.pk)
    metrics = dict(data.metrics) if data else {}
    written = fields.get(trial.pk, {})
    if trial.status == OpStatus.SUCCEEDED and isinstance(written.get("outputs"), Mapping):
        # Succeeded in this very decision: its numeric outputs count as its metrics too.
        metrics = {**{key: value for key, value in written["outputs"].items()
                      if isinstance(value, int | float) and not isinstance(value, bool)}, **metrics}
    step = metrics.pop("step", None)
    return TrialView(trial.trial, trial.status, metrics, step if isinstance(step, int) else None)


def _stop_early(trials: Sequence[OpState], verdict: Verdict, change: Change, stop: Callable[[str], None]) -> None:
    """The group stops early: pending trials are skipped, running ones stopped, except those
    that met a threshold (they finish); or only the trials a policy singled out."""
    for trial in trials:
        if verdict.stop_group and trial.status == OpStatus.CREATED:
            change(trial, OpStatus.SKIPPED, EARLY_STOPPING, verdict.policy)
        elif verdict.stop_group and trial.status == OpStatus.RETRYING:
            change(trial, OpStatus.STOPPED, EARLY_STOPPING, verdict.policy)
        elif trial.status in OP_SUBMITTED and (
                (verdict.stop_group and trial.trial not in verdict.keep) or trial.trial in verdict.stop_trials):
            change(trial, OpStatus.STOPPING, EARLY_STOPPING, verdict.policy)
            if trial.handle:
                stop(trial.handle)
            else:
                change(trial, OpStatus.STOPPED, EARLY_STOPPING, verdict.policy)


def _admit(run: RunSnapshot, spec: OpSpec, trials: Sequence[OpState], now: dt.datetime,
           ready: list[OpState], holds: dict[int, Hold]) -> None:
    """Waiting trials start in trial order while the group's concurrency allows (a retry
    due first: it continues a trial already begun)."""
    limit = spec.matrix.concurrency
    room = (limit - sum(trial.status in BUSY for trial in trials)) if limit else len(trials)
    waiting = [trial for trial in trials if trial.status == OpStatus.RETRYING]
    waiting += [trial for trial in trials if trial.status == OpStatus.CREATED]
    for trial in waiting:
        hold = first_hold(run, trial, now)
        if hold is None and room > 0:
            ready.append(trial)
            room -= 1
        elif trial.status == OpStatus.CREATED:
            holds[trial.pk] = hold or Hold("concurrency", f"waiting: group {spec.name!r} runs at most {limit} "
                                                          f"trials at once")


def _end(run: RunSnapshot, spec: OpSpec, group: OpState, trials: Sequence[OpState],
         fields: Mapping[int, Mapping], change: Change) -> bool:
    """Every trial is final: the group's status, outputs and summary. False when a
    succeeded trial's outputs were not loaded (the group ends in the next round)."""
    matrix = spec.matrix
    outputs_of: dict[int, Mapping] = {}
    params_of: dict[int, Mapping] = {}
    for trial in trials:
        if trial.status != OpStatus.SUCCEEDED:
            continue
        written = fields.get(trial.pk, {})
        data = run.trial_data.get(trial.pk)
        if "outputs" in written:
            outputs_of[trial.trial] = written["outputs"]
        elif data is not None and data.outputs is not None:
            outputs_of[trial.trial] = data.outputs
        else:
            return False
        params_of[trial.trial] = (data.params if data else None) or {}
    status = group_status(matrix, [trial.status for trial in trials])
    declared = [io.name for io in spec.template.outputs] if spec.template else []
    outputs = {name: [(outputs_of.get(trial.trial) or {}).get(name) for trial in trials] for name in declared}
    summary = _summary(run, matrix, trials, fields, outputs_of, params_of)
    stopped_early = summary.get("early_stopping")
    counts = summary["counts"]
    message = (f"{counts.get(OpStatus.SUCCEEDED, 0)} of {len(trials)} trial(s) succeeded"
               + (f"; stopped early: {stopped_early}" if stopped_early else ""))
    change(group, status, EARLY_STOPPING if stopped_early else "", message,
           {"outputs": outputs, "summary": summary})
    return True


def _summary(run, matrix: MatrixSpec, trials, fields, outputs_of, params_of) -> dict:
    counts = Counter(trial.status for trial in trials)
    summary: dict = {"trials": len(trials), "counts": dict(counts), "best": None, "early_stopping": None}
    policy = next((trial.message for trial in trials if trial.reason == EARLY_STOPPING and trial.message), None)
    summary["early_stopping"] = policy
    if matrix.metric is not None:
        views = [_view(run, trial, fields) for trial in trials]
        index = best_trial(views, matrix.metric)
        if index is not None:
            view = next(view for view in views if view.index == index)
            summary["best"] = {
                "trial": index, "params": dict(params_of.get(index, {})),
                "outputs": dict(outputs_of.get(index, {})),
                "metric": {"name": matrix.metric.name, "value": view.metrics.get(matrix.metric.name),
                           "optimization": matrix.metric.optimization},
            }
    return summary
