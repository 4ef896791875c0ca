"""The tick over simulated time, on PostgreSQL, with the instant backend.

Real commands run in test_integration_local.py; here the backend finishes each
attempt as scripted, so the scheduler's own decisions are what is tested.
"""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from polyflow.models import OperationRun, PipelineRun, SchedulerHeartbeat
from polyflow.scheduler.tick import tick
from polyflow.services.pipelines import set_paused
from polyflow.services.runs import retry_run, stop_run, trigger_run

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def pipeline_yaml(ops: str, head: str = "", template_extra: str = "") -> str:
    return f"""\
version: 1
kind: pipeline
name: p
{head}ops:
{ops}templates:
  - kind: job
    name: t
    outputs: [{{name: x, type: int}}]
    container: {{image: 'python:3.11', command: [python, -c, pass]}}
{template_extra}"""


def statuses(run):
    return dict(run.op_runs.values_list("name", "status"))


def test_retries_wait_the_exact_delays(apply, backend):
    pipeline = apply(pipeline_yaml(
        "  - {name: a, template: {name: t}, max_retries: 3, retry_delay: 10, retry_exp_backoff: true,"
        " max_retry_delay: 30}\n"))
    backend.fail["a"] = 3
    run = trigger_run(pipeline)
    tick(at(0), backend)
    a = run.op_runs.get()
    assert (a.status, a.attempt, a.retry_at) == ("retrying", 1, at(10))
    # Attempt 2 waits 10 s, attempt 3 waits 20 s, attempt 4 waits 30 s (40 capped at 30).
    for failed_attempt, _delay, started in ((1, 10, 10), (2, 20, 30), (3, 30, 60)):
        tick(at(started - 1), backend)
        assert backend.count("a") == failed_attempt, "submitted before its delay was over"
        tick(at(started), backend)
        assert backend.count("a") == failed_attempt + 1
    run.refresh_from_db()
    a.refresh_from_db()
    assert (run.status, a.status, a.attempt) == ("succeeded", "succeeded", 4)
    history = list(a.statuses.values_list("status", "attempt"))
    assert history[:4] == [("created", 1), ("scheduled", 1), ("retrying", 1), ("scheduled", 2)]
    assert [s.key[-2:] for s in backend.submissions] == ["-1", "-2", "-3", "-4"]


def test_no_retries_left_fails_and_downstream_is_upstream_failed(apply, backend):
    pipeline = apply(pipeline_yaml(
        "  - {name: a, template: {name: t}}\n"
        "  - {name: b, template: {name: t}, dependencies: [a]}\n"
        "  - {name: notify, template: {name: t}, dependencies: [a], trigger: one_failed}\n"
        "  - {name: cleanup, template: {name: t}, dependencies: [b, notify], trigger: all_done}\n"))
    backend.fail["a"] = 1
    run = trigger_run(pipeline)
    tick(at(0), backend)
    run.refresh_from_db()
    assert statuses(run) == {"a": "failed", "b": "upstream_failed", "notify": "succeeded", "cleanup": "succeeded"}
    assert run.status == "failed"
    a = run.op_runs.get(name="a")
    assert (a.reason, a.exit_code) == ("failed", 1)


def test_max_restarts_of_the_template_is_the_default_of_max_retries(apply, backend):
    pipeline = apply(pipeline_yaml("  - {name: a, template: {name: t}, retry_delay: 0}\n",
                                   template_extra="    environment: {max_restarts: 2}\n"))
    backend.fail["a"] = 2
    run = trigger_run(pipeline)
    for second in range(3):
        tick(at(second), backend)
    run.refresh_from_db()
    assert run.status == "succeeded" and backend.count("a") == 3


def test_skips_cascade_and_the_run_succeeds(apply, backend):
    pipeline = apply(pipeline_yaml(
        "  - {name: a, template: {name: t}}\n"
        "  - {name: on-fail, template: {name: t}, dependencies: [a], trigger: all_failed}\n"
        "  - {name: after, template: {name: t}, dependencies: [on-fail], skip_on_upstream_skip: true,"
        " trigger: all_done}\n"))
    run = trigger_run(pipeline)
    tick(at(0), backend)
    run.refresh_from_db()
    assert statuses(run) == {"a": "succeeded", "on-fail": "skipped", "after": "skipped"}
    assert run.status == "succeeded"


def test_outputs_flow_downstream_and_are_validated(apply, backend):
    pipeline = apply(pipeline_yaml(
        "  - {name: a, template: {name: t}}\n"
        "  - {name: b, template: {name: u}, params: {n: '{{ ops.a.outputs.x }}'}}\n",
        template_extra="  - kind: job\n    name: u\n    inputs: [{name: n, type: int}]\n"
                       "    outputs: [{name: x, type: int}]\n    container: {image: python, command: [x]}\n"))
    backend.outputs["a"] = {"x": "not an int"}
    run = trigger_run(pipeline)
    tick(at(0), backend)
    a = run.op_runs.get(name="a")
    assert (a.status, a.reason) == ("failed", "invalid_outputs")
    assert a.message == "output 'x': expected an integer (type int), got 'not an int'"
    backend.outputs["a"] = {"x": 41}
    retry_run(run)
    tick(at(1), backend)
    b = run.op_runs.get(name="b")
    assert (b.status, b.params) == ("succeeded", {"n": 41})


def test_pipeline_concurrency_and_global_limit(apply, backend, settings):
    ops = "".join(f"  - {{name: o{i}, template: {{name: t}}}}\n" for i in range(5))
    pipeline = apply(pipeline_yaml(ops, head="concurrency: 2\n"))
    backend.hold.update(f"o{i}" for i in range(5))
    run = trigger_run(pipeline)
    tick(at(0), backend)
    assert backend.count() == 2
    waiting = run.op_runs.filter(status="created")
    assert {o.reason for o in waiting} == {"concurrency"}
    assert waiting.first().message == "waiting: the pipeline's concurrency of 2 is reached in this run"
    settings.POLYFLOW = {**settings.POLYFLOW, "MAX_CONCURRENCY": 1}
    trigger_run(pipeline)
    tick(at(1), backend)
    assert backend.count() == 2  # the global limit is full already
    for i in range(5):
        backend.release(f"o{i}")
    for second in range(2, 10):
        tick(at(second), backend)
    assert set(PipelineRun.objects.values_list("status", flat=True)) == {"succeeded"}


def test_op_concurrency_across_runs(apply, backend):
    pipeline = apply(pipeline_yaml("  - {name: a, template: {name: t}, concurrency: 1}\n"))
    backend.hold.add("a")
    first, second = trigger_run(pipeline), trigger_run(pipeline)
    tick(at(0), backend)
    assert backend.count("a") == 1
    assert second.op_runs.get().reason == "concurrency"
    backend.release("a")
    tick(at(1), backend)
    tick(at(2), backend)
    assert {first.op_runs.get().status, second.op_runs.get().status} == {"succeeded"}


def test_stop_a_running_run(apply, backend):
    pipeline = apply(pipeline_yaml("  - {name: a, template: {name: t}}\n"
                                   "  - {name: b, template: {name: t}, dependencies: [a]}\n"))
    backend.hold.add("a")
    run = trigger_run(pipeline)
    tick(at(0), backend)
    assert statuses(run) == {"a": "running", "b": "created"}
    run = stop_run(run)
    assert run.status == "stopping"
    tick(at(1), backend)
    run.refresh_from_db()
    assert backend.stopped == [run.op_runs.get(name="a").handle]
    assert (run.status, statuses(run)) == ("stopped", {"a": "stopped", "b": "stopped"})


def test_pause_holds_submissions_and_resume_releases_them(apply, backend):
    pipeline = apply(pipeline_yaml("  - {name: a, template: {name: t}}\n"
                                   "  - {name: b, template: {name: t}, dependencies: [a]}\n"))
    backend.hold.add("a")
    run = trigger_run(pipeline)
    tick(at(0), backend)
    set_paused(pipeline, True)
    backend.release("a")
    tick(at(1), backend)
    b = run.op_runs.get(name="b")
    assert (b.status, b.reason) == ("created", "paused")  # a finished; b waits
    assert run.op_runs.get(name="a").status == "succeeded"
    set_paused(pipeline, False)
    tick(at(2), backend)
    run.refresh_from_db()
    assert run.status == "succeeded"


def test_op_timeout_is_enforced_when_the_backend_does_not(apply, backend):
    pipeline = apply(pipeline_yaml("  - {name: a, template: {name: t}, timeout: 30}\n"))
    backend.hold.add("a")
    run = trigger_run(pipeline)
    tick(at(0), backend)  # submitted
    tick(at(1), backend)  # running, started now
    tick(at(30), backend)
    assert run.op_runs.get().status == "running"
    tick(at(60), backend)
    a = run.op_runs.get()
    assert (a.status, a.reason) == ("failed", "timeout")
    assert backend.stopped == [a.handle]


def test_run_timeout_stops_and_fails_the_run(apply, backend):
    pipeline = apply(pipeline_yaml("  - {name: a, template: {name: t}}\n"
                                   "  - {name: b, template: {name: t}, dependencies: [a]}\n", head="timeout: 60\n"))
    backend.hold.add("a")
    run = trigger_run(pipeline, now=at(0))
    tick(at(0), backend)
    tick(at(61), backend)  # stopped, and the backend confirms within the same tick
    run.refresh_from_db()
    assert (run.status, run.reason) == ("failed", "timeout")
    assert statuses(run) == {"a": "stopped", "b": "stopped"}


def test_a_lost_attempt_fails_and_retries(apply, backend):
    pipeline = apply(pipeline_yaml("  - {name: a, template: {name: t}, max_retries: 1, retry_delay: 0}\n"))
    backend.hold.add("a")
    run = trigger_run(pipeline)
    tick(at(0), backend)
    backend.forget(backend.submissions[0].key)
    tick(at(1), backend)
    a = run.op_runs.get()
    # retry_delay 0: the next attempt starts within the same tick.
    assert (a.status, a.attempt) == ("running", 2)
    assert a.statuses.filter(status="retrying", reason="lost", attempt=1).exists()
    backend.release("a")
    tick(at(2), backend)
    tick(at(3), backend)
    run.refresh_from_db()
    assert run.status == "succeeded" and backend.count("a") == 2


def queries_of_a_tick(apply, backend, ops_yaml, name):
    pipeline = apply(pipeline_yaml(ops_yaml).replace("name: p\n", f"name: {name}\n", 1))
    trigger_run(pipeline)
    with CaptureQueriesContext(connection) as queries:
        report = tick(at(0), backend)
    assert set(PipelineRun.objects.filter(pipeline=pipeline).values_list("status", flat=True)) == {"succeeded"}
    return scheduler_queries(queries), report.passes


def scheduler_queries(queries: CaptureQueriesContext) -> int:
    """The queries of a tick's work. The heartbeat (telemetry/heartbeat.py) is written at most
    once a second whatever the runs, so whether a tick wrote it depends on the clock."""
    heartbeat = SchedulerHeartbeat._meta.db_table
    return sum(heartbeat not in query["sql"] for query in queries)


def fan(n):
    return "".join(f"  - {{name: o{i}, template: {{name: t}}}}\n" for i in range(n))


def chain(n):
    return "".join(f"  - {{name: o{i}, template: {{name: t}}" + (f", dependencies: [o{i - 1}]" if i else "") + "}\n"
                   for i in range(n))


def test_a_tick_over_a_wide_dag_makes_as_many_queries_as_over_a_small_one(apply, backend):
    small, _ = queries_of_a_tick(apply, backend, fan(5), "small")
    large, _ = queries_of_a_tick(apply, backend, fan(60), "large")
    assert large == small


def test_a_chain_advances_within_one_tick_with_a_bounded_number_of_queries_per_level(apply, backend):
    queries, passes = queries_of_a_tick(apply, backend, chain(30), "chain")
    assert passes <= 32  # about one level per pass: no waiting for the next tick
    assert queries / passes < 16
    assert OperationRun.objects.filter(status="succeeded").count() == 30
