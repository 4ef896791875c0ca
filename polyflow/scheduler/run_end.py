"""What a backend holds for a run is released once the run is final (`Backend.end_run`, DESIGN
section 10): a run's workspace (a PersistentVolumeClaim, a directory on the local
backend), or a DAG run on Airflow that a stop ended in Polyflow.
Called after the round that wrote the run's end is committed; a failure is the
backend's to log and retry (the Kubernetes reconciliation deletes claims left behind)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from ..statuses import RUN_FINAL

logger = logging.getLogger("polyflow.scheduler")


def ended_runs(decisions: Iterable) -> list:
    """The runs these decisions made final that hold something for their backends: a workspace,
    or a run on a backend that decides it (which must not go on there)."""
    from ..backends import RUN_ENGINES

    def holds(run) -> bool:
        return run.plan.workspace is not None or any(op.backend in RUN_ENGINES for op in run.ops.values())

    return [decision.run for decision in decisions
            if (holds(decision.run) or decision.handles)
            and any(change.status in RUN_FINAL for change in decision.run_changes)]


def release_stopped(run) -> None:
    """A run (the model) the stop service made final itself, with nothing in flight: its workspace,
    and its run on a backend that decides runs itself (Airflow's DAG run must not go on)."""
    if run.status not in RUN_FINAL:
        return
    from ..backends import RUN_ENGINES, get_backend

    names = set(run.op_runs.exclude(backend="").values_list("backend", flat=True)) or {""}
    if not (run.plan or {}).get("workspace") and not names & RUN_ENGINES:
        return
    for name in sorted(names):
        try:
            get_backend(name or None).end_run(str(run.uuid))
        except Exception:  # noqa: BLE001 - the run has ended anyway; the backend retries later
            logger.exception("run %s: releasing what backend %r holds for it failed", run.uuid, name)


def release(runs: Iterable, backend_of: Callable) -> None:
    """`end_run` on every backend that ran one of the runs' ops (the default one when none did)."""
    for run in runs:
        names = {op.backend or "" for op in run.every_op() if op.backend} or {""}
        for name in sorted(names):
            try:
                backend_of(name).end_run(run.uuid)
            except Exception:  # noqa: BLE001 - the run has ended anyway; the backend retries later
                logger.exception("run %s: releasing what backend %r holds for it failed", run.uuid, name)
