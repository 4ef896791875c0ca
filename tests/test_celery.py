"""End to end: a real Celery worker with its beat, on Redis, ticks the scheduler on
the test database until a pipeline of real `python -c` ops has succeeded.

The worker is the standalone deployment (`celery -A polyflow.standalone worker
--beat`) in a subprocess; the test process writes the pipeline and the run and
watches the database.
"""

import time

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from polyflow.services.apply import apply_text
from polyflow.services.projects import create_project
from polyflow.services.runs import trigger_run
from polyflow.statuses import RUN_FINAL
from polyflow.tasks import ADVANCE_TASK, TICK_ENTRY, TICK_TASK, beat_schedule
from polyflow.tasks import tick as tick_task
from tests.conftest import clean_environ, run_python
from tests.processes import Worker, database_url, redis_or_skip

# A database number of its own, flushed before and after: other users of the
# local Redis (db 0) are not disturbed.
BROKER_URL = "redis://127.0.0.1:6379/9"
DEADLINE = 60  # seconds for the run to succeed, the worker's start included

CHAIN = """\
version: 1
kind: pipeline
name: chain
ops:
  - {name: first, template: {name: count}}
  - {name: second, template: {name: count}, dependencies: [first], params: {n: '{{ ops.first.outputs.n }}'}}
  - {name: third, template: {name: count}, dependencies: [second], params: {n: '{{ ops.second.outputs.n }}'}}
templates:
  - kind: job
    name: count
    inputs: [{name: n, type: int, default: 0}]
    outputs: [{name: n, type: int}]
    container:
      image: python:3.11
      command: [python, -c, "import json, os; n = int(os.environ['POLYFLOW_PARAM_N']) + 1; print('n =', n);
                             json.dump({'n': n}, open(os.environ['POLYFLOW_OUTPUTS_FILE'], 'w'))"]
"""


def _redis():
    return redis_or_skip(BROKER_URL)


def _database_url() -> str:
    """The test database (the one this test writes to), as the worker's DATABASE_URL."""
    return database_url(connection.settings_dict)


@pytest.fixture
def worker(transactional_db, tmp_path):
    """`celery -A polyflow.standalone worker --beat` on the test database, ticking every second.

    It depends on transactional_db, so it is stopped before the tables are
    flushed; its op runs' directories are in tmp_path.
    """
    yield from _worker(tmp_path, tick_interval=1)


@pytest.fixture
def slow_beat_worker(transactional_db, tmp_path):
    """The same worker with a beat every 60 s: only the hand-off can advance a chain quickly."""
    yield from _worker(tmp_path, tick_interval=60)


def _worker(tmp_path, tick_interval: int):
    broker = _redis()
    env = {
        **clean_environ(tmp_path / "home"),
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "POLYFLOW_HOME": str(tmp_path / "polyflow"),
        "POLYFLOW_SECRET_KEY": "celery-test-not-secret",
        "POLYFLOW_TICK_INTERVAL": str(tick_interval),
    }
    worker = Worker("polyflow.standalone", env, tmp_path / "worker.log")
    try:
        yield worker
    finally:
        worker.stop()
        broker.flushdb()
        broker.close()


def test_beat_and_worker_run_a_chain_to_success(worker):
    owner = get_user_model().objects.create_user("alice")
    pipeline = apply_text(create_project(owner, "ml"), CHAIN).pipelines[0][0]
    run = trigger_run(pipeline)

    deadline = time.monotonic() + DEADLINE
    while True:
        run.refresh_from_db()
        if run.status in RUN_FINAL:
            break
        if worker.process.poll() is not None:
            pytest.fail(f"the worker exited with status {worker.process.returncode}:\n{worker.log()}")
        if time.monotonic() > deadline:
            pytest.fail(f"the run is still {run.status} after {DEADLINE} s; worker log:\n{worker.log()}")
        time.sleep(0.25)

    op_runs = {o.name: o for o in run.op_runs.all()}
    assert run.status == "succeeded", (
        {name: (o.status, o.reason, o.message) for name, o in op_runs.items()}, worker.log())
    # Each op added one to what the one before it output: the outputs went along.
    assert {name: (o.status, o.outputs, o.backend) for name, o in op_runs.items()} == {
        "first": ("succeeded", {"n": 1}, "local"),
        "second": ("succeeded", {"n": 2}, "local"),
        "third": ("succeeded", {"n": 3}, "local"),
    }
    log = worker.log()
    # The beat sent the ticks and the worker ran them.
    assert f"Sending due task {TICK_ENTRY} ({TICK_TASK})" in log
    assert f"Task {TICK_TASK}[" in log and "succeeded in" in log
    assert "1 run(s) succeeded" in log


@pytest.fixture
def host_app(settings):
    """This process as a host project with a broker: requests hand new runs to workers."""
    from celery import Celery, current_app

    previous = current_app._get_current_object()
    app = Celery("host", broker=BROKER_URL, set_as_current=True)
    settings.POLYFLOW = {**settings.POLYFLOW, "WAKE_WORKERS": True}
    yield app
    previous.set_current()
    app.close()


def test_runs_are_handed_off_without_waiting_for_the_beat(slow_beat_worker, host_app):
    """Nothing waits for the beat (every 60 s): the new run is handed to the worker when it
    is created, and each finished op wakes the worker for the next (the worker follows the
    local backend: the runner's end signal, then `advance_runs`)."""
    owner = get_user_model().objects.create_user("alice")
    pipeline = apply_text(create_project(owner, "ml"), CHAIN).pipelines[0][0]
    run = trigger_run(pipeline)
    deadline = time.monotonic() + 30  # the next beat would come only after 60 s
    while run.status not in RUN_FINAL:
        if time.monotonic() > deadline or slow_beat_worker.process.poll() is not None:
            pytest.fail(f"the run is still {run.status}; worker log:\n{slow_beat_worker.log()}")
        time.sleep(0.1)
        run.refresh_from_db()
    assert run.status == "succeeded", slow_beat_worker.log()
    log = slow_beat_worker.log()
    assert f"Task {ADVANCE_TASK}[" in log
    assert f"Sending due task {TICK_ENTRY}" not in log
    ops = list(run.op_runs.order_by("started_at"))
    gaps = [(later.started_at - earlier.finished_at).total_seconds()
            for earlier, later in zip(ops, ops[1:], strict=False)]
    assert max(gaps) < 5, gaps


# The task and the beat entry, without a worker -------------------------------------


def test_the_tick_task_is_acknowledged_late():
    assert tick_task.name == TICK_TASK
    assert tick_task.acks_late is True


@pytest.mark.django_db
def test_the_tick_task_returns_the_report_lines():
    lines = tick_task.apply().get()
    assert isinstance(lines, list) and lines[0].startswith("0 run(s) created")


def test_the_beat_entry_ticks_every_interval_and_drops_stale_ticks(settings):
    assert beat_schedule(7) == {TICK_ENTRY: {"task": TICK_TASK, "schedule": 7.0, "options": {"expires": 7}}}
    assert beat_schedule()[TICK_ENTRY]["schedule"] == 5.0  # the default TICK_INTERVAL
    settings.POLYFLOW = {**settings.POLYFLOW, "TICK_INTERVAL": 2}
    assert beat_schedule()[TICK_ENTRY]["options"] == {"expires": 2}
    for bad in (0, 1.5, True, "5"):
        with pytest.raises(ImproperlyConfigured, match="expected an integer of at least 1"):
            beat_schedule(bad)


HOST_SETTINGS = """\
from polyflow.tasks import beat_schedule
SECRET_KEY = "not-secret"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "polyflow"]
POLYFLOW = {"TICK_INTERVAL": 3}
CELERY_BEAT_SCHEDULE = {**beat_schedule(%s), "other": {"task": "x", "schedule": 60.0}}
"""
PRINT_SCHEDULE = "import django; django.setup(); from django.conf import settings; print(settings.CELERY_BEAT_SCHEDULE)"


def test_a_host_project_merges_the_entry_in_its_settings(tmp_path):
    env = {**clean_environ(tmp_path / "home"), "PYTHONPATH": str(tmp_path), "DJANGO_SETTINGS_MODULE": "host"}
    (tmp_path / "host.py").write_text(HOST_SETTINGS % "interval=POLYFLOW['TICK_INTERVAL']")
    result = run_python("-c", PRINT_SCHEDULE, env=env)
    assert result.returncode == 0, result.stderr
    assert "'polyflow-tick': {'task': 'polyflow.tick', 'schedule': 3.0, 'options': {'expires': 3}}" in result.stdout
    assert "'other'" in result.stdout

    # Without the interval, settings.py would configure Django with half of
    # itself: refused, with the way out.
    (tmp_path / "host.py").write_text(HOST_SETTINGS % "")
    result = run_python("-c", PRINT_SCHEDULE, env=env)
    assert result.returncode != 0
    assert "beat_schedule() was called while the settings module is loading" in result.stderr
    assert "pass it, beat_schedule(interval=5)" in result.stderr


def test_the_standalone_app_reads_the_interval_from_the_environment(clean_env, tmp_path):
    env = {**clean_env, "POLYFLOW_HOME": str(tmp_path / "pf"), "POLYFLOW_TICK_INTERVAL": "4"}
    code = ("from polyflow.standalone.celery import app; c = app.conf; "
            "print(c.beat_schedule, c.broker_url, c.result_backend, c.beat_schedule_filename)")
    result = run_python("-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(", 'options'")[0] == "{'polyflow-tick': {'task': 'polyflow.tick', 'schedule': 4.0"
    assert result.stdout.rstrip().endswith(f"None None {tmp_path / 'pf' / 'celerybeat-schedule'}")
