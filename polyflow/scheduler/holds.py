"""Why a ready op run may not be submitted yet (pure; DESIGN sections 4 and 8).

Each rule is a small object, as Airflow's ti_deps are: it looks at one op run
of one run and answers with a `Hold` (a reason and a message shown in the API)
or None. The rules per run are applied by the decision (decide.py); the
concurrency rule counts across runs, so the batch applies it once every run is
decided (`admit`, in limits.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..statuses import OpStatus
from .past import held_by_past
from .snapshot import OpState, RunSnapshot


@dataclass(frozen=True)
class Hold:
    reason: str
    message: str


class RetryPeriod:
    """A failed attempt waits out its retry delay before the next one starts."""

    reason = "retry_period"

    def check(self, run: RunSnapshot, op: OpState, now: dt.datetime) -> Hold | None:
        if op.status == OpStatus.RETRYING and op.retry_at is not None and op.retry_at > now:
            return Hold(self.reason, f"the next attempt starts at {op.retry_at.isoformat()}")
        return None


class Paused:
    """A paused pipeline submits nothing new; what runs finishes."""

    reason = "paused"

    def check(self, run: RunSnapshot, op: OpState, now: dt.datetime) -> Hold | None:
        return Hold(self.reason, "the pipeline is paused") if run.paused else None


class DependsOnPast:
    """Op X of the run for slot k waits for op X of the run for slot k-1 (DESIGN section 4)."""

    reason = "depends_on_past"

    def check(self, run: RunSnapshot, op: OpState, now: dt.datetime) -> Hold | None:
        if run.schedule_at is None or run.previous is None:
            return None
        spec = run.plan.op(op.name)
        held = held_by_past([op.name], {op.name: spec.depends_on_past}, run.previous)
        return Hold(self.reason, held[op.name]) if held else None


# In order: the first rule that holds gives the reason shown.
RULES = (RetryPeriod(), Paused(), DependsOnPast())


def first_hold(run: RunSnapshot, op: OpState, now: dt.datetime, rules=RULES) -> Hold | None:
    for rule in rules:
        hold = rule.check(run, op, now)
        if hold is not None:
            return hold
    return None
