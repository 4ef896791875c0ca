"""What the group's decisions see of one trial, and reading a metric off it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TrialView:
    index: int
    status: str  # an OpStatus value
    metrics: Mapping[str, float]  # latest values of the trial's reported metrics and numeric outputs
    step: int | None = None  # latest reported step

    def value(self, metric: str) -> float | None:
        """The trial's latest value of `metric` when it is a finite number (true is no number)."""
        value = self.metrics.get(metric)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return value
