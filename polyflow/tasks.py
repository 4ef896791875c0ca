"""Celery tasks: thin wrappers around the scheduler, and the beat entry that ticks it.

A host project runs the tick by merging `beat_schedule()` into its beat
schedule, in its Celery app module::

    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.beat_schedule = {**polyflow.tasks.beat_schedule(), **app.conf.beat_schedule}

or in its settings, giving the interval (Django's settings are not loaded while
settings.py runs, so `POLYFLOW["TICK_INTERVAL"]` cannot be read from there)::

    CELERY_BEAT_SCHEDULE = {**polyflow.tasks.beat_schedule(interval=5), ...}

This module is importable from a settings module: nothing here touches models
at import time.
"""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .conf import polyflow_settings
from .extras import require

# Only Celery's workers and what hands runs to them import this module.
_WHAT = "polyflow.tasks (Celery workers and the hand-off to them)"
shared_task = require("celery", "celery", _WHAT).shared_task
worker_ready = require("celery", "celery.signals", _WHAT).worker_ready

TICK_TASK = "polyflow.tick"
TICK_ENTRY = "polyflow-tick"
ADVANCE_TASK = "polyflow.advance_runs"
# A run another worker is advancing is asked for again this much later, a few times;
# after that the periodic tick takes it.
ADVANCE_RETRY_DELAY = 0.2
ADVANCE_RETRIES = 25


# Ticks are idempotent by design (claimed runs, conditional updates, submits
# idempotent per attempt): a tick redelivered after a worker died is harmless,
# so it is acknowledged only once it ran.
@shared_task(name=TICK_TASK, acks_late=True)
def tick() -> list[str]:
    # Imported here: the scheduler imports models, and this module must stay
    # importable from a settings module (see beat_schedule).
    from .scheduler.tick import tick as run_tick

    return run_tick().lines()


@shared_task(name=ADVANCE_TASK, acks_late=True)
def advance_runs(run_ids: list[int], tries: int = 0) -> list[str]:
    """Advance these runs now: one of their attempts changed (the hand-off on completion)."""
    from .scheduler.tick import advance

    report = advance(run_ids)
    if report.busy and tries < ADVANCE_RETRIES:
        advance_runs.apply_async((report.busy, tries + 1), countdown=ADVANCE_RETRY_DELAY)
    return report.lines()


@worker_ready.connect
def _follow_the_backend(sender=None, **kwargs) -> None:
    """In each worker's main process: a thread that follows the backend and enqueues
    `advance_runs` for the runs of every attempt that changed (POLYFLOW["HANDOFF"])."""
    if not polyflow_settings.HANDOFF:
        return
    from .handoff import Watcher

    Watcher(lambda runs: advance_runs.delay(runs)).start()


def _connect_telemetry() -> None:
    """Log lines with their context and format, and the worker's metrics port (polyflow.telemetry.worker)."""
    from celery import signals

    from .telemetry import worker

    signals.after_setup_logger.connect(worker.adopt_logger, weak=False, dispatch_uid="polyflow.telemetry.logger")
    signals.after_setup_task_logger.connect(worker.adopt_logger, weak=False,
                                            dispatch_uid="polyflow.telemetry.task_logger")
    signals.worker_init.connect(worker.prepare_metrics, weak=False, dispatch_uid="polyflow.telemetry.prepare")
    signals.worker_ready.connect(worker.serve_metrics, weak=False, dispatch_uid="polyflow.telemetry.serve")


_connect_telemetry()


def beat_schedule(interval: int | None = None) -> dict[str, dict]:
    """The beat entries Polyflow needs: one tick every `interval` seconds.

    `interval` defaults to `POLYFLOW["TICK_INTERVAL"]`, read from Django's
    settings, so call it without one only where they can be loaded (a Celery
    app module, not settings.py itself). A tick that waited in the queue longer
    than one interval expires unrun: the next one does the same work.
    """
    if interval is None:
        if _settings_module_loading():
            raise ImproperlyConfigured(
                "polyflow.tasks.beat_schedule() was called while the settings module is loading, when "
                "POLYFLOW['TICK_INTERVAL'] cannot be read yet: pass it, beat_schedule(interval=5), or call "
                "beat_schedule() in your Celery app module"
            )
        interval = polyflow_settings.TICK_INTERVAL
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ImproperlyConfigured(f"beat_schedule(interval={interval!r}): expected an integer of at least 1")
    return {TICK_ENTRY: {"task": TICK_TASK, "schedule": float(interval), "options": {"expires": interval}}}


def _settings_module_loading() -> bool:
    """True while DJANGO_SETTINGS_MODULE is half-imported: reading a setting then
    would configure Django with the part of the module run so far."""
    if settings.configured:
        return False
    module = sys.modules.get(os.environ.get("DJANGO_SETTINGS_MODULE", ""))
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))
