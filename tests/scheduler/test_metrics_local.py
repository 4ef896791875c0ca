"""Metrics reported by a real local process, read while it runs and after it ended, on PostgreSQL
(docs/metrics.md)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from polyflow.backends import local_runner
from polyflow.backends.local import LocalBackend
from polyflow.models import MetricPoint, OperationRun
from polyflow.scheduler.metrics import collect_metrics
from polyflow.scheduler.tick import tick
from polyflow.services.runs import trigger_run

PIPELINE = """\
version: 1
kind: pipeline
name: tracked
ops:
  - name: train
    template: {name: train}
templates:
  - kind: experiment
    name: train
    container:
      image: busybox
      command: [sh, -c, 'echo "polyflow:metrics {\\"step\\": 1, \\"loss\\": 0.5}"; sleep 1;
                echo "polyflow:metrics {\\"step\\": 2, \\"loss\\": 0.25}"']
"""


@pytest.fixture
def local(settings, tmp_path):
    settings.POLYFLOW = {**settings.POLYFLOW, "HOME": str(tmp_path)}
    backend = LocalBackend(kill_grace=0.5)
    yield backend
    backend.close()


@pytest.fixture
def quiet_tick(settings, local):
    """A tick that collects no metrics (once the tick collects them): the tests that collect
    by hand see every read themselves."""

    def run_tick(now=None):
        saved = settings.POLYFLOW
        settings.POLYFLOW = {**saved, "COLLECT_METRICS": False}
        try:
            return tick(now, local)
        finally:
            settings.POLYFLOW = saved

    return run_tick


def wait_for(condition, timeout=10.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.02)


def points(op_run):
    return list(MetricPoint.objects.filter(op_run=op_run).order_by("step").values_list("attempt", "step", "name",
                                                                                       "value"))


def test_collected_while_it_runs_and_after_it_ended(apply, local, quiet_tick, django_assert_num_queries,
                                                    django_assert_max_num_queries):
    pipeline = apply(PIPELINE)
    run = trigger_run(pipeline)
    quiet_tick()
    op_run = OperationRun.objects.get(run=run, name="train")
    assert op_run.handle
    log = local.directory(op_run.handle) / local_runner.LOG
    wait_for(lambda: log.exists() and b"loss" in log.read_bytes(), what="the first metrics line")

    assert collect_metrics(lambda name: local, [run.pk]) == 1  # step 1 only: step 2 is a second away
    op_run.refresh_from_db()
    assert op_run.metrics == {"step": 1, "loss": 0.5}
    first_cursor = op_run.metrics_cursor
    assert first_cursor == f"1:{len(log.read_bytes())}"
    assert points(op_run) == [(1, 1, "loss", 0.5)]
    # Nothing new yet: nothing stored, nothing read twice.
    assert collect_metrics(lambda name: local, [run.pk], ended=[op_run.handle], only=True) == 0
    assert points(op_run) == [(1, 1, "loss", 0.5)]

    wait_for(lambda: (local.directory(op_run.handle) / local_runner.RESULT).exists(), what="the end of the op")
    # The read before the end is decided (the op run is not final yet): the rest of the log.
    # The op runs; then, in a transaction (a savepoint here), the points and the op runs.
    with django_assert_num_queries(5):
        assert collect_metrics(lambda name: local, [run.pk], ended=[op_run.handle], only=True) == 1
    op_run.refresh_from_db()
    assert op_run.metrics == {"step": 2, "loss": 0.25}
    assert points(op_run) == [(1, 1, "loss", 0.5), (1, 2, "loss", 0.25)]
    cursor = op_run.metrics_cursor
    assert cursor.startswith("1:") and int(cursor[2:]) > int(first_cursor[2:])

    quiet_tick()
    op_run.refresh_from_db()
    assert op_run.status == "succeeded"
    # Ended: one more read finds nothing and closes the cursor; then it is not read any more.
    assert collect_metrics(lambda name: local, [run.pk]) == 0
    op_run.refresh_from_db()
    assert op_run.metrics_cursor == "!" + cursor
    with django_assert_max_num_queries(1):
        assert collect_metrics(lambda name: local, [run.pk]) == 0
    assert points(op_run) == [(1, 1, "loss", 0.5), (1, 2, "loss", 0.25)]
    assert op_run.metrics == {"step": 2, "loss": 0.25}


MANY = """\
version: 1
kind: pipeline
name: many
ops:
{ops}
templates:
  - kind: job
    name: report
    inputs: [{{name: n, type: int}}]
    container:
      image: busybox
      command: [sh, -c, 'echo "polyflow:metrics {{\\"a\\": {{{{ params.n }}}}, \\"b\\": 1}}";
                echo "polyflow:metrics {{\\"a\\": 2}}"']
"""


def many(count: int) -> str:
    return MANY.format(ops="\n".join(f"  - {{name: op{i}, template: {{name: report}}, params: {{n: {i}}}}}"
                                     for i in range(count)))


def finished(backend, run) -> None:
    handles = list(OperationRun.objects.filter(run=run).values_list("handle", flat=True))
    assert all(handles)
    wait_for(lambda: all((backend.directory(h) / local_runner.RESULT).exists() for h in handles),
             what="the ends of the ops")


@pytest.mark.parametrize("count", [1, 12])
def test_a_fixed_number_of_queries_whatever_the_number_of_op_runs(apply, local, quiet_tick, count,
                                                                  django_assert_num_queries):
    run = trigger_run(apply(many(count)))
    quiet_tick()
    finished(local, run)
    with django_assert_num_queries(5):
        assert collect_metrics(lambda name: local, [run.pk]) == 3 * count
    rows = OperationRun.objects.filter(run=run).order_by("name")
    assert [row.metrics for row in rows] == [{"step": 1, "a": 2.0, "b": 1.0}] * count  # steps 0 and 1
    assert sorted(MetricPoint.objects.filter(op_run__run=run, op_run__name="op0").values_list("step", "name",
                                                                                             "value")) == [
        (0, "a", 0.0), (0, "b", 1.0), (1, "a", 2.0)]


def test_a_new_attempt_starts_its_metrics_anew(apply, local, quiet_tick):
    run = trigger_run(apply("""\
version: 1
kind: pipeline
name: flaky
ops:
  - {name: train, template: {name: train}, max_retries: 1, retry_delay: 1}
templates:
  - kind: experiment
    name: train
    container:
      image: busybox
      command: [sh, -c, 'echo "polyflow:metrics {\\"attempt\\": {{ globals.attempt }}}";
                test {{ globals.attempt }} -gt 1']
"""))
    now = timezone.now()
    quiet_tick(now)
    finished(local, run)
    collect_metrics(lambda name: local, [run.pk])
    op_run = OperationRun.objects.get(run=run)
    assert (op_run.metrics, op_run.metrics_cursor[:2]) == ({"step": 0, "attempt": 1.0}, "1:")
    quiet_tick(now)
    op_run.refresh_from_db()
    assert op_run.status == "retrying"
    quiet_tick(now + dt.timedelta(seconds=5))
    op_run.refresh_from_db()
    assert op_run.attempt == 2 and op_run.status in ("scheduled", "running", "succeeded")
    finished(local, run)
    collect_metrics(lambda name: local, [run.pk], ended=[op_run.handle], only=True)
    op_run.refresh_from_db()
    assert op_run.metrics == {"step": 0, "attempt": 2.0}  # its own steps, from 0
    assert op_run.metrics_cursor.startswith("2:")
    assert sorted(MetricPoint.objects.filter(op_run=op_run).values_list("attempt", "step", "value")) == [
        (1, 0, 1.0), (2, 0, 2.0)]


def test_bad_lines_are_said_once_and_the_good_ones_kept(apply, local, quiet_tick, caplog):
    run = trigger_run(apply("""\
version: 1
kind: pipeline
name: noisy
ops:
  - {name: train, template: {name: train}}
templates:
  - kind: job
    name: train
    container:
      image: busybox
      command: [sh, -c, 'echo "polyflow:metrics {oops"; echo "polyflow:metrics {\\"loss\\": NaN, \\"acc\\": 0.5}"']
"""))
    quiet_tick()
    finished(local, run)
    with caplog.at_level("WARNING", logger="polyflow.scheduler"):
        assert collect_metrics(lambda name: local, [run.pk]) == 1
        assert collect_metrics(lambda name: local, [run.pk]) == 0
    (record,) = [r for r in caplog.records if "metric line" in r.getMessage()]
    assert record.getMessage().startswith("metrics of train (attempt 1, ")
    assert "2 metric line(s) or value(s) ignored: 1 not valid JSON (first: 'polyflow:metrics {oops'); " \
           "1 NaN or Infinity (first: 'loss': 'NaN')" in record.getMessage()
    assert OperationRun.objects.get(run=run).metrics == {"step": 0, "acc": 0.5}


def test_nothing_is_read_when_collect_metrics_is_off(apply, local, quiet_tick, settings, django_assert_num_queries):
    run = trigger_run(apply(many(1)))
    quiet_tick()
    finished(local, run)
    settings.POLYFLOW = {**settings.POLYFLOW, "COLLECT_METRICS": False}
    with django_assert_num_queries(0):
        assert collect_metrics(lambda name: local, [run.pk]) == 0
    assert not MetricPoint.objects.exists()


def test_a_backend_that_fails_does_not_stop_anything(apply, local, quiet_tick, caplog):
    run = trigger_run(apply(many(1)))
    quiet_tick()
    finished(local, run)

    def broken(name):
        raise RuntimeError("no such backend here")

    with caplog.at_level("WARNING", logger="polyflow.scheduler"):
        assert collect_metrics(broken, [run.pk]) == 0
    assert "no such backend here" in caplog.text
    assert collect_metrics(lambda name: local, [run.pk]) == 3


CHAIN = """\
version: 1
kind: pipeline
name: chain
ops:
  - {name: train, template: {name: train}}
  - {name: evaluate, template: {name: evaluate}, dependencies: [train]}
templates:
  - kind: experiment
    name: train
    container:
      image: busybox
      command: [sh, -c, 'for i in 1 2 3; do echo "polyflow:metrics {\\"loss\\": 0.$i}"; sleep 0.2; done;
                echo "polyflow:metrics {\\"loss\\": 0.05}"']
  - kind: job
    name: evaluate
    container: {image: busybox, command: [sh, -c, 'echo "polyflow:metrics {\\"accuracy\\": 0.97}"']}
"""


def test_ticks_collect_every_line_the_last_ops_last_ones_included(apply, local):
    run = trigger_run(apply(CHAIN))
    deadline = time.monotonic() + 30
    while True:
        tick(backend=local)
        run.refresh_from_db()
        if run.status in ("succeeded", "failed"):
            break
        assert time.monotonic() < deadline, run.status
        time.sleep(0.05)
    assert run.status == "succeeded"
    metrics = dict(OperationRun.objects.filter(run=run).values_list("name", "metrics"))
    # The run ended with evaluate's end: its one line was read before that end was decided.
    assert metrics == {"train": {"step": 3, "loss": 0.05}, "evaluate": {"step": 0, "accuracy": 0.97}}
    assert MetricPoint.objects.filter(op_run__run=run, op_run__name="train").count() == 4


GRID = """\
version: 1
kind: pipeline
name: grid
ops:
  - name: tune
    template: {name: train}
    matrix:
      kind: grid
      params: {lr: {kind: choice, value: [1, 3, 2]}}
      metric: {name: accuracy, optimization: maximize}
templates:
  - kind: experiment
    name: train
    inputs: [{name: lr, type: int}]
    container:
      image: busybox
      command: [sh, -c, 'echo "polyflow:metrics {\\"accuracy\\": 0.{{ params.lr }}}"']
"""


def test_the_best_trial_is_ranked_by_its_reported_metric(apply, local):
    run = trigger_run(apply(GRID))
    deadline = time.monotonic() + 30
    while run.status not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, run.status
        tick(backend=local)
        run.refresh_from_db()
        time.sleep(0.05)
    group = OperationRun.objects.get(run=run, name="tune", trial__isnull=True)
    assert run.status == "succeeded", group.message
    assert group.summary["best"]["trial"] == 1  # lr 3: accuracy 0.3, the highest reported
    assert group.summary["best"]["metric"]["value"] == 0.3
