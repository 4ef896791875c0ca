"""Which schedule slots are due at a given time (pure; DESIGN section 4).

`plan_slots` answers, for one pipeline at `now`: which slots get a run now,
how many due slots are dropped (catchup false), the next slot to wait for, and
whether the schedule is done. It never looks at the database: the tick passes
what it knows (the last slot considered, runs created so far, active runs).
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

from croniter import croniter

from ..spec.plan import ScheduleSpec


@dataclass(frozen=True)
class ScheduleState:
    anchor: dt.datetime  # start_at, or when the pipeline was applied
    last_slot: dt.datetime | None = None  # the newest slot that got a run or was dropped
    runs_created: int = 0
    active_runs: int = 0


@dataclass(frozen=True)
class SlotPlan:
    create: tuple[dt.datetime, ...] = ()  # slots that get a run now, oldest first
    dropped: int = 0  # due slots passed over (catchup false)
    last_considered: dt.datetime | None = None  # the newest slot created or dropped now
    next_slot: dt.datetime | None = None  # the next slot to wait for
    done: bool = False  # no slot will ever be due again
    waiting: bool = False  # slots are due but max_active_runs leaves no room


def plan_slots(schedule: ScheduleSpec, state: ScheduleState, now: dt.datetime) -> SlotPlan:
    if schedule.kind == "repeatable":
        return _repeatable(schedule, state, now)
    remaining = 1 - state.runs_created if schedule.kind == "exact_time" else (
        None if schedule.max_runs is None else schedule.max_runs - state.runs_created)
    if remaining is not None and remaining <= 0:
        return SlotPlan(done=True)
    max_active = 1 if schedule.kind == "exact_time" else schedule.max_active_runs
    room = max_active - state.active_runs
    wanted = max(1, min(room, remaining if remaining is not None else room)) if schedule.catchup else 1
    first, latest, count, following = _scan(_slots_after(schedule, state), schedule.end_at, now, wanted + 1)
    if count == 0:
        return SlotPlan(next_slot=following, done=following is None)
    if room <= 0:
        return SlotPlan(next_slot=first[0], waiting=True)
    if schedule.catchup:
        create = first[:wanted]
        after = first[wanted] if count > wanted else following
        dropped = 0
    else:
        create, dropped, after = [latest], count - 1, following
    runs_left = None if remaining is None else remaining - len(create)
    done = after is None or runs_left == 0
    return SlotPlan(create=tuple(create), dropped=dropped,
                    last_considered=latest if not schedule.catchup else create[-1],
                    next_slot=None if done else after, done=done)


def _scan(slots: Iterator[dt.datetime], end_at, now, keep: int):
    """Walk due slots once: the first `keep` of them, the newest, how many, and the slot after now."""
    first, latest, count = [], None, 0
    for slot in slots:
        if end_at is not None and slot >= end_at:
            return first, latest, count, None
        if slot > now:
            return first, latest, count, slot
        if len(first) < keep:
            first.append(slot)
        latest, count = slot, count + 1
    return first, latest, count, None


def _slots_after(schedule: ScheduleSpec, state: ScheduleState) -> Iterator[dt.datetime]:
    """Every slot of the schedule after `last_slot`, in order."""
    anchor = state.anchor
    if schedule.kind == "exact_time":
        return iter([anchor] if state.last_slot is None else [])
    if schedule.kind == "interval":
        step = dt.timedelta(seconds=schedule.frequency)
        start = 0 if state.last_slot is None else (state.last_slot - anchor) // step + 1
        return (anchor + k * step for k in itertools.count(start))
    return _cron_slots(schedule, state)


def _cron_slots(schedule: ScheduleSpec, state: ScheduleState) -> Iterator[dt.datetime]:
    zone = zoneinfo.ZoneInfo(schedule.timezone)
    start = state.last_slot if state.last_slot is not None else state.anchor - dt.timedelta(microseconds=1)
    # croniter walks the wall clock of an aware start: DST gaps and repeats are its rules.
    times = croniter(schedule.cron, start.astimezone(zone))
    while True:
        yield times.get_next(dt.datetime).astimezone(dt.UTC)


def _repeatable(schedule: ScheduleSpec, state: ScheduleState, now: dt.datetime) -> SlotPlan:
    """`limit` runs one after another: each is created when the previous one is done."""
    if state.runs_created >= schedule.limit or (schedule.end_at is not None and now >= schedule.end_at):
        return SlotPlan(done=True)
    if now < state.anchor:
        return SlotPlan(next_slot=state.anchor)
    if state.active_runs:
        return SlotPlan(waiting=True)
    # The slot is the creation time; it must stay unique per pipeline.
    slot = now if state.last_slot is None or now > state.last_slot else state.last_slot + dt.timedelta(microseconds=1)
    return SlotPlan(create=(slot,), last_considered=slot, done=state.runs_created + 1 >= schedule.limit)
