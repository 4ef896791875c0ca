"""Due schedule slots (DESIGN section 4): examples, then brute-force references."""

import dataclasses
import datetime as dt
import itertools
import time
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyflow.scheduler.schedules import (
    CRON_COUNT_LIMIT,
    MAX_RUNS_PER_TICK,
    CronTimes,
    ScheduleState,
    SlotPlan,
    estimate_after,
    plan_slots,
)
from polyflow.spec.plan import ScheduleSpec

UTC = dt.UTC
A = dt.datetime(2024, 1, 1, tzinfo=UTC)  # the anchor (start_at) of most examples
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def interval(frequency=3600, **fields) -> ScheduleSpec:
    return ScheduleSpec("interval", start_at=fields.pop("start_at", A), frequency=frequency, **fields)


def cron(expression, timezone="UTC", **fields) -> ScheduleSpec:
    return ScheduleSpec("cron", cron=expression, timezone=timezone, **fields)


def plan(schedule, now, last=None, created=0, active=0, anchor=None) -> SlotPlan:
    state = ScheduleState(anchor=anchor or schedule.start_at or A, last_slot=last, runs_created=created,
                          active_runs=active)
    return plan_slots(schedule, state, now)


# -- interval --------------------------------------------------------------------------


def test_interval_slots_are_start_at_plus_k_frequency():
    schedule = interval(600, catchup=True, max_active_runs=10)
    slots = tuple(A + k * dt.timedelta(minutes=10) for k in range(4))
    assert plan(schedule, A + dt.timedelta(minutes=35)) == SlotPlan(
        create=slots, last_considered=slots[-1], next_slot=A + dt.timedelta(minutes=40))
    # Resuming after the last slot considered.
    assert plan(schedule, A + dt.timedelta(minutes=35), last=slots[1]).create == slots[2:]


def test_interval_slots_keep_the_anchor_seconds():
    start = A + dt.timedelta(seconds=7)
    assert plan(interval(60, start_at=start), start + 30 * MINUTE).create == (start + 30 * MINUTE,)


def test_nothing_before_start_at():
    assert plan(interval(), A - MINUTE) == SlotPlan(next_slot=A)
    assert plan(interval(), A).create == (A,)  # due when the clock reaches the slot


# -- cron --------------------------------------------------------------------------------


def test_cron_times_at_or_after_start_at():
    assert plan(cron("0 * * * *", start_at=A), A).create == (A,)
    late = A + dt.timedelta(seconds=1)
    assert plan(cron("0 * * * *", start_at=late), A + 30 * MINUTE, anchor=late) == SlotPlan(next_slot=A + HOUR)


def test_cron_in_a_time_zone():
    schedule = cron("0 9 * * *", "Asia/Kolkata", start_at=A, catchup=True, max_active_runs=5)
    assert plan(schedule, at("2024-01-02T12:00")).create == (at("2024-01-01T03:30"), at("2024-01-02T03:30"))


def berlin(expression, start):
    return cron(expression, "Europe/Berlin", start_at=start, catchup=True, max_active_runs=10)


def test_cron_across_the_spring_gap():
    # 2024-03-31 02:00 CET jumps to 03:00 CEST in Berlin. croniter (7.0) fires the
    # times the clock skips once, at the first instant after the gap (03:00 CEST =
    # 01:00 UTC), when the hour field names hours; with an hour field of every hour
    # ('*') they are skipped: the next hour has the same minutes anyway.
    start = at("2024-03-29T12:00")
    assert plan(berlin("30 2 * * *", start), at("2024-04-01T12:00")).create == (
        at("2024-03-30T01:30"),  # 02:30 CET
        at("2024-03-31T01:00"),  # 02:30 does not exist: 03:00 CEST
        at("2024-04-01T00:30"),  # 02:30 CEST
    )
    assert plan(berlin("0,30 1-4 * * *", start), at("2024-03-31T02:00"), last=at("2024-03-30T23:30")).create == (
        at("2024-03-31T00:00"),  # 01:00 CET
        at("2024-03-31T00:30"),  # 01:30 CET
        at("2024-03-31T01:00"),  # 02:00 and 02:30 do not exist: one slot at 03:00 CEST
        at("2024-03-31T01:30"),  # 03:30 CEST
        at("2024-03-31T02:00"),  # 04:00 CEST
    )
    assert plan(berlin("30 * * * *", start), at("2024-03-31T02:00"), last=at("2024-03-30T23:30")).create == (
        at("2024-03-31T00:30"),  # 01:30 CET
        at("2024-03-31T01:30"),  # 02:30 is skipped: 03:30 CEST
    )


def test_cron_across_the_autumn_repeat():
    # 2024-10-27 03:00 CEST goes back to 02:00 CET: croniter fires a repeated wall
    # time twice, once in each offset.
    start = at("2024-10-25T12:00")
    repeat = (at("2024-10-27T00:30"), at("2024-10-27T01:30"))  # 02:30 CEST, then 02:30 CET
    assert plan(berlin("30 2 * * *", start), at("2024-10-28T12:00")).create == (
        at("2024-10-26T00:30"), *repeat, at("2024-10-28T01:30"))
    # One slot a tick, resuming from the stored UTC slot, loses neither.
    one_at_a_time = cron("30 2 * * *", "Europe/Berlin", start_at=start, catchup=True)
    created, last = [], None
    for _ in range(5):
        decision = plan(one_at_a_time, at("2024-10-28T12:00"), last=last)
        created += decision.create
        last = decision.last_considered or last
    assert created == [at("2024-10-26T00:30"), *repeat, at("2024-10-28T01:30")]


# -- exact_time and repeatable -----------------------------------------------------------


def test_exact_time_has_one_slot():
    schedule = ScheduleSpec("exact_time", start_at=A)
    assert plan(schedule, A - MINUTE) == SlotPlan(next_slot=A)
    assert plan(schedule, A + HOUR) == SlotPlan(create=(A,), last_considered=A, done=True)
    assert plan(schedule, A + HOUR, last=A, created=1) == SlotPlan(done=True)
    assert plan(schedule, A + HOUR, active=1) == SlotPlan(next_slot=A, waiting=True)  # a manual run is active


def test_repeatable_runs_one_after_another_up_to_limit():
    schedule = ScheduleSpec("repeatable", start_at=A, limit=3)
    assert plan(schedule, A - MINUTE) == SlotPlan(next_slot=A)
    now, last, created, slots = A, None, 0, []
    for minute in range(12):
        now = A + minute * MINUTE
        active = 1 if slots and minute % 4 else 0  # each run takes a few ticks to finish
        decision = plan(schedule, now, last=last, created=created, active=active)
        if active:
            assert decision == SlotPlan(waiting=True)
        slots += decision.create
        created += len(decision.create)
        last = decision.last_considered or last
        if decision.done:
            break
    assert slots == [A, A + 4 * MINUTE, A + 8 * MINUTE]
    assert decision == SlotPlan(create=(A + 8 * MINUTE,), last_considered=A + 8 * MINUTE, done=True)
    assert plan(schedule, now + HOUR, last=last, created=3) == SlotPlan(done=True)


def test_repeatable_slots_stay_unique_and_end_at_ends_it():
    schedule = ScheduleSpec("repeatable", start_at=A, limit=5, end_at=A + HOUR)
    assert plan(schedule, A, last=A, created=1).create == (A + dt.timedelta(microseconds=1),)
    assert plan(schedule, A + HOUR, last=A, created=1) == SlotPlan(done=True)


# -- end_at and max_runs -----------------------------------------------------------------


def test_end_at_excludes_slots_at_or_after_it():
    schedule = interval(3600, end_at=A + 3 * HOUR, catchup=True, max_active_runs=5)
    assert plan(schedule, A + 10 * HOUR) == SlotPlan(
        create=(A, A + HOUR, A + 2 * HOUR), last_considered=A + 2 * HOUR, done=True)
    # The next slot would be at end_at: done as soon as the last one is created.
    assert plan(interval(3600, end_at=A + 3 * HOUR), A + 2.5 * HOUR, last=A + HOUR, created=2) == SlotPlan(
        create=(A + 2 * HOUR,), last_considered=A + 2 * HOUR, done=True)
    assert plan(schedule, A + 10 * HOUR, last=A + 2 * HOUR, created=3) == SlotPlan(done=True)


def test_max_runs_counts_created_runs():
    schedule = interval(60, max_runs=3, catchup=True, max_active_runs=5)
    assert plan(schedule, A + 10 * MINUTE) == SlotPlan(
        create=(A, A + MINUTE, A + 2 * MINUTE), last_considered=A + 2 * MINUTE, done=True)
    # Dropped slots are not runs: with catchup false two runs take two ticks.
    schedule = interval(60, max_runs=2)
    first = plan(schedule, A + 4 * MINUTE)
    assert first == SlotPlan(create=(A + 4 * MINUTE,), dropped=4, last_considered=A + 4 * MINUTE,
                             next_slot=A + 5 * MINUTE)
    assert plan(schedule, A + 5 * MINUTE, last=A + 4 * MINUTE, created=1) == SlotPlan(
        create=(A + 5 * MINUTE,), last_considered=A + 5 * MINUTE, done=True)
    assert plan(schedule, A + 9 * MINUTE, last=A + 5 * MINUTE, created=2) == SlotPlan(done=True)


# -- catchup and max_active_runs ---------------------------------------------------------


def test_catchup_false_after_a_gap_of_ten_slots_creates_the_latest():
    assert plan(interval(), A + 9.5 * HOUR) == SlotPlan(
        create=(A + 9 * HOUR,), dropped=9, last_considered=A + 9 * HOUR, next_slot=A + 10 * HOUR)
    assert plan(interval(), A + 10 * HOUR, last=A, created=1).create == (A + 10 * HOUR,)


def test_catchup_true_creates_ten_runs_in_order_one_at_a_time():
    schedule = interval(catchup=True)  # max_active_runs 1
    now = A + 9.5 * HOUR
    assert plan(schedule, now, active=1) == SlotPlan(next_slot=A, waiting=True)
    created, last = [], None
    for _ in range(10):  # each run finishes before the next tick
        decision = plan(schedule, now, last=last, created=len(created), active=0)
        assert len(decision.create) == 1 and decision.dropped == 0
        created += decision.create
        last = decision.last_considered
    assert created == [A + k * HOUR for k in range(10)]
    assert decision.next_slot == A + 10 * HOUR
    assert plan(schedule, now, last=last, created=10) == SlotPlan(next_slot=A + 10 * HOUR)


def test_catchup_true_fills_the_room_left_oldest_first():
    schedule = interval(catchup=True, max_active_runs=3)
    assert plan(schedule, A + 9.5 * HOUR, active=1) == SlotPlan(
        create=(A, A + HOUR), last_considered=A + HOUR, next_slot=A + 2 * HOUR)


def test_a_due_slot_waits_while_max_active_runs_are_active():
    schedule = interval(max_active_runs=2)
    assert plan(schedule, A + 1.5 * HOUR, last=A, created=1, active=2) == SlotPlan(next_slot=A + HOUR, waiting=True)
    # Three more slots came due meanwhile; room frees up: the latest only.
    assert plan(schedule, A + 4.5 * HOUR, last=A, created=1, active=1) == SlotPlan(
        create=(A + 4 * HOUR,), dropped=3, last_considered=A + 4 * HOUR, next_slot=A + 5 * HOUR)
    # With catchup the waiting slots are kept, oldest first.
    schedule = interval(max_active_runs=2, catchup=True)
    assert plan(schedule, A + 4.5 * HOUR, last=A, created=1, active=1).create == (A + HOUR,)


# -- property: interval and cron against brute force ------------------------------------

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata")
# Around daylight-saving changes: Berlin 2024-03-31 and 2024-10-27, New York 2024-03-10 and 2024-11-03.
BASES = tuple(at(text) for text in ("2024-03-31T01:00", "2024-10-27T01:00", "2024-03-10T07:00",
                                    "2024-11-03T06:00", "2024-06-15T00:00"))


def cron_field(text: str, low: int, high: int) -> set[int]:
    values = set()
    for part in text.split(","):
        part, _, step = part.partition("/")
        first, last = (low, high) if part == "*" else map(int, (part.split("-") * 2)[:2])
        values.update(range(first, last + 1, int(step or 1)))
    return values


def cron_matcher(expression: str):
    minute, hour, dom, month, dow = expression.split()
    fields = (cron_field(minute, 0, 59), cron_field(hour, 0, 23), cron_field(dom, 1, 31),
              cron_field(month, 1, 12), {day % 7 for day in cron_field(dow, 0, 7)})

    def matches(wall: dt.datetime) -> bool:
        minutes, hours, days, months, weekdays = fields
        if wall.minute not in minutes or wall.hour not in hours or wall.month not in months:
            return False
        by_day, by_weekday = wall.day in days, wall.isoweekday() % 7 in weekdays
        if dom != "*" and dow != "*":
            return by_day or by_weekday  # cron's rule: either day field
        return by_day and by_weekday

    return matches


def brute_force_slots(schedule: ScheduleSpec, anchor: dt.datetime):
    """Every slot, in order: interval by frequency; cron minute by minute on the UTC clock.

    A UTC minute is a cron slot when its wall time matches (a repeated wall time
    so matches twice), or, when the hour field does not name every hour, when a
    wall time the clock skipped to reach it matches: croniter's rule for gaps.
    """
    if schedule.kind == "interval":
        k = 0
        while True:
            yield anchor + k * dt.timedelta(seconds=schedule.frequency)
            k += 1
    zone, matches = zoneinfo.ZoneInfo(schedule.timezone), cron_matcher(schedule.cron)
    every_hour = cron_field(schedule.cron.split()[1], 0, 23) == set(range(24))
    minute = anchor.replace(second=0, microsecond=0)
    if minute < anchor:
        minute += MINUTE
    previous = (minute - MINUTE).astimezone(zone).replace(tzinfo=None)
    while True:
        wall = minute.astimezone(zone).replace(tzinfo=None)
        covered = [wall]
        while not every_hour and covered[0] - previous > MINUTE:  # the clock jumped: wall times it skipped
            covered.insert(0, covered[0] - MINUTE)
        if any(map(matches, covered)):
            yield minute
        previous, minute = wall, minute + MINUTE


class Slots:
    """The slots of a schedule before end_at, found lazily and kept."""

    def __init__(self, schedule: ScheduleSpec, anchor: dt.datetime):
        self.found, self.end_at = [], schedule.end_at
        self.source = brute_force_slots(schedule, anchor)

    def __getitem__(self, index: int) -> dt.datetime | None:
        while len(self.found) <= index:
            slot = next(self.source)
            if self.end_at is not None and slot >= self.end_at:
                return None
            self.found.append(slot)
        return self.found[index]

    def after(self, moment):
        """The slots later than `moment` (all when None), in order."""
        index = 0
        while (slot := self[index]) is not None:
            if moment is None or slot > moment:
                yield slot
            index += 1


def reference_tick(schedule: ScheduleSpec, slots: Slots, last, created: int, active: int, now) -> SlotPlan:
    """DESIGN section 4 in plain steps."""
    max_runs = schedule.max_runs
    if max_runs is not None and created >= max_runs:
        return SlotPlan(done=True)
    due, upcoming = [], None
    for slot in slots.after(last):
        if slot > now:
            upcoming = slot
            break
        due.append(slot)
    if not due:
        return SlotPlan(next_slot=upcoming, done=upcoming is None)
    room = schedule.max_active_runs - active
    if room <= 0:  # the slot that would get a run if room freed up now
        return SlotPlan(next_slot=due[0] if schedule.catchup else due[-1], waiting=True)
    if schedule.catchup:
        create = due[:room if max_runs is None else min(room, max_runs - created)]
        dropped = 0
    else:
        create, dropped = due[-1:], len(due) - 1
    after = next(slots.after(create[-1]), None)
    done = after is None or (max_runs is not None and created + len(create) >= max_runs)
    return SlotPlan(create=tuple(create), dropped=dropped, last_considered=create[-1],
                    next_slot=None if done else after, done=done)


@st.composite
def scenarios(draw, kind):
    # sampled_from draws uniformly; integers() favours small values, which would crowd the ticks together.
    minutes = st.sampled_from(range(-24 * 60, 12 * 60)) | st.sampled_from(range(-24 * 60, 12 * 60, 30))
    anchor = draw(st.sampled_from(BASES)) + dt.timedelta(minutes=draw(minutes),
                                                           seconds=draw(st.sampled_from([0, 0, 0, 17])))
    common = {
        "start_at": anchor,
        "max_runs": draw(st.none() | st.integers(1, 8)),
        "catchup": draw(st.booleans()),
        "max_active_runs": draw(st.integers(1, 3)),
    }
    if kind == "interval":
        frequency = draw(st.sampled_from([60, 300, 900, 3600, 5400, 86400]) | st.integers(60, 4 * 3600))
        schedule = ScheduleSpec("interval", frequency=frequency, **common)
    else:
        expression = " ".join([
            draw(st.sampled_from(["0", "30", "0,30", "*/20", "5,45"])),
            draw(st.sampled_from(["*", "*", "2", "1-3", "*/3", "9-17", "0,2,23"])),
            draw(st.sampled_from(["*", "*", "*", "*/2", "1-10,25-31"])),
            "*",
            draw(st.sampled_from(["*", "*", "*", "1-5", "0,6"])),
        ])
        schedule = ScheduleSpec("cron", cron=expression, timezone=draw(st.sampled_from(ZONES)), **common)
    # end_at: none, any minute, or exactly on a slot (which it then excludes).
    end = draw(st.none() | st.tuples(st.sampled_from(["minutes", "slot"]), st.sampled_from(range(1, 2 * 24 * 60))))
    if end is not None:
        way, amount = end
        end_at = anchor + amount * MINUTE if way == "minutes" else Slots(schedule, anchor)[amount % 12 + 1]
        schedule = dataclasses.replace(schedule, end_at=end_at)
    last_index = draw(st.none() | st.integers(0, 4))
    few = st.sampled_from([0, 0, 0, 1, 2, 3])
    state = (last_index, draw(few), draw(few))  # last slot, runs created, active
    # The first tick: exactly on one of the first slots, or some minutes and seconds around start_at.
    first = draw(st.sampled_from(range(5)) | st.tuples(st.sampled_from(range(-60, 36 * 60)), st.integers(0, 59)))
    # Each next tick: exactly on the next slot, or some minutes later; and the runs that finished meanwhile.
    step = st.just("next slot") | st.sampled_from(range(0, 6 * 60))
    ticks = draw(st.lists(st.tuples(step, st.sampled_from([0, 1, 1, 2, 3])), min_size=1, max_size=5))
    return schedule, state, first, ticks


def simulate(decide, schedule, slots, state, first, ticks):
    last_index, created, active = state
    last = None if last_index is None else slots[last_index]
    if isinstance(first, int):
        now = slots[first] or schedule.start_at
    else:
        now = schedule.start_at + dt.timedelta(minutes=first[0], seconds=first[1])
    history = []
    for step, finished in ticks:
        if step == "next slot":
            now = next(slots.after(now), now + HOUR)
        else:
            now += step * MINUTE
        decision = decide(schedule, slots, last, created, active, now)
        history.append(decision)
        last = decision.last_considered or last
        created += len(decision.create)
        active = max(0, active + len(decision.create) - finished)
    return history


def actual_tick(schedule, slots, last, created, active, now):
    return plan_slots(schedule, ScheduleState(anchor=schedule.start_at, last_slot=last, runs_created=created,
                                              active_runs=active), now)


def check(scenario):
    schedule, state, first, ticks = scenario
    slots = Slots(schedule, schedule.start_at)
    expected = simulate(reference_tick, schedule, slots, state, first, ticks)
    assert simulate(actual_tick, schedule, slots, state, first, ticks) == expected
    created = [slot for decision in expected for slot in decision.create]
    assert created == sorted(set(created))  # never the same slot twice, oldest first
    assert all(schedule.end_at is None or slot < schedule.end_at for slot in created)


@settings(max_examples=200, deadline=None)
@given(scenarios("interval"))
def test_interval_slots_agree_with_brute_force(scenario):
    check(scenario)


@settings(max_examples=150, deadline=None)
@given(scenarios("cron"))
def test_cron_slots_agree_with_brute_force(scenario):
    check(scenario)


@pytest.mark.parametrize("expression", ["*/30 1-3 * * *", "30 * * * *", "15 2 * * *"])
@pytest.mark.parametrize("begin", [at("2024-03-30T20:00"), at("2024-10-26T20:00"),  # Berlin
                                   at("2024-03-09T20:00"), at("2024-11-02T20:00")])  # New York
@pytest.mark.parametrize("zone", ZONES[1:3])
def test_the_brute_force_cron_reference_follows_croniter_across_daylight_saving(zone, begin, expression):
    # The property above only means something if the reference is right around DST.
    schedule = cron(expression, zone, start_at=begin, catchup=True, max_active_runs=100)
    expected = [slot for slot, _ in zip(brute_force_slots(schedule, begin), range(12), strict=False)]
    assert list(plan(schedule, expected[-1]).create) == expected


# -- constant time: an old start_at, a long gap, a schedule edited -----------------------

Y2000 = at("2000-01-01T00:00")
NOW = at("2026-06-15T12:34:56.789")
SECOND = dt.timedelta(seconds=1)


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


# Walking slots one by one from 2000 (0.8 billion seconds) or 2020 (3.4 million minutes) takes
# minutes; the arithmetic takes well under a millisecond. A bound between the two, far above the
# second, fails a walk and not a loaded CI machine.
WALK_BOUND = 1.0


def test_interval_of_one_second_from_2000_is_arithmetic():
    every_second = interval(1, start_at=Y2000)
    decision, took = timed(plan, every_second, NOW)
    due = (NOW - Y2000) // SECOND + 1  # slots 0 .. now, whole seconds since 2000
    assert decision == SlotPlan(create=(at("2026-06-15T12:34:56"),), dropped=due - 1,
                                last_considered=at("2026-06-15T12:34:56"), next_slot=at("2026-06-15T12:34:57"))
    assert took < WALK_BOUND
    # catchup: the oldest first, MAX_RUNS_PER_TICK at most whatever max_active_runs allows.
    catchup = interval(1, start_at=Y2000, catchup=True, max_active_runs=10**6)
    decision, took = timed(plan, catchup, NOW)
    assert decision.create == tuple(Y2000 + k * SECOND for k in range(MAX_RUNS_PER_TICK))
    assert decision.next_slot == Y2000 + MAX_RUNS_PER_TICK * SECOND and took < WALK_BOUND
    resumed = plan(catchup, NOW, last=Y2000 + 10**8 * SECOND, created=10**8)
    assert resumed.create[0] == Y2000 + (10**8 + 1) * SECOND


def test_interval_end_at_and_max_runs_after_a_long_gap():
    schedule = interval(60, start_at=Y2000, end_at=at("2010-01-01T00:00:30"))
    # The last slot before end_at is 2010-01-01 00:00; every earlier one is dropped.
    minutes = (at("2010-01-01T00:00") - Y2000) // MINUTE
    assert plan(schedule, NOW) == SlotPlan(create=(at("2010-01-01T00:00"),), dropped=minutes,
                                           last_considered=at("2010-01-01T00:00"), done=True)
    assert plan(dataclasses.replace(schedule, max_runs=5), NOW, created=4).done
    assert plan(dataclasses.replace(schedule, max_runs=5), NOW, created=5) == SlotPlan(done=True)


def test_cron_every_minute_from_2020_is_found_from_now():
    every_minute = cron("* * * * *", start_at=at("2020-01-01T00:00"))
    decision, took = timed(plan, every_minute, NOW)
    latest = at("2026-06-15T12:34")
    exact = (latest - at("2020-01-01T00:00")) // MINUTE + 1
    assert decision.create == (latest,) and decision.next_slot == latest + MINUTE
    # Beyond CRON_COUNT_LIMIT slots the count is estimated from their spacing: exact for a fixed one.
    assert decision.dropped == exact - 1
    assert took < WALK_BOUND
    catchup = dataclasses.replace(every_minute, catchup=True, max_active_runs=3)
    assert plan(catchup, NOW, active=1).create == (at("2020-01-01T00:00"), at("2020-01-01T00:01"))


def exact_cron_count(schedule, after, until):
    times = CronTimes(schedule.cron, schedule.timezone)
    return sum(1 for _ in itertools.takewhile(lambda slot: slot <= until, times.after(after)))


@pytest.mark.parametrize(("expression", "start"), [
    ("0 9 * * 1-5", "2019-03-01T00:00"), ("*/20 8-17 * * *", "2024-03-01T00:00"),
    ("0 0 1,15 * *", "2011-03-01T00:00"), ("30 2 * * *", "2019-03-01T00:00")])
def test_dropped_cron_slots_beyond_the_limit_are_estimated_closely(expression, start):
    schedule = cron(expression, "Europe/Berlin", start_at=at(start))
    decision = plan(schedule, NOW)
    exact = exact_cron_count(schedule, at(start) - MINUTE, NOW)
    assert decision.create == (CronTimes(expression, "Europe/Berlin").latest(NOW),)
    assert exact > CRON_COUNT_LIMIT and abs(decision.dropped + 1 - exact) <= exact * 0.01


def test_dropped_cron_slots_up_to_the_limit_are_counted_exactly():
    schedule = cron("0 * * * *", start_at=A)
    for due in (CRON_COUNT_LIMIT - 1, CRON_COUNT_LIMIT, CRON_COUNT_LIMIT + 1, CRON_COUNT_LIMIT + 2):
        now = A + (due - 1) * HOUR + MINUTE
        assert plan(schedule, now).dropped == due - 1, due


def test_the_estimate_measures_the_rate_over_whole_days():
    # Every hour from 09:00 to 16:00: 8 slots a day. 30 slots end part-way through day 4.
    sample = [A + day * dt.timedelta(days=1) + (9 + hour) * HOUR for day in range(4) for hour in range(8)][:30]
    assert estimate_after(sample, sample[-1] + dt.timedelta(days=10)) == 80
    assert estimate_after(sample[:1], A + HOUR) == 1  # no rate known: at least the later slot


def test_cron_latest_due_across_daylight_saving_with_a_long_gap():
    # 02:30 does not exist in Berlin on 2024-03-31: the slot is 03:00 CEST (01:00 UTC).
    schedule = cron("30 2 * * *", "Europe/Berlin", start_at=at("2020-01-01T00:00"))
    assert plan(schedule, at("2024-03-31T01:00")).create == (at("2024-03-31T01:00"),)
    assert plan(schedule, at("2024-03-31T00:59")).create == (at("2024-03-30T01:30"),)
    # 02:30 happens twice on 2024-10-27: the second (CET, 01:30 UTC) is the latest after it.
    assert plan(schedule, at("2024-10-27T01:45")).create == (at("2024-10-27T01:30"),)
    assert plan(schedule, at("2024-10-27T01:29")).create == (at("2024-10-27T00:30"),)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["*/30 1-3 * * *", "30 * * * *", "15 2 * * *", "0,30 1-4 * * *", "5,45 */3 * * 1-5"]),
       st.sampled_from(ZONES), st.sampled_from(BASES),
       st.integers(-36 * 60, 36 * 60), st.integers(0, 59))
def test_cron_latest_agrees_with_brute_force(expression, zone, base, minutes, seconds):
    moment = base + dt.timedelta(minutes=minutes, seconds=seconds)
    begin = base - dt.timedelta(days=3)
    schedule = cron(expression, zone, start_at=begin)
    expected = list(itertools.takewhile(lambda slot: slot <= moment, brute_force_slots(schedule, begin)))[-1]
    assert CronTimes(expression, zone).latest(moment) == expected


# -- an edited schedule goes on after the newest slot ------------------------------------


def test_a_last_slot_of_an_earlier_schedule_before_start_at_means_nothing():
    later = A + 10 * HOUR  # start_at moved later than the newest slot
    assert plan(interval(start_at=later), later + 0.5 * HOUR, last=A + 3 * HOUR, created=4).create == (later,)
    assert plan(cron("0 * * * *", start_at=later), later - MINUTE, last=A + 3 * HOUR) == SlotPlan(next_slot=later)
    assert plan(ScheduleSpec("exact_time", start_at=later), later, last=A, created=1).create == (later,)


def test_a_new_frequency_resumes_on_its_own_grid_after_the_newest_slot():
    # Slots every hour up to A + 3h existed; the frequency becomes 25 minutes from the same start_at.
    schedule = interval(25 * 60, catchup=True, max_active_runs=5)
    assert plan(schedule, A + 4 * HOUR, last=A + 3 * HOUR, created=4).create == (
        A + 200 * MINUTE, A + 225 * MINUTE)
    assert plan(interval(25 * 60), A + 3 * HOUR + MINUTE, last=A + 3 * HOUR) == SlotPlan(next_slot=A + 200 * MINUTE)
