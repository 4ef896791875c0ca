"""The database's gauges: runs and op runs by pipeline and status, op runs held by reason,
the scheduler processes' ticks; three queries a scrape, however many runs."""

import datetime as dt

from django.utils import timezone

from polyflow.models import SchedulerHeartbeat
from polyflow.scheduler.tick import tick
from polyflow.services.pipelines import set_paused
from polyflow.services.runs import trigger_run
from polyflow.telemetry.collector import HOLD_REASONS, DatabaseCollector, figures
from polyflow.testing.backends import InstantBackend

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def pipeline(name: str, ops: list[str], head: str = "") -> str:
    listed = "\n".join(f"  - {op}" for op in ops)
    return f"""\
version: 1
kind: pipeline
name: {name}
{head}
ops:
{listed}
templates:
  - kind: job
    name: t
    container: {{image: 'python:3.11', command: [python, -c, pass]}}
"""


WIDE = pipeline("wide", ["{name: w1, template: {name: t}}", "{name: w2, template: {name: t}}"], "concurrency: 1")
RETRY = pipeline("retry", ["{name: r, template: {name: t}, max_retries: 1, retry_delay: 3600}"])
PAUSE = pipeline("pause", ["{name: p1, template: {name: t}}", "{name: p2, template: {name: t}, dependencies: [p1]}"])
DONE = pipeline("done", ["{name: d, template: {name: t}}"])


def scrape() -> dict[str, dict[tuple, float]]:
    return {family.name: {tuple(sample.labels.values()): sample.value for sample in family.samples}
            for family in DatabaseCollector().collect()}


def test_runs_op_runs_and_held_op_runs_by_pipeline(apply, django_assert_num_queries):
    backend = InstantBackend(hold=["w1", "p1"], fail={"r": 1})
    pause = apply(PAUSE)
    for text in (WIDE, RETRY, DONE):
        trigger_run(apply(text))
    trigger_run(pause)
    tick(NOW, backend)
    set_paused(pause, True)
    backend.release("p1")
    tick(NOW, backend)

    with django_assert_num_queries(3):
        scraped = scrape()
    assert scraped["polyflow_database_up"] == {(): 1}
    runs = {labels: n for labels, n in scraped["polyflow_runs"].items() if n}
    assert runs == {("alice/ml", "done", "succeeded"): 1, ("alice/ml", "wide", "running"): 1,
                    ("alice/ml", "retry", "running"): 1, ("alice/ml", "pause", "running"): 1}
    assert scraped["polyflow_runs"][("alice/ml", "done", "failed")] == 0  # every status, 0 when none
    ops = {labels: n for labels, n in scraped["polyflow_op_runs"].items() if n}
    assert ops == {("alice/ml", "done", "succeeded"): 1, ("alice/ml", "wide", "running"): 1,
                   ("alice/ml", "wide", "created"): 1, ("alice/ml", "retry", "retrying"): 1,
                   ("alice/ml", "pause", "succeeded"): 1, ("alice/ml", "pause", "created"): 1}
    queue = scraped["polyflow_queue_depth"]
    assert {labels: n for labels, n in queue.items() if n} == {
        ("alice/ml", "wide", "concurrency"): 1, ("alice/ml", "retry", "retry_period"): 1,
        ("alice/ml", "pause", "paused"): 1}
    assert {reason for (_, _, reason) in queue} == set(HOLD_REASONS)


def test_the_number_of_queries_does_not_grow_with_runs(apply, django_assert_num_queries):
    pipeline_ = apply(DONE)
    for _ in range(30):
        trigger_run(pipeline_)
    tick(NOW, InstantBackend())
    with django_assert_num_queries(3):
        scraped = scrape()
    assert scraped["polyflow_runs"][("alice/ml", "done", "succeeded")] == 30
    assert scraped["polyflow_op_runs"][("alice/ml", "done", "succeeded")] == 30


def test_workers_that_ticked_lately_and_the_age_of_the_newest_tick(db, django_assert_num_queries):
    now = timezone.now()
    for worker, ago in (("web-1:7", 2), ("worker-1:12", 40), ("gone:3", 3600)):
        SchedulerHeartbeat.objects.create(worker=worker, host=worker.split(":")[0], pid=int(worker.split(":")[1]),
                                          started_at=now - dt.timedelta(days=1),
                                          ticked_at=now - dt.timedelta(seconds=ago), tick_seconds=0.25)
    with django_assert_num_queries(3):
        scraped = scrape()
    last = scraped["polyflow_scheduler_last_tick_timestamp_seconds"]
    assert set(last) == {("web-1:7", "web-1"), ("worker-1:12", "worker-1")}  # the last 15 minutes
    assert 1 < scraped["polyflow_scheduler_last_tick_age_seconds"][()] < 10
    assert scraped["polyflow_scheduler_workers"] == {(): 1}  # within 3 TICK_INTERVALs (5 s)
    assert scraped["polyflow_scheduler_last_tick_duration_seconds"][("web-1:7", "web-1")] == 0.25


def test_the_newest_tick_is_known_however_old(db):
    old = timezone.now() - dt.timedelta(hours=5)
    SchedulerHeartbeat.objects.create(worker="w:1", host="w", pid=1, started_at=old, ticked_at=old)
    scraped = scrape()
    assert scraped["polyflow_scheduler_last_tick_timestamp_seconds"] == {}
    assert scraped["polyflow_scheduler_last_tick_age_seconds"][()] > 5 * 3600 - 60
    assert scraped["polyflow_scheduler_workers"] == {(): 0}


def test_no_tick_ever_gives_no_age_and_no_rows_give_no_pipelines():
    families = {f.name: f.samples for f in figures((), (), (), dt.datetime.now(dt.UTC), 5)}
    assert families["polyflow_scheduler_last_tick_age_seconds"] == {}
    assert families["polyflow_runs"] == families["polyflow_op_runs"] == {}
