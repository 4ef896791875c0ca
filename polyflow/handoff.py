"""Hand-off on completion (DESIGN section 8): an attempt that changes state wakes the
scheduler for its run at once, instead of at the next periodic tick.

A `Watcher` follows the backend (`Backend.watch`: the local runner's signal, the
Kubernetes pod watch) and hands the runs of what changed to a callback: under
Celery that enqueues the "advance these runs" task; `polyflow run` and
`polyflow server` advance them in their own loop. The periodic tick stays the
safety net: a change the watcher misses (it was down, a message was lost) is
picked up by the next tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

logger = logging.getLogger("polyflow.handoff")

# Seconds one watch call may wait: also how soon the watcher notices it is asked to stop.
WATCH_TIMEOUT = 1.0


def wake(run_ids: Iterable[int]) -> None:
    """A run was created or retried by a request: have a Celery worker advance it now rather
    than at the next beat (POLYFLOW["WAKE_WORKERS"], for deployments with a broker).

    Called once the request's transaction has committed; a broker that cannot be
    reached costs the hand-off only, never the request: the beat picks the run up.
    """
    from .conf import polyflow_settings

    run_ids = list(run_ids)
    if not run_ids or not polyflow_settings.WAKE_WORKERS:
        return
    from .tasks import advance_runs

    try:
        advance_runs.apply_async((run_ids,), retry=False)
    except Exception as error:  # noqa: BLE001 - see above
        logger.warning("could not hand runs %s to a worker: %s (the next tick starts them)", run_ids, error)


def wake_on_commit(run_ids: Iterable[int]) -> None:
    from django.db import transaction

    run_ids = list(run_ids)
    transaction.on_commit(lambda: wake(run_ids))


def runs_of(handles: Iterable[str]) -> list[int]:
    """The active runs the attempts with these handles belong to (one query)."""
    from .models import OperationRun
    from .statuses import RUN_ACTIVE

    handles = list(dict.fromkeys(handles))
    if not handles:
        return []
    return sorted(set(OperationRun.objects.filter(handle__in=handles, run__status__in=RUN_ACTIVE)
                      .values_list("run_id", flat=True)))


class Watcher(threading.Thread):
    """A daemon thread: backend.watch() in a loop, `on_runs(run_ids)` for what changed."""

    def __init__(self, on_runs: Callable[[list[int]], None], backend=None, timeout: float = WATCH_TIMEOUT):
        super().__init__(name="polyflow-watcher", daemon=True)
        self.on_runs = on_runs
        self.backend = backend
        self.timeout = timeout
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        from django.db import close_old_connections

        from .backends import get_backend

        backend = self.backend or get_backend()
        logger.info("following %s for finished attempts", backend.name)
        while not self.stopping.is_set():
            try:
                handles = backend.watch(self.timeout)
                if not handles:
                    continue
                close_old_connections()
                runs = runs_of(handles)
                if runs:
                    self.on_runs(runs)
            except Exception:  # noqa: BLE001 - the watcher must outlive any one failure
                logger.exception("watching %s failed; going on", backend.name)
                self.stopping.wait(self.timeout)
