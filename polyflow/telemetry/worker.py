"""Celery workers: their log lines in POLYFLOW["LOG_FORMAT"] with context, and their own
metrics port (POLYFLOW["WORKER_METRICS_PORT"]).

Connected to Celery's signals by polyflow.tasks, so a host project's Celery app gets
them too once it finds Polyflow's tasks.

The metrics of a worker are those of its pool's children, where ticks run. With a
port set, the main process makes them readable across processes before the pool
forks: it points PROMETHEUS_MULTIPROC_DIR at a fresh directory when none is set
(children inherit it), then serves the sum of every process's files at
http://<host>:<port>/metrics once the worker is ready. The database's gauges are
not served there (the web processes' /metrics has them): each figure has one source.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile

logger = logging.getLogger("polyflow.telemetry")


def adopt_logger(logger=None, **kwargs) -> None:
    """Celery's `after_setup_logger` and `after_setup_task_logger`: its handlers get the context
    filter and, with LOG_FORMAT "json", JSON lines (with the task's id and name, as Celery's
    own task format has them)."""
    from ..conf import polyflow_settings
    from .logs import JsonFormatter, adopt

    class TaskJson(JsonFormatter):
        def format(self, record):
            from celery._state import get_current_task

            task = get_current_task()
            if task is not None and task.request is not None and not hasattr(record, "task_id"):
                record.task_id, record.task_name = task.request.id, task.name
            return super().format(record)

    for handler in getattr(logger, "handlers", ()):
        adopt(handler, polyflow_settings.LOG_FORMAT)
        if polyflow_settings.LOG_FORMAT == "json" and type(handler.formatter) is JsonFormatter:
            handler.setFormatter(TaskJson())


def prepare_metrics(**kwargs) -> None:
    """`worker_init`, in the main process before the pool starts."""
    from ..conf import polyflow_settings
    from . import instruments

    if not polyflow_settings.WORKER_METRICS_PORT:
        return
    if not instruments.multiprocess_dir():
        if "prometheus_client" in sys.modules:
            logger.warning("prometheus_client was imported before the worker started: WORKER_METRICS_PORT serves "
                           "this process's metrics only; set PROMETHEUS_MULTIPROC_DIR for its pool's")
        else:
            directory = tempfile.mkdtemp(prefix="polyflow-metrics-")
            os.environ[instruments.MULTIPROC_ENV] = directory
            main = os.getpid()
            # Removed when the worker ends; by its main process only (the pool's children inherit the hook).
            atexit.register(lambda: os.getpid() == main and shutil.rmtree(directory, ignore_errors=True))
    instruments.enable()


def serve_metrics(**kwargs) -> None:
    """`worker_ready`, in the main process: the pool's metrics on WORKER_METRICS_PORT."""
    from ..conf import polyflow_settings

    port = polyflow_settings.WORKER_METRICS_PORT
    if not port:
        return
    from prometheus_client import start_http_server

    from .exposition import registry

    try:
        start_http_server(port, registry=registry(database=False))
    except OSError as error:
        logger.error("cannot serve the worker's metrics on port %s: %s", port, error)
        return
    logger.info("serving this worker's metrics on port %s at /metrics", port)
