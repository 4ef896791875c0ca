"""The scheduler over simulated time on PostgreSQL, with the local backend
running real commands (DESIGN sections 4 to 6)."""

import datetime as dt
import time

import pytest

from polyflow.backends.local import LocalBackend
from polyflow.models import PipelineRun
from polyflow.scheduler.tick import tick
from polyflow.services.pipelines import set_paused
from polyflow.services.runs import retry_run, stop_run, trigger_run

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.fixture
def local(settings, tmp_path):
    settings.POLYFLOW = {**settings.POLYFLOW, "HOME": str(tmp_path)}
    return LocalBackend(kill_grace=0.5)


def settle(now, backend, runs=None, deadline=30.0):
    """Tick at a fixed simulated time until every active op run is final or waits.

    Commands run in real time, so ticks repeat while processes finish.
    """
    end = time.monotonic() + deadline
    while True:
        tick(now, backend)
        active = PipelineRun.objects.filter(status__in=["running", "stopping"])
        if runs is not None:
            active = active.filter(pk__in=[r.pk for r in runs])
        busy = [o for run in active for o in run.op_runs.filter(status__in=["scheduled", "starting", "running",
                                                                            "stopping"])]
        if not busy:
            return
        if time.monotonic() > end:
            raise AssertionError(f"still busy after {deadline} s: {[(o.name, o.status) for o in busy]}")
        time.sleep(0.05)


def yaml_of(name, schedule, ops, templates=""):
    return (f"version: 1\nkind: pipeline\nname: {name}\nschedule: {schedule}\nops:\n{ops}templates:\n"
            "  - {kind: job, name: ok, container: {image: busybox, command: ['true']}}\n"
            "  - {kind: job, name: check, inputs: [{name: marker, type: path}],\n"
            "     container: {image: busybox, command: [sh, -c, 'test -e {{ params.marker }}']}}\n" + templates)


def slots(pipeline):
    return list(pipeline.runs.order_by("schedule_at").values_list("schedule_at", flat=True))


def test_interval_slots_end_at_and_real_commands(apply, local):
    pipeline = apply(yaml_of("every-minute", "{kind: interval, frequency: 60, start_at: '2026-03-01T00:00:00Z',"
                                             " end_at: '2026-03-01T00:03:00Z'}",
                             "  - {name: a, template: {name: ok}}\n"))
    for second in (0, 30, 60, 120, 179, 180, 600):
        settle(at(second), local)
    assert slots(pipeline) == [at(0), at(60), at(120)]
    assert set(pipeline.runs.values_list("status", flat=True)) == {"succeeded"}
    pipeline.refresh_from_db()
    assert pipeline.schedule_done


def test_cron_slots_in_a_time_zone_and_max_runs(apply, local):
    pipeline = apply(yaml_of("nightly", "{kind: cron, cron: '0 2 * * *', timezone: Europe/Berlin, max_runs: 2,"
                                        " start_at: '2026-03-01T00:00:00Z', max_active_runs: 5, catchup: true}",
                             "  - {name: a, template: {name: ok}}\n"))
    settle(at(5 * 86400), local)
    # 02:00 in Berlin is 01:00 UTC in winter; max_runs stops after two.
    assert slots(pipeline) == [at(3600), at(86400 + 3600)]
    pipeline.refresh_from_db()
    assert pipeline.schedule_done and pipeline.runs_created == 2


def test_catchup_false_after_a_gap_of_ten_slots_creates_one_run(apply, local):
    pipeline = apply(yaml_of("no-catchup", "{kind: interval, frequency: 60, start_at: '2026-03-01T00:00:00Z'}",
                             "  - {name: a, template: {name: ok}}\n"))
    settle(at(0), local)
    settle(at(10 * 60 + 5), local)
    assert slots(pipeline) == [at(0), at(600)]
    pipeline.refresh_from_db()
    assert pipeline.slots_dropped == 9


def test_catchup_true_creates_every_slot_one_at_a_time(apply, local):
    pipeline = apply(yaml_of("catchup", "{kind: interval, frequency: 60, start_at: '2026-03-01T00:00:00Z',"
                                        " catchup: true, max_active_runs: 1}",
                             "  - {name: a, template: {name: ok}}\n"))
    settle(at(0), local)
    tick(at(10 * 60 + 5), local)
    # One slot more, not ten: the next waits until this one is done (it may be
    # done already: a tick advances a run as far as its processes allow).
    assert pipeline.runs.count() == 2
    assert PipelineRun.objects.filter(status__in=["created", "running"]).count() <= 1
    for _ in range(12):
        settle(at(10 * 60 + 5), local)
    assert slots(pipeline) == [at(60 * k) for k in range(11)]
    history = [(r.created_at, r.finished_at) for r in pipeline.runs.order_by("schedule_at")]
    assert all(finished <= next_created for (_, finished), (next_created, _) in zip(history, history[1:], strict=False))


def test_depends_on_past_holds_until_the_previous_slot_is_retried(apply, local, tmp_path):
    marker = tmp_path / "marker"
    pipeline = apply(yaml_of(
        "dop", "{kind: interval, frequency: 60, start_at: '2026-03-01T00:00:00Z', depends_on_past: true,"
               " max_active_runs: 2}",
        f"  - {{name: a, template: {{name: check}}, params: {{marker: '{marker}'}}}}\n"
        "  - {name: b, template: {name: ok}, dependencies: [a]}\n"))
    settle(at(0), local)
    first = pipeline.runs.get(schedule_at=at(0))
    assert first.status == "failed"  # no marker yet: a fails
    for second in (60, 61, 62, 70, 90):
        settle(at(second), local)
    second_run = pipeline.runs.get(schedule_at=at(60))
    a = second_run.op_runs.get(name="a")
    assert (a.status, a.reason) == ("created", "depends_on_past")
    assert a.message == "waiting for op 'a' of the previous slot's run (failed)"
    assert not a.statuses.exclude(status="created").exists()  # never failed for this
    marker.touch()
    retry_run(first)
    settle(at(95), local, runs=[first])
    settle(at(96), local)
    first.refresh_from_db()
    second_run.refresh_from_db()
    assert (first.status, second_run.status) == ("succeeded", "succeeded")


def test_retries_wait_the_exact_delays_with_real_failures(apply, local, tmp_path):
    counter = tmp_path / "attempts"
    pipeline = apply(
        "version: 1\nkind: pipeline\nname: flaky\nops:\n"
        "  - {name: a, template: {name: t}, max_retries: 2, retry_delay: 30, retry_exp_backoff: true}\n"
        "templates:\n  - kind: job\n    name: t\n    container:\n      image: busybox\n"
        f"      command: [sh, -c, 'echo x >> {counter}; test $(wc -l < {counter}) -ge 3']\n")
    run = trigger_run(pipeline)
    settle(at(0), local)
    a = run.op_runs.get()
    assert (a.status, a.retry_at, a.exit_code) == ("retrying", at(30), 1)
    settle(at(29), local)
    assert run.op_runs.get().attempt == 1
    settle(at(30), local)
    a = run.op_runs.get()
    assert (a.status, a.attempt, a.retry_at) == ("retrying", 2, at(90))  # 30 * 2 after attempt 2
    settle(at(90), local)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.op_runs.get().attempt == 3
    assert counter.read_text().count("x") == 3


def test_a_timeout_kills_a_sleeping_op(apply, local):
    pipeline = apply("version: 1\nkind: pipeline\nname: slow\nops:\n  - {name: a, template: {name: t}, timeout: 1}\n"
                     "templates:\n  - {kind: job, name: t, container: {image: busybox, command: [sleep, '30']}}\n")
    run = trigger_run(pipeline)
    started = time.monotonic()
    settle(at(0), local)
    a = run.op_runs.get()
    assert (a.status, a.reason) == ("failed", "timeout")
    assert time.monotonic() - started < 10


def test_stop_of_a_running_run(apply, local):
    pipeline = apply("version: 1\nkind: pipeline\nname: long\nops:\n  - {name: a, template: {name: t}}\n"
                     "  - {name: b, template: {name: t}, dependencies: [a]}\n"
                     "templates:\n  - {kind: job, name: t, container: {image: busybox, command: [sleep, '30']}}\n")
    run = trigger_run(pipeline)
    tick(at(0), local)
    deadline = time.monotonic() + 10
    while run.op_runs.get(name="a").status != "running" and time.monotonic() < deadline:
        tick(at(0), local)
        time.sleep(0.05)
    stop_run(run)
    settle(at(1), local)
    run.refresh_from_db()
    assert run.status == "stopped"
    assert dict(run.op_runs.values_list("name", "status")) == {"a": "stopped", "b": "stopped"}


def test_pause_and_resume(apply, local):
    pipeline = apply(yaml_of("paused", "{kind: interval, frequency: 60, start_at: '2026-03-01T00:00:00Z'}",
                             "  - {name: a, template: {name: ok}}\n"))
    settle(at(0), local)
    set_paused(pipeline, True)
    for second in (60, 120, 180):
        settle(at(second), local)
    assert slots(pipeline) == [at(0)]
    set_paused(pipeline, False)
    settle(at(185), local)
    assert slots(pipeline) == [at(0), at(180)]  # catchup false: only the latest due slot
