"""Backfill, the slots a tick would create, and the grid of recent runs, on PostgreSQL."""

import datetime as dt

import pytest

from polyflow.exceptions import Unprocessable
from polyflow.models import Pipeline, PipelineRun
from polyflow.scheduler.creation import slots_due_at
from polyflow.scheduler.tick import tick
from polyflow.selectors.runs import recent_runs_grid
from polyflow.services.backfill import MAX_BACKFILL_SLOTS, backfill
from polyflow.services.pipelines import set_paused
from polyflow.services.runs import mark_op_run, trigger_run
from polyflow.testing.backends import InstantBackend

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def scheduled(name="hourly", extra=""):
    return (f"version: 1\nkind: pipeline\nname: {name}\n"
            f"schedule: {{kind: interval, frequency: 60, start_at: '2026-03-01T00:00:00Z'{extra}}}\n"
            "ops:\n  - {name: a, template: {name: t}}\n  - {name: b, template: {name: t}, dependencies: [a]}\n"
            "templates:\n  - {kind: job, name: t, container: {image: busybox, command: ['true']}}\n")


def test_backfill_makes_the_missing_slots_in_order_and_honours_max_active_runs(apply, project):
    pipeline = apply(scheduled(extra=", max_active_runs: 2"))
    set_paused(pipeline, True)  # the scheduler's own slots stay out of the way
    existing = trigger_run(pipeline, trigger=PipelineRun.Trigger.SCHEDULE, schedule_at=at(120), now=at(120))
    runs = backfill(pipeline, at(0), at(300), user=project.owner, now=at(1000))
    assert [run.schedule_at for run in runs] == [at(0), at(60), at(180), at(240)]  # 120 had a run
    assert {run.trigger for run in runs} == {"backfill"}
    assert {run.created_by for run in runs} == {project.owner}
    set_paused(pipeline, False)
    existing.delete()
    backend = InstantBackend(hold={"a"})
    seen_running = []
    for second in range(1000, 1012):
        tick(at(second), backend)
        running = list(pipeline.runs.filter(trigger="backfill", status="running").order_by("schedule_at")
                       .values_list("schedule_at", flat=True))
        seen_running.append(running)
        if second == 1003:
            backend.release("a")
    assert seen_running[0] == [at(0), at(60)]  # the oldest slots first, two at a time
    assert max(len(running) for running in seen_running) <= 2
    assert set(pipeline.runs.filter(trigger="backfill").values_list("status", flat=True)) == {"succeeded"}
    pipeline.refresh_from_db()
    # Backfill runs are not the schedule's own; its latest slot got a run once room freed up.
    assert pipeline.runs_created == pipeline.runs.filter(trigger="schedule").count() == 1


def test_backfill_runs_follow_depends_on_past(apply, project):
    pipeline = apply(scheduled(extra=", depends_on_past: true, max_active_runs: 5"))
    set_paused(pipeline, True)
    runs = backfill(pipeline, at(0), at(120), now=at(500))
    set_paused(pipeline, False)
    backend = InstantBackend(fail={"a": 1})
    for second in range(500, 504):
        tick(at(second), backend)
    first, second = (PipelineRun.objects.get(pk=run.pk) for run in runs)
    assert first.status == "failed"
    held = second.op_runs.get(name="a")
    assert (held.status, held.reason) == ("created", "depends_on_past")
    backend.fail = {}  # the next slot's a passes once it may start
    mark_op_run(first.op_runs.get(name="a"), "succeeded", now=at(505))
    for second_ in range(506, 510):
        tick(at(second_), backend)
    assert set(PipelineRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", flat=True)) == {
        "succeeded"}


def test_backfill_refuses_what_it_cannot_do(apply, chain):
    with pytest.raises(Unprocessable, match="has no schedule"):
        backfill(chain, at(0), at(60), now=at(100))
    pipeline = apply(scheduled())
    with pytest.raises(Unprocessable, match=r"must be later than start"):
        backfill(pipeline, at(60), at(60), now=at(100))
    with pytest.raises(Unprocessable, match=f"holds 1001 slots .* at most {MAX_BACKFILL_SLOTS} runs"):
        backfill(pipeline, at(0), at(60 * 1001), now=at(10**6))
    assert len(backfill(pipeline, at(0), at(60 * 1000), now=at(10**6))) == MAX_BACKFILL_SLOTS
    repeatable = apply(scheduled("again").replace("kind: interval, frequency: 60", "kind: repeatable, limit: 3"))
    with pytest.raises(Unprocessable, match="repeatable schedule"):
        backfill(repeatable, at(0), at(60), now=at(100))


def test_backfill_leaves_slots_after_now_to_the_scheduler(apply):
    pipeline = apply(scheduled())
    runs = backfill(pipeline, at(0), at(600), now=at(150))
    assert [run.schedule_at for run in runs] == [at(0), at(60), at(120)]
    # The widest range there is: cut to the schedule's start and to now.
    widest = (dt.datetime.min.replace(tzinfo=dt.UTC), dt.datetime.max.replace(tzinfo=dt.UTC))
    assert [run.schedule_at for run in backfill(pipeline, *widest, now=at(200))] == [at(180)]
    assert backfill(pipeline, at(10**8), widest[1], now=at(200)) == []


def test_slots_due_at_says_what_a_tick_would_create_and_writes_nothing(apply):
    pipeline = apply(scheduled(extra=", catchup: true, max_active_runs: 3"))
    apply(scheduled("other").replace("frequency: 60", "frequency: 3600"))
    before = Pipeline.objects.get(pk=pipeline.pk)
    due = slots_due_at(at(130))
    assert [(p.name, slot) for p, slot in due] == [("hourly", at(0)), ("hourly", at(60)), ("hourly", at(120)),
                                                  ("other", at(0))]
    after = Pipeline.objects.get(pk=pipeline.pk)
    assert (after.next_slot_at, after.last_slot_at, after.runs_created) == (
        before.next_slot_at, before.last_slot_at, before.runs_created)
    assert not PipelineRun.objects.exists()
    tick(at(130), InstantBackend())
    assert sorted(PipelineRun.objects.values_list("pipeline__name", "schedule_at")) == sorted(
        (p.name, slot) for p, slot in due)


def test_the_grid_of_recent_runs_takes_three_queries(chain, django_assert_num_queries):
    runs = [trigger_run(chain, now=at(second)) for second in range(30)]
    backend = InstantBackend(fail={"b": 1})
    tick(at(100), backend)
    with django_assert_num_queries(3):
        grid = recent_runs_grid(chain, limit=25)
    assert grid["ops"] == ["a", "b", "c", "side"]
    assert [row["uuid"] for row in grid["runs"]] == [run.uuid for run in reversed(runs)][:25]
    assert grid["runs"][0]["ops"] == {"a": "succeeded", "b": "failed", "c": "upstream_failed", "side": "succeeded"}
    assert grid["runs"][0]["status"] == "failed" and grid["runs"][0]["trigger"] == "manual"
