"""What Airflow's states mean in Polyflow's vocabulary (pure data and functions).

Airflow's scheduler decides an exported DAG's runs; the backend reads its task instances
and DAG runs and says, with these tables, which op status each one is (docs/interop.md,
"The Airflow backend").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from ..statuses import OpStatus
from .base import FAILED, LOST, PENDING, RUNNING, SUCCEEDED, EngineRun, Observation

# A task instance's state -> (the attempt's state, the op status Airflow's scheduler decided).
# None is a task instance Airflow has not scheduled yet (its upstream is not done).
TASK_STATES: Mapping[str | None, tuple[str, str]] = {
    None: (PENDING, OpStatus.CREATED),
    "none": (PENDING, OpStatus.CREATED),
    "scheduled": (PENDING, OpStatus.SCHEDULED),
    "queued": (PENDING, OpStatus.SCHEDULED),
    "running": (RUNNING, OpStatus.RUNNING),
    "restarting": (RUNNING, OpStatus.RUNNING),
    "deferred": (RUNNING, OpStatus.RUNNING),
    "up_for_reschedule": (RUNNING, OpStatus.RUNNING),
    "success": (SUCCEEDED, OpStatus.SUCCEEDED),
    "failed": (FAILED, OpStatus.FAILED),
    "up_for_retry": (FAILED, OpStatus.RETRYING),
    "upstream_failed": (FAILED, OpStatus.UPSTREAM_FAILED),
    "skipped": (SUCCEEDED, OpStatus.SKIPPED),
    "removed": (SUCCEEDED, OpStatus.SKIPPED),
}
# Why, for the op statuses that have a reason of their own.
REASONS = {"failed": "failed", "up_for_retry": "failed", "upstream_failed": "upstream_failed",
           "skipped": "trigger_rule", "removed": "removed"}

DAG_RUN_STATES: Mapping[str, str] = {"queued": PENDING, "running": RUNNING, "success": SUCCEEDED,
                                     "failed": FAILED}


def task_observation(instance: Mapping, outputs: Mapping | None = None) -> Observation:
    """One task instance (as the REST API lists it) as an observation of its op run."""
    raw = instance.get("state")
    state, status = TASK_STATES.get(raw, (PENDING, OpStatus.CREATED))
    reason = REASONS.get(raw, "")
    message = ""
    if raw not in TASK_STATES:
        message = f"Airflow reports a state Polyflow does not know: {raw!r}"
    elif raw == "upstream_failed":
        message = "Airflow marked it upstream_failed"
    elif raw in ("skipped", "removed"):
        message = f"Airflow marked it {raw}"
    try_number = instance.get("try_number")
    return Observation(
        state=state, status=status, reason=reason, message=message, outputs=outputs,
        attempt=try_number if isinstance(try_number, int) and try_number > 0 else None,
        started_at=_time(instance.get("start_date")), finished_at=_time(instance.get("end_date")),
    )


def engine_run(dag_run: Mapping | None, instances: Iterable[Mapping],
               outputs: Mapping[tuple[str, int], Mapping] | None = None) -> EngineRun:
    """A DAG run and its task instances as Polyflow reads them: unmapped ones by task id, mapped
    ones (a mapping op's trials) by task id and map index. `outputs`: by (task id, map index)."""
    if not dag_run:
        return EngineRun(LOST, message="Airflow has no such DAG run")
    outputs = outputs or {}
    tasks: dict[str, Observation] = {}
    trials: dict[str, dict[int, Observation]] = {}
    for instance in instances:
        task, index = instance["task_id"], map_index_of(instance)
        seen = task_observation(instance, outputs.get((task, index)))
        if index < 0:
            tasks[task] = seen
        else:
            trials.setdefault(task, {})[index] = seen
    raw = dag_run.get("state")
    state = DAG_RUN_STATES.get(raw, RUNNING)
    message = f"Airflow's DAG run {dag_run.get('dag_run_id', '')} is {raw}" if raw else ""
    return EngineRun(state, tasks, message, trials)


def map_index_of(instance: Mapping) -> int:
    index = instance.get("map_index")
    return index if isinstance(index, int) else -1


def _time(value) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
