"""This process's counters and histograms: ticks, batches, hand-offs, backend requests.

Events that happen in one process and are not in the database. They are recorded
only where someone can read them (docs/observability.md):

- with `PROMETHEUS_MULTIPROC_DIR` set, by every process: prometheus_client's
  multiprocess mode keeps each process's values in files of that directory, which
  `/metrics` of any process on the machine (or a worker's own port) adds up;
- else, in a process that serves them: `enable()` is called by `polyflow server`
  and by a Celery worker with `WORKER_METRICS_PORT`; `/metrics` serves them.

Everywhere else (`polyflow run`, `polyflow tick`, tests that do not ask) every
function here returns at once and prometheus_client is never imported: the
import costs tens of milliseconds a command should not pay for nothing.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

TIME_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60)
SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)

_enabled: bool | None = None  # None: decided on first use, from the environment
_instruments = None


def multiprocess_dir() -> str:
    return os.environ.get(MULTIPROC_ENV, "")


def enabled() -> bool:
    global _enabled
    if _enabled is None:
        _enabled = bool(multiprocess_dir())
    return _enabled


def enable() -> None:
    """Record from now on: this process serves what it records (`polyflow server`, a worker's port)."""
    global _enabled
    _enabled = True


class _Instruments:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Histogram

        # Our own registry, not prometheus_client's global one: a host project may have
        # its own metrics there, and `/metrics` serves exactly Polyflow's.
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.tick_duration = Histogram(
            "polyflow_tick_duration_seconds", "How long a scheduler tick took: kind=tick for the periodic one "
            "(create due runs, advance every active run), kind=advance for a hand-off (the runs of what changed).",
            ["kind"], buckets=TIME_BUCKETS, registry=registry)
        self.batch_size = Histogram(
            "polyflow_tick_batch_size", "Active runs claimed in one batch (at most TICK_BATCH_SIZE).",
            buckets=SIZE_BUCKETS, registry=registry)
        self.handoff = Histogram(
            "polyflow_handoff_latency_seconds", "From an attempt's end (the backend's time) to its run advanced: "
            "its end written and what follows it handed to the backend.",
            ["backend"], buckets=TIME_BUCKETS, registry=registry)
        self.submitted = Counter("polyflow_op_runs_submitted", "Attempts handed to a backend.", registry=registry)
        self.op_finished = Counter("polyflow_op_runs_finished", "Op runs that reached a final status, by it.",
                                   ["status"], registry=registry)
        self.retrying = Counter("polyflow_op_runs_retrying", "Failed attempts that will be tried again.",
                                registry=registry)
        self.runs_finished = Counter("polyflow_runs_finished", "Runs that reached a final status, by it.",
                                     ["status"], registry=registry)
        self.runs_created = Counter("polyflow_runs_created", "Runs created by schedules.", registry=registry)
        self.errors = Counter("polyflow_scheduler_errors", "Errors a tick reported: a run that could not be "
                              "decided or written, a submit to send again, a failed reconciliation.",
                              registry=registry)
        self.request_duration = Histogram(
            "polyflow_backend_request_duration_seconds", "Requests to a backend: each Kubernetes API call (each "
            "try), each local submit.", ["backend", "operation"], buckets=TIME_BUCKETS, registry=registry)
        self.request_errors = Counter(
            "polyflow_backend_request_errors", "Backend requests that failed (each failed try of a Kubernetes call, "
            "a local submit that raised).", ["backend", "operation"], registry=registry)


def instruments() -> _Instruments:
    global _instruments
    if _instruments is None:
        _instruments = _Instruments()
    return _instruments


def registry():
    """The registry of this process's instruments (made, empty, when none was used yet)."""
    return instruments().registry


# -- recording -----------------------------------------------------------------------

def tick_done(kind: str, seconds: float, report) -> None:
    """A tick (`kind` "tick") or a hand-off (`kind` "advance") ended with this TickReport."""
    if not enabled():
        return
    m = instruments()
    m.tick_duration.labels(kind).observe(seconds)
    if report.submitted:
        m.submitted.inc(report.submitted)
    for status, n in report.finished.items():
        if n:
            m.op_finished.labels(str(status)).inc(n)
    if report.retrying:
        m.retrying.inc(report.retrying)
    for status, n in report.runs_finished.items():
        if n:
            m.runs_finished.labels(str(status)).inc(n)
    if report.runs_created:
        m.runs_created.inc(report.runs_created)
    if report.errors:
        m.errors.inc(len(report.errors))


def batch_claimed(size: int) -> None:
    if enabled():
        instruments().batch_size.observe(size)


def handoffs(latencies: Mapping[str, list[float]]) -> None:
    """{backend: [seconds from an attempt's end to its run advanced]}."""
    if not enabled():
        return
    histogram = instruments().handoff
    for backend, values in latencies.items():
        child = histogram.labels(backend)
        for value in values:
            child.observe(max(value, 0.0))  # the backend's clock may be a little ahead of ours


@contextlib.contextmanager
def _timed(backend: str, operation: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        request_done(backend, operation, time.perf_counter() - start, failed=True)
        raise
    request_done(backend, operation, time.perf_counter() - start)


_UNTIMED = contextlib.nullcontext()


def request(backend: str, operation: str):
    """A context manager timing one backend request; an exception out of it counts as an error."""
    return _timed(backend, operation) if enabled() else _UNTIMED


def request_done(backend: str, operation: str, seconds: float, failed: bool = False) -> None:
    if not enabled():
        return
    m = instruments()
    m.request_duration.labels(backend, operation).observe(seconds)
    if failed:
        m.request_errors.labels(backend, operation).inc()
