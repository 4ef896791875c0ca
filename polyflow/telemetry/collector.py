"""Gauges read from the database at scrape time: runs and op runs by pipeline and status,
op runs ready but held (by reason), and the scheduler processes' last ticks.

State, not events: whichever process serves `/metrics`, however many workers
tick, the figures are the database's, so they are right across processes by
construction. Three queries a scrape, whatever the number of runs: one aggregate
over runs, one over op runs (statuses and hold reasons together), one over
heartbeats. `figures()` turns their rows into families (pure); `DatabaseCollector`
runs the queries and hands the families to prometheus_client.

Several web processes each serve these gauges: aggregate them across scrape
targets with `max`, not `sum` (docs/observability.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..scheduler.holds import RULES
from ..statuses import OpStatus, RunStatus

# Why a ready op run waits (scheduler/holds.py, limits.py). A retry period is not
# written on the op run (it is `retrying` until its retry_at): its status says it.
CONCURRENCY = "concurrency"
RETRY_PERIOD = "retry_period"
CREATED_HOLDS = tuple(rule.reason for rule in RULES if rule.reason != RETRY_PERIOD) + (CONCURRENCY,)
HOLD_REASONS = (*CREATED_HOLDS, RETRY_PERIOD)
WORKER_WINDOW = dt.timedelta(minutes=15)  # processes listed: those that ticked this recently


@dataclass
class Family:
    name: str
    documentation: str
    labels: tuple[str, ...]
    samples: dict[tuple[str, ...], float] = field(default_factory=dict)


def figures(run_rows: Iterable[tuple], op_rows: Iterable[tuple], heartbeats: Iterable[tuple],
            now: dt.datetime, tick_interval: int) -> list[Family]:
    """The families from the queries' rows (pure).

    run_rows:   (owner, project, pipeline, status, count)
    op_rows:    (owner, project, pipeline, status, hold reason or "", count)
    heartbeats: (worker, host, ticked_at, tick_seconds), newest first; the newest overall
                comes first even when older than WORKER_WINDOW.
    Every status of a pipeline that has any row is given, 0 when none: series do not
    come and go as the last run of a status ends.
    """
    runs = Family("polyflow_runs", "Runs by project, pipeline and status, read from the database at scrape time.",
                  ("project", "pipeline", "status"))
    ops = Family("polyflow_op_runs", "Op runs (matrix trials included) by project, pipeline and status, read from the "
                 "database at scrape time.", ("project", "pipeline", "status"))
    queue = Family("polyflow_queue_depth", "Op runs ready but held, by project, pipeline and reason (paused, "
                   "depends_on_past, concurrency, retry_period).", ("project", "pipeline", "reason"))
    for owner, project, pipeline, status, n in run_rows:
        name = (f"{owner}/{project}", str(pipeline))
        for each in RunStatus.values():
            runs.samples.setdefault((*name, each), 0)
        runs.samples[(*name, str(status))] += n
    for owner, project, pipeline, status, held, n in op_rows:
        name = (f"{owner}/{project}", str(pipeline))
        for each in OpStatus.values():
            ops.samples.setdefault((*name, each), 0)
        for each in HOLD_REASONS:
            queue.samples.setdefault((*name, each), 0)
        ops.samples[(*name, str(status))] += n
        if held:
            queue.samples[(*name, held)] += n

    last = Family("polyflow_scheduler_last_tick_timestamp_seconds", "When each scheduler process last ended a "
                  "periodic tick (Unix time), for processes that ticked in the last 15 minutes.", ("worker", "host"))
    took = Family("polyflow_scheduler_last_tick_duration_seconds", "How long each scheduler process's last "
                  "recorded tick took.", ("worker", "host"))
    age = Family("polyflow_scheduler_last_tick_age_seconds", "Seconds since any scheduler process last ended a "
                 "tick (absent when none ever did); /readyz fails above 3 TICK_INTERVALs.", ())
    workers = Family("polyflow_scheduler_workers", "Scheduler processes that ticked within the last 3 "
                     "TICK_INTERVALs.", ())
    live = 0
    for index, (worker, host, ticked_at, tick_seconds) in enumerate(heartbeats):
        if index == 0:
            age.samples[()] = max((now - ticked_at).total_seconds(), 0.0)
        if now - ticked_at <= WORKER_WINDOW:
            last.samples[(worker, host)] = ticked_at.timestamp()
            took.samples[(worker, host)] = tick_seconds
        if (now - ticked_at).total_seconds() <= 3 * tick_interval:
            live += 1
    workers.samples[()] = live
    return [runs, ops, queue, last, took, age, workers]


def query_rows(now: dt.datetime) -> tuple[list, list, list]:
    """The three queries."""
    from django.contrib.auth import get_user_model
    from django.db.models import Case, CharField, Count, F, Q, Value, When

    from ..models import OperationRun, PipelineRun, SchedulerHeartbeat

    username = get_user_model().USERNAME_FIELD
    path = ("pipeline__project__owner__" + username, "pipeline__project__name", "pipeline__name")
    run_rows = list(PipelineRun.objects.order_by().values_list(*path, "status").annotate(n=Count("pk")))
    held = Case(When(status=OpStatus.CREATED, reason__in=CREATED_HOLDS, then=F("reason")),
                When(status=OpStatus.RETRYING, then=Value(RETRY_PERIOD)),
                default=Value(""), output_field=CharField())
    op_rows = list(OperationRun.objects.order_by().annotate(held=held)
                   .values_list(*(f"run__{part}" for part in path), "status", "held").annotate(n=Count("pk")))
    beats = list(SchedulerHeartbeat.objects.filter(
        Q(ticked_at__gte=now - WORKER_WINDOW)
        | Q(ticked_at=SchedulerHeartbeat.objects.order_by("-ticked_at").values("ticked_at")[:1]))
        .order_by("-ticked_at").values_list("worker", "host", "ticked_at", "tick_seconds"))
    return run_rows, op_rows, beats


class DatabaseCollector:
    """A prometheus_client collector: three queries per scrape."""

    def describe(self):
        # Registration asks for the names: given without touching the database.
        families = figures((), (), (), dt.datetime.now(dt.UTC), 1) + [Family("polyflow_database_up", "", ())]
        return self._families(families, with_samples=False)

    def collect(self):
        from django.db import DatabaseError
        from django.utils import timezone

        from ..conf import polyflow_settings

        now = timezone.now()
        up = Family("polyflow_database_up", "1 when the database answered this scrape's queries, else 0 "
                    "(and none of the database's gauges).", ())
        try:
            families = figures(*query_rows(now), now, polyflow_settings.TICK_INTERVAL)
        except DatabaseError:
            # The process's own figures are still worth a scrape: say the database is down.
            up.samples[()] = 0
            return self._families([up])
        up.samples[()] = 1
        return self._families([*families, up])

    @staticmethod
    def _families(families: list[Family], with_samples: bool = True):
        from prometheus_client.core import GaugeMetricFamily

        result = []
        for family in families:
            metric = GaugeMetricFamily(family.name, family.documentation, labels=family.labels)
            if with_samples:
                for labels, value in sorted(family.samples.items()):
                    metric.add_metric(list(labels), value)
            result.append(metric)
        return result
