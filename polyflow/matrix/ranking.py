"""Comparing trials by a metric: the best trial, and whether a value is at or beyond another."""

from __future__ import annotations

from collections.abc import Sequence

from ..spec.plan import MetricSpec
from ..statuses import OpStatus
from .trials import TrialView

MAXIMIZE, MINIMIZE = "maximize", "minimize"


def better(value: float, other: float, optimization: str) -> bool:
    """`value` is strictly better than `other`."""
    return value > other if optimization == MAXIMIZE else value < other


def reached(value: float, threshold: float, optimization: str) -> bool:
    """`value` is at `threshold` or beyond it, in the direction of the optimization."""
    return not better(threshold, value, optimization)


def best_of(scored: Sequence[tuple[float, TrialView]], optimization: str) -> tuple[float, TrialView] | None:
    """The best (value, trial) pair; ties go to the lowest trial index."""
    best = None
    for value, trial in scored:
        if best is None or better(value, best[0], optimization) or (value == best[0] and trial.index < best[1].index):
            best = (value, trial)
    return best


def best_trial(trials: Sequence[TrialView], metric: MetricSpec) -> int | None:
    """The index of the best succeeded trial with a finite numeric value of the metric;
    ties go to the lowest index; None when no trial qualifies."""
    scored = [(value, trial) for trial in trials
              if trial.status == OpStatus.SUCCEEDED and (value := trial.value(metric.name)) is not None]
    best = best_of(scored, metric.optimization)
    return None if best is None else best[1].index
