"""Storing the metrics ops report (docs/metrics.md): series points and each op run's latest values.

The scheduler's collector (scheduler/metrics.py) reads the backends and the parser; this
writes what it read, for a whole batch of op runs in a fixed number of statements: the
points in one bulk INSERT (in slices of POINTS_PER_INSERT), the op runs' `metrics` and
`metrics_cursor` in one UPDATE, both in one transaction, so a crash never keeps points
without the cursor that says they were read (nor the other way round).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from ..models import MetricPoint, OperationRun
from ..scheduler.metric_lines import Record

POINTS_PER_INSERT = 5000


@dataclass(frozen=True)
class MetricsRead:
    """What one read of one op run's log gave.

    `latest`: the latest values read (and "step"), merged into `previous`, the op run's
    metrics before the read; `previous` None: the attempt is new, its metrics start anew.
    """

    op_run: int  # pk
    attempt: int
    cursor: str  # stored as it is (at most 64 characters)
    records: Sequence[Record] = ()
    latest: Mapping[str, float | int] = field(default_factory=dict)
    previous: Mapping[str, object] | None = None

    @property
    def metrics(self) -> dict:
        return {**(self.previous or {}), **self.latest}


def record_metrics(reads: Sequence[MetricsRead], now: dt.datetime | None = None) -> int:
    """Store the points of every read and update each op run's metrics and cursor; return
    the number of points stored."""
    if not reads:
        return 0
    now = now or timezone.now()
    points = [MetricPoint(op_run_id=read.op_run, attempt=read.attempt, step=record.step, name=name, value=value,
                          reported_at=now)
              for read in reads for record in read.records for name, value in record.values.items()]
    rows = [OperationRun(pk=read.op_run, metrics=read.metrics, metrics_cursor=read.cursor)
            for read in sorted(reads, key=lambda read: read.op_run)]
    with transaction.atomic():
        if points:
            MetricPoint.objects.bulk_create(points, batch_size=POINTS_PER_INSERT)
        OperationRun.objects.bulk_update(rows, ["metrics", "metrics_cursor"])
    return len(points)
