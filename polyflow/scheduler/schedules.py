"""Which schedule slots are due at a given time (pure; DESIGN sections 4 and 8).

`plan_slots` answers, for one pipeline at `now`: which slots get a run now,
how many due slots are dropped (catchup false), the next slot to wait for, and
whether the schedule is done. It never looks at the database: the caller
passes what it knows (the newest slot already created or dropped, runs created
so far, active runs). The scheduler and the dashboard both ask it.

Its cost does not grow with the time since `start_at`: interval slots are
`start_at + k * frequency`, found by arithmetic; cron slots are found with
croniter from a point (the next after the newest slot, the previous before
now). Only the count of dropped cron slots walks, and at most
`CRON_COUNT_LIMIT` slots; beyond that it is an estimate (docs/scheduler.md).
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from croniter import croniter

from ..spec.plan import ScheduleSpec

# Slots of one pipeline's catchup that get a run in one tick, whatever
# max_active_runs allows: the rest come at the next ticks (a tick holds the
# pipeline's lock while it creates them).
MAX_RUNS_PER_TICK = 100
# Dropped cron slots are counted exactly up to this many, then estimated.
CRON_COUNT_LIMIT = 200
_TICK = dt.timedelta(microseconds=1)  # the smallest step of a datetime: "just before" and "just after"


@dataclass(frozen=True)
class ScheduleState:
    anchor: dt.datetime  # start_at, or when the schedule was applied
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


@dataclass(frozen=True)
class Due:
    """The slots after the newest one considered that are due at `now`."""

    oldest: tuple[dt.datetime, ...] = ()  # the first of them, oldest first, as many as were asked for
    latest: dt.datetime | None = None
    count: int = 0  # exact, except for cron slots beyond the number walked (an estimate)
    following: dt.datetime | None = None  # the first slot after now; None when none is left before end_at


def plan_slots(schedule: ScheduleSpec, state: ScheduleState, now: dt.datetime) -> SlotPlan:
    if schedule.kind == "repeatable":
        return _repeatable(schedule, state, now)
    remaining = None if schedule.max_runs is None else schedule.max_runs - state.runs_created
    if remaining is not None and remaining <= 0:
        return SlotPlan(done=True)
    room = schedule.max_active_runs - state.active_runs
    wanted = 1
    if schedule.catchup:
        wanted = max(1, min(room, MAX_RUNS_PER_TICK, remaining if remaining is not None else room))
    # Catchup drops nothing: the oldest due slots are all it needs to know exactly.
    due = due_slots(schedule, state.anchor, state.last_slot, now, oldest=wanted + 1,
                    exact_up_to=wanted + 1 if schedule.catchup else CRON_COUNT_LIMIT)
    if due.count == 0:
        return SlotPlan(next_slot=due.following, done=due.following is None)
    if room <= 0:
        # The slot that gets a run when room frees up, if that happened now.
        return SlotPlan(next_slot=due.oldest[0] if schedule.catchup else due.latest, waiting=True)
    if schedule.catchup:
        create = due.oldest[:wanted]
        after = due.oldest[wanted] if len(due.oldest) > wanted else due.following
        dropped = 0
    else:
        create, dropped, after = (due.latest,), due.count - 1, due.following
    done = after is None or (remaining is not None and remaining == len(create))
    return SlotPlan(create=create, dropped=dropped, last_considered=create[-1],
                    next_slot=None if done else after, done=done)


def slots_due(pipelines: Iterable[tuple[object, ScheduleSpec, ScheduleState]],
              now: dt.datetime) -> list[tuple[object, dt.datetime]]:
    """(pipeline, slot) for every slot that a tick at `now` would give a run, oldest first per
    pipeline, from each pipeline's (pipeline, schedule, state): `plan_slots`, nothing written.
    What `polyflow tick --now` shows before it creates runs ahead of the clock
    (scheduler.creation.slots_due_at loads the states)."""
    return [(pipeline, slot) for pipeline, schedule, state in pipelines
            for slot in plan_slots(schedule, state, now).create]


def slots_between(schedule: ScheduleSpec, anchor: dt.datetime, start: dt.datetime, end: dt.datetime, *,
                  most: int) -> Due:
    """The schedule's slots in [start, end) (an interval, cron or exact_time schedule), the first
    `most` + 1 of them listed and counted exactly that far (a backfill refuses more than `most`)."""
    return due_slots(schedule, anchor, start - _TICK, end - _TICK, oldest=most + 1, exact_up_to=most + 1)


def due_slots(schedule: ScheduleSpec, anchor: dt.datetime, last_slot: dt.datetime | None,
              now: dt.datetime, *, oldest: int = 1, exact_up_to: int = CRON_COUNT_LIMIT) -> Due:
    """The slots of an interval, cron or exact_time schedule later than `last_slot` and due at `now`.

    `oldest` of them are listed; cron slots are counted exactly up to
    `exact_up_to` and estimated beyond. A `last_slot` before `anchor` (left by
    an earlier schedule of the pipeline) means nothing to this schedule: its
    slots start at `anchor`.
    """
    after = None if last_slot is None or last_slot < anchor else last_slot
    if schedule.kind == "exact_time":
        return _exact_time_due(anchor, after, now)
    if schedule.kind == "interval":
        return _interval_due(anchor, dt.timedelta(seconds=schedule.frequency), schedule.end_at, after, now, oldest)
    if schedule.kind == "cron":
        return _cron_due(CronTimes(schedule.cron, schedule.timezone), anchor, schedule.end_at, after, now,
                         oldest, max(oldest, exact_up_to, 2))
    raise ValueError(f"schedule kind {schedule.kind!r} has no slots to compute (interval, cron or exact_time)")


def _exact_time_due(anchor: dt.datetime, after: dt.datetime | None, now: dt.datetime) -> Due:
    if after is not None:  # the one slot is at the anchor, so it was considered already
        return Due()
    if anchor > now:
        return Due(following=anchor)
    return Due(oldest=(anchor,), latest=anchor, count=1)


def _interval_due(anchor: dt.datetime, step: dt.timedelta, end_at: dt.datetime | None,
                  after: dt.datetime | None, now: dt.datetime, oldest: int) -> Due:
    """Slot k is anchor + k * step: every answer is an index computed by division."""
    first = 0 if after is None else (after - anchor) // step + 1
    upcoming = max(first, (now - anchor) // step + 1)  # floor division: negative before the anchor
    newest = upcoming - 1
    end = None if end_at is None else -((anchor - end_at) // step)  # slots with an index below it are before end_at
    if end is not None:
        newest = min(newest, end - 1)
    count = max(0, newest - first + 1)
    return Due(
        oldest=tuple(anchor + k * step for k in range(first, first + min(oldest, count))),
        latest=anchor + newest * step if count else None,
        count=count,
        following=anchor + upcoming * step if end is None or upcoming < end else None,
    )


def _cron_due(times: CronTimes, anchor: dt.datetime, end_at: dt.datetime | None,
              after: dt.datetime | None, now: dt.datetime, oldest: int, walk: int) -> Due:
    # Slots at or before the horizon are due (and before end_at).
    horizon = now if end_at is None or end_at > now else end_at - _TICK
    walked = []
    upcoming = None  # the first slot walked that is not due
    for slot in times.after(anchor - _TICK if after is None else after):
        if slot > horizon:
            upcoming = slot
            break
        walked.append(slot)
        if len(walked) >= walk:
            break
    count = len(walked)
    if upcoming is None and count:  # the walk stopped early: find the newest due slot directly
        latest = max(walked[-1], times.latest(horizon))
        if latest > walked[-1]:
            count += estimate_after(walked, latest)
        following = times.next_after(now)
    else:
        latest, following = (walked[-1] if walked else None), upcoming
    if following is not None and (following <= now or (end_at is not None and following >= end_at)):
        following = None
    return Due(oldest=tuple(walked[:oldest]), latest=latest, count=count, following=following)


_PERIODS = (dt.timedelta(weeks=1), dt.timedelta(days=1))


def estimate_after(sample: list[dt.datetime], later: dt.datetime) -> int:
    """About how many slots lie after the last of `sample` (consecutive slots) up to `later` (a slot).

    The rate is that of the sample, measured over a whole number of weeks (or
    days) of it when it spans one: a weekly or daily pattern cut part-way
    through would skew it. At least one: `later` is a slot.
    """
    span = sample[-1] - sample[0]
    window = next((span // period * period for period in _PERIODS if span >= period), span)
    if not window:
        return 1
    inside = sum(1 for slot in sample if slot < sample[0] + window)
    return max(1, round((later - sample[-1]) / window * inside))


class CronTimes:
    """The slots of a cron expression in a time zone, as UTC times.

    croniter walks the wall clock of an aware time: daylight-saving gaps and
    repeats follow its rules (a skipped time fires once after the gap when the
    hour field names hours; a repeated one fires in both offsets). Walking
    forward from any instant gives the same slots as walking from start_at,
    which is what makes resuming from a stored slot safe.
    """

    def __init__(self, expression: str, timezone: str):
        self.expression = expression
        self.zone = zoneinfo.ZoneInfo(timezone)

    def after(self, moment: dt.datetime):
        """The slots later than `moment`, oldest first (an endless iterator)."""
        times = croniter(self.expression, moment.astimezone(self.zone))
        while True:
            yield times.get_next(dt.datetime).astimezone(dt.UTC)

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        return next(self.after(moment))

    def before(self, moment: dt.datetime) -> dt.datetime:
        """croniter's previous time strictly before `moment`."""
        return croniter(self.expression, moment.astimezone(self.zone)).get_prev(dt.datetime).astimezone(dt.UTC)

    def latest(self, moment: dt.datetime) -> dt.datetime:
        """The newest slot at or before `moment`.

        croniter's backward steps do not follow the same rules as its forward
        ones around daylight-saving changes, so the answer is taken from a
        forward walk that starts two backward steps earlier: a few steps
        whatever the distance from start_at.
        """
        probe = self.before(self.before(moment + _TICK))
        found = probe
        for slot in itertools.islice(self.after(probe - _TICK), 8):
            if slot > moment:
                break
            found = slot
        return found


def _repeatable(schedule: ScheduleSpec, state: ScheduleState, now: dt.datetime) -> SlotPlan:
    """`limit` runs one after another: each is created when the previous one is done."""
    if state.runs_created >= schedule.limit or (schedule.end_at is not None and now >= schedule.end_at):
        return SlotPlan(done=True)
    if now < state.anchor:
        return SlotPlan(next_slot=state.anchor)
    if state.active_runs:
        return SlotPlan(waiting=True)
    # The slot is the creation time; it must stay unique per pipeline.
    slot = now if state.last_slot is None or now > state.last_slot else state.last_slot + _TICK
    return SlotPlan(create=(slot,), last_considered=slot, done=state.runs_created + 1 >= schedule.limit)
