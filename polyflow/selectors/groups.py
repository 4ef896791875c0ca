"""What the dashboard reads of matrix groups and metrics (DESIGN section 9), in a fixed number
of queries whatever the number of groups, trials and points.

A group is the op run of a matrix op with `trial` NULL; its trials share its name and
are numbered from 0. Metric series are MetricPoint rows of an op run's current attempt.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import reduce

from django.db.models import Count, F, Q

from ..models import MetricPoint, OperationRun
from ..statuses import OP_FINAL, OP_SUBMITTED, OpStatus
from .runs import thinned

TRIALS_SHOWN = 1000  # the trials a group's table lists (trials 0..999); the page says when there are more
POINTS_PER_SERIES = 200  # a series with more points is thinned to about this many (its last point kept)
POINTS_PER_CHART = 10_000  # fewer per series when a chart has many series: 10 each for 1,000 trials
MIN_POINTS = 10


@dataclass(frozen=True)
class Progress:
    """How far a group's trials are: {status: count}."""

    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return sum(n for status, n in self.counts.items() if status in OP_FINAL)

    @property
    def running(self) -> int:
        return sum(n for status, n in self.counts.items() if status in OP_SUBMITTED | {OpStatus.STOPPING})

    @property
    def in_words(self) -> str:
        text = f"{self.done} of {self.total} trial{'s' if self.total != 1 else ''} done"
        return text + (f", {self.running} running" if self.running else "")


def group_progress(run_id: int) -> dict[str, Progress]:
    """{group name: its progress} for every group of the run that has trials, in one query."""
    rows = (OperationRun.objects.filter(run_id=run_id, trial__isnull=False).order_by()
            .values_list("name", "status").annotate(n=Count("id")))
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for name, status, n in rows:
        counts[name][status] = n
    return {name: Progress(by_status) for name, by_status in counts.items()}


@dataclass
class Trial:
    op_run_id: int
    index: int
    label: str  # tune[3]
    status: str
    reason: str
    message: str
    attempt: int
    params: Mapping[str, object]
    metric: float | None  # the matrix metric's latest value: a reported metric, else a numeric output
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    best: bool = False

    def seconds(self, now: dt.datetime) -> float | None:
        if self.started_at is None:
            return None
        return ((self.finished_at or now) - self.started_at).total_seconds()


def metric_value(op_run: OperationRun, name: str | None) -> float | None:
    """The scheduler's rule (DESIGN section 9): a reported metric, else a declared output of that name."""
    if name is None:
        return None
    for source in (op_run.metrics, op_run.outputs):
        value = source.get(name) if isinstance(source, Mapping) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def group_trials(run_id: int, metrics: Mapping[str, str | None]) -> dict[str, list[Trial]]:
    """{group name: its first TRIALS_SHOWN trials, in trial order} for the groups named in
    `metrics` (name -> the matrix metric's name, or None), in one query."""
    if not metrics:
        return {}
    limit = TRIALS_SHOWN
    rows = (OperationRun.objects.filter(run_id=run_id, name__in=list(metrics), trial__isnull=False, trial__lt=limit)
            .only("id", "name", "trial", "status", "reason", "message", "attempt", "trial_params", "metrics",
                  "outputs", "started_at", "finished_at")
            .order_by("name", "trial"))
    trials: dict[str, list[Trial]] = {name: [] for name in metrics}
    for row in rows:
        trials[row.name].append(Trial(row.pk, row.trial, row.label, row.status, row.reason, row.message, row.attempt,
                                      row.trial_params or {}, metric_value(row, metrics[row.name]), row.started_at,
                                      row.finished_at))
    return trials


def mark_best(trials: list[Trial], summary: Mapping, optimization: str | None) -> Trial | None:
    """Mark the best trial: the group's own pick once it ended (its summary), else the best so
    far by the scheduler's rule (the first succeeded trial with the best metric)."""
    best = None
    chosen = (summary.get("best") or {}).get("trial") if isinstance(summary, Mapping) else None
    if chosen is not None:
        best = next((trial for trial in trials if trial.index == chosen), None)
    elif optimization is not None:
        sign = 1 if optimization == "maximize" else -1
        for trial in trials:
            if trial.status == OpStatus.SUCCEEDED and trial.metric is not None and (
                    best is None or sign * trial.metric > sign * best.metric):
                best = trial
    if best is not None:
        best.best = True
    return best


Series = dict[tuple[int, str], list[tuple[int, float]]]  # (op run id, metric) -> [(step, value)], by step


def per_series(series_count: int) -> int:
    """Points kept per series when a chart draws `series_count` of them."""
    return max(MIN_POINTS, min(POINTS_PER_SERIES, POINTS_PER_CHART // max(series_count, 1)))


def metric_series(run_id: int, *, groups: Mapping[str, str] | None = None, ops: Iterable[str] = (),
                  points: int = POINTS_PER_SERIES) -> Series:
    """Series of the run's op runs' current attempts, in one query: the metric `groups[name]` of
    each shown trial of those groups, and every metric of the `ops` (their op runs, not trials).

    Each series is thinned to `points` by the database (selectors.runs.thinned).
    """
    wanted = [Q(op_run__name=name, op_run__trial__isnull=False, op_run__trial__lt=TRIALS_SHOWN, name=metric)
              for name, metric in (groups or {}).items()]
    wanted += [Q(op_run__name=name, op_run__trial__isnull=True) for name in ops]
    if not wanted:
        return {}
    partition = [F("op_run_id"), F("name")]
    current = MetricPoint.objects.filter(reduce(operator.or_, wanted), op_run__run_id=run_id,
                                         attempt=F("op_run__attempt"))
    rows = (thinned(current, partition, points).order_by("op_run_id", "name", "step", "id")
            .values_list("op_run_id", "name", "step", "value"))
    series: Series = defaultdict(list)
    for op_run_id, name, step, value in rows:
        series[(op_run_id, name)].append((step, value))
    return dict(series)
