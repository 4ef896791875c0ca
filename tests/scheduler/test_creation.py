"""Creating the runs of due slots (DESIGN sections 4 and 8): in constant time whatever
the start_at, one savepoint per pipeline, and edited schedules that keep their slots."""

import datetime as dt
import logging
import time

import pytest

from polyflow.models import Pipeline
from polyflow.scheduler.creation import create_due_runs

UTC = dt.UTC
T = dt.datetime(2026, 3, 1, tzinfo=UTC)
MINUTE = dt.timedelta(minutes=1)


def document(name: str, schedule: str) -> str:
    return (f"version: 1\nkind: pipeline\nname: {name}\nschedule: {schedule}\n"
            "ops:\n  - {name: a, template: {name: ok}}\n"
            "templates:\n  - {kind: job, name: ok, container: {image: busybox, command: ['true']}}\n")


def slots(pipeline) -> list[dt.datetime]:
    return list(pipeline.runs.order_by("schedule_at").values_list("schedule_at", flat=True))


def fresh(pipeline) -> Pipeline:
    return Pipeline.objects.get(pk=pipeline.pk)


def timed_creation(now) -> tuple[list, float]:
    started = time.perf_counter()
    runs = create_due_runs(now)
    return runs, time.perf_counter() - started


# -- an old start_at -----------------------------------------------------------------------

NOW = dt.datetime(2026, 6, 15, 12, 34, 56, 500000, tzinfo=UTC)


@pytest.mark.parametrize(("schedule", "first_slot", "dropped"), [
    ("{kind: interval, frequency: 1, start_at: '2000-01-01T00:00:00Z'}",
     dt.datetime(2026, 6, 15, 12, 34, 56, tzinfo=UTC),
     (NOW.replace(microsecond=0) - dt.datetime(2000, 1, 1, tzinfo=UTC)) // dt.timedelta(seconds=1)),
    ("{kind: interval, frequency: 1, start_at: '2000-01-01T00:00:00Z', catchup: true}",
     dt.datetime(2000, 1, 1, tzinfo=UTC), 0),
    ("{kind: cron, cron: '* * * * *', start_at: '2020-01-01T00:00:00Z'}",
     dt.datetime(2026, 6, 15, 12, 34, tzinfo=UTC),
     (dt.datetime(2026, 6, 15, 12, 34, tzinfo=UTC) - dt.datetime(2020, 1, 1, tzinfo=UTC)) // MINUTE),
    ("{kind: cron, cron: '* * * * *', start_at: '2020-01-01T00:00:00Z', catchup: true, max_active_runs: 3}",
     dt.datetime(2020, 1, 1, tzinfo=UTC), 0),
], ids=["interval-1s-from-2000", "interval-1s-from-2000-catchup", "cron-every-minute-from-2020",
        "cron-every-minute-from-2020-catchup"])
def test_a_start_at_years_ago_does_not_walk_its_slots(apply, schedule, first_slot, dropped):
    # Walking the slots one by one since 2000 or 2020 (0.8 billion seconds, 3.4 million minutes)
    # takes minutes; jumping to the due ones takes milliseconds (about 10 ms on an idle machine).
    # The bound is far above the second and far below the first, so a loaded CI machine does not
    # fail it and a walk still does.
    pipeline = apply(document("old", schedule))
    runs, took = timed_creation(NOW)
    print(f"first tick: {took:.4f} s")
    assert took < 2.0, f"creating the due runs took {took:.3f} s"
    assert slots(pipeline)[0] == first_slot and len(runs) == len(slots(pipeline))
    assert fresh(pipeline).slots_dropped == dropped
    # The next tick goes on from there, as cheaply.
    _, took = timed_creation(NOW + dt.timedelta(minutes=2))
    assert took < 2.0 and fresh(pipeline).scheduler_error == ""


# -- re-applying an edited schedule ----------------------------------------------------------

EVERY_MINUTE = "{kind: interval, frequency: 60, start_at: '2026-03-01T00:00:00Z', catchup: true, max_active_runs: 50"


def test_an_edited_schedule_keeps_every_pipeline_s_slots_coming(apply):
    steady = apply(document("steady", EVERY_MINUTE + "}"))
    edited = apply(document("edited", EVERY_MINUTE + "}"))
    create_due_runs(T + 2 * MINUTE + dt.timedelta(seconds=5))
    assert slots(steady) == slots(edited) == [T, T + MINUTE, T + 2 * MINUTE]

    apply(document("edited", EVERY_MINUTE + ", max_runs: 100}"))  # same start_at
    for minute in (3, 4, 5):
        create_due_runs(T + minute * MINUTE + dt.timedelta(seconds=5))
    assert slots(edited) == slots(steady) == [T + k * MINUTE for k in range(6)]
    # max_runs counts the runs the pipeline's schedule created, before the edit too.
    assert fresh(edited).runs_created == 6 and fresh(edited).scheduler_error == ""

    apply(document("edited", EVERY_MINUTE.replace("frequency: 60", "frequency: 120") + ", max_runs: 100}"))
    for minute in (6, 7, 8, 9, 10):
        create_due_runs(T + minute * MINUTE + dt.timedelta(seconds=5))
    # After the newest slot (5 min) the new grid of 2 minutes from the same start_at: 6, 8, 10.
    assert slots(edited) == [T + k * MINUTE for k in (0, 1, 2, 3, 4, 5, 6, 8, 10)]
    assert slots(steady) == [T + k * MINUTE for k in range(11)]
    assert not Pipeline.objects.exclude(scheduler_error="").exists()


def test_start_at_moved_later_waits_for_it_and_keeps_the_runs(apply):
    schedule = "{kind: interval, frequency: 60, start_at: '2026-03-01T%s:00:00Z', max_active_runs: 5}"
    pipeline = apply(document("later", schedule % "00"))
    create_due_runs(T + 10 * MINUTE)
    apply(document("later", schedule % "01"))
    assert create_due_runs(T + 30 * MINUTE) == []
    create_due_runs(T + 61 * MINUTE + dt.timedelta(seconds=1))
    assert slots(pipeline) == [T + 10 * MINUTE, T + 61 * MINUTE]
    # Dropped: slots 0..9 at the first tick, 60 (the new start_at) now.
    assert fresh(pipeline).slots_dropped == 11


def test_a_schedule_removed_then_added_again_goes_on_after_the_newest_slot(apply):
    with_schedule = document("again", EVERY_MINUTE + "}")
    pipeline = apply(with_schedule)
    create_due_runs(T + MINUTE)
    apply(with_schedule.replace("schedule: " + EVERY_MINUTE + "}\n", ""))
    create_due_runs(T + 3 * MINUTE)
    assert slots(pipeline) == [T, T + MINUTE]
    apply(with_schedule)  # catchup: the slots missed meanwhile, none twice
    create_due_runs(T + 4 * MINUTE)
    assert slots(pipeline) == [T + k * MINUTE for k in range(5)]


def test_no_start_at_keeps_the_time_first_applied_when_the_frequency_changes(apply):
    pipeline = apply(document("nostart", "{kind: interval, frequency: 60}"))
    anchor = fresh(pipeline).schedule_start_at
    apply(document("nostart", "{kind: interval, frequency: 120}"))
    assert fresh(pipeline).schedule_start_at == anchor


def test_a_slot_that_has_a_run_is_never_created_again(apply):
    pipeline = apply(document("twice", EVERY_MINUTE + "}"))
    create_due_runs(T + 2 * MINUTE)
    # The state an earlier version left after an update: the newest slot forgotten.
    Pipeline.objects.filter(pk=pipeline.pk).update(last_slot_at=None, next_slot_at=None)
    create_due_runs(T + 3 * MINUTE)
    assert slots(pipeline) == [T + k * MINUTE for k in range(4)]
    assert fresh(pipeline).scheduler_error == ""


# -- one pipeline's failure is its own -------------------------------------------------------


def test_a_pipeline_whose_creation_fails_does_not_stop_the_others(apply, caplog):
    broken = apply(document("broken", EVERY_MINUTE + "}"))
    healthy = apply(document("healthy", EVERY_MINUTE + "}"))
    plan = fresh(broken).plan
    Pipeline.objects.filter(pk=broken.pk).update(plan={**plan, "schedule": {**plan["schedule"], "frequency": "x"}})
    now = T + MINUTE
    with caplog.at_level(logging.ERROR, logger="polyflow.scheduler"):
        runs = create_due_runs(now)
    assert [run.pipeline_id for run in runs] == [healthy.pk, healthy.pk]
    assert slots(healthy) == [T, T + MINUTE] and slots(broken) == []
    failed = fresh(broken)
    assert failed.scheduler_error.startswith("creating the due runs failed: TypeError")
    assert failed.scheduler_error_at == now and failed.runs_created == 0
    assert f"pipeline broken (id {broken.pk})" in caplog.text
    # Repaired, it gets its runs and the error goes away.
    Pipeline.objects.filter(pk=broken.pk).update(plan=plan)
    create_due_runs(T + 2 * MINUTE)
    assert slots(broken) == [T, T + MINUTE, T + 2 * MINUTE]
    assert (fresh(broken).scheduler_error, fresh(broken).scheduler_error_at) == ("", None)
