"""How the command line shows a matrix op (DESIGN section 9): its group is one op, with
its trials' progress and its best trial; the trials themselves are listed apart
(`polyflow runs show --trials`, a failed group's summary), never as ops of their own."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from polyflow.cli.runs import _counts, _duration, _one_line, _op_run_dict
from polyflow.matrix.grouping import ops_and_trials as split  # noqa: F401 - the CLI's name for it
from polyflow.statuses import OP_FINAL, OP_SUBMITTED, OpStatus

# Trials with an attempt somewhere: what the group's concurrency counts.
BUSY = OP_SUBMITTED | {OpStatus.STOPPING}
TRIAL_HEADER = ["TRIAL", "STATUS", "ATTEMPT", "DURATION", "PARAMS", "METRICS / OUTPUTS / MESSAGE"]


def value_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def outputs_text(outputs: Mapping | None) -> str:
    """`name=value, ...`: numbers and booleans (metrics) first, then the rest, each group by name."""
    items = sorted((outputs or {}).items(), key=lambda item: (not isinstance(item[1], int | float), item[0]))
    return ", ".join(f"{name}={value_text(value)}" for name, value in items)


def params_text(params: Mapping | None) -> str:
    # In the matrix's own order (`lr=0.3 depth=8`): it is how the search was written.
    return " ".join(f"{name}={value_text(value)}" for name, value in (params or {}).items())


def progress(trials: Sequence) -> str:
    """`4/9 done, 2 running`, and `, 1 failed` when some trial failed."""
    done = sum(trial.status in OP_FINAL for trial in trials)
    running = sum(trial.status in BUSY for trial in trials)
    failed = sum(trial.status == OpStatus.FAILED for trial in trials)
    return f"{done}/{len(trials)} done, {running} running" + (f", {failed} failed" if failed else "")


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def counts(trials: Sequence) -> str:
    """`9 trials: 8 succeeded, 1 failed`."""
    by_status: dict[str, int] = {}
    for trial in trials:
        by_status[trial.status] = by_status.get(trial.status, 0) + 1
    return f"{plural(len(trials), 'trial')}: {_counts(by_status)}"


def best_text(group) -> str:
    """An ended group's best trial: `best: trial 8 accuracy=2.4 lr=0.3 depth=8`."""
    best = (group.summary or {}).get("best")
    if not best:
        return ""
    metric = best.get("metric") or {}
    score = f" {metric['name']}={value_text(metric.get('value'))}" if metric.get("name") else ""
    params = params_text(best.get("params"))
    return f"best: trial {best['trial']}{score}" + (f" {params}" if params else "")


def ended_texts(group) -> list[str]:
    """What an ended group's summary tells: its best trial, and why it stopped early."""
    early = (group.summary or {}).get("early_stopping")
    return [text for text in (best_text(group), early and f"stopped early: {early}") if text]


def best_so_far(trials: Sequence, metric) -> str:
    """`best accuracy=0.8` among the trials that succeeded so far, ranked as the scheduler ranks
    them (a reported metric, else a declared output of that name); "" without any."""
    from polyflow.matrix import TrialView, best_trial

    views = {trial.trial: TrialView(trial.trial, trial.status, {
        **((trial.outputs or {}) if trial.status == OpStatus.SUCCEEDED else {}), **(trial.metrics or {})})
        for trial in trials}
    index = best_trial(list(views.values()), metric)
    return "" if index is None else f"best {metric.name}={value_text(views[index].value(metric.name))}"


def trial_detail(trial) -> str:
    """Its metrics and outputs; the reason it did not succeed when it has none."""
    # The latest reported metrics win over outputs of the same name, as when trials are ranked.
    metrics = {name: value for name, value in (trial.metrics or {}).items() if name != "step"}
    detail = outputs_text({**(trial.outputs or {}), **metrics})
    if not detail and trial.status != OpStatus.SUCCEEDED:
        detail = _one_line(": ".join(part for part in (trial.reason, trial.message) if part))
    return detail


def trial_rows(trials: Iterable, now) -> list[list[str]]:
    """Rows of TRIAL_HEADER."""
    return [[str(trial.trial), trial.status, str(trial.attempt), _duration(trial.started_at, trial.finished_at, now),
             params_text(trial.trial_params), trial_detail(trial)] for trial in trials]


def group_dict(group, trials: Sequence) -> dict:
    """A group in `-o json`: the op run, its summary, and its trials."""
    return {**_op_run_dict(group), "summary": group.summary, "trials": [
        {**_op_run_dict(trial), "trial": trial.trial, "trial_params": trial.trial_params} for trial in trials]}


def matrix_ops(run) -> dict[str, object]:
    """{matrix op: its matrix}, from the run's plan: the groups, trials made or not."""
    from polyflow.spec.plan import Plan

    return {op.name: op.matrix for op in Plan.from_dict(run.plan).ops if op.matrix is not None}


def show_message(group, trials: Sequence) -> str:
    """A group's MESSAGE in `polyflow runs show`: its trials' progress, then what its summary
    tells once it ended (its own message, `9 of 9 trial(s) succeeded`, says less)."""
    if not trials:
        return _one_line(group.message)  # e.g. why its matrix could make no trials
    return "; ".join([progress(trials), *ended_texts(group)])
