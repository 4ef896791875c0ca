"""Runs and op runs: trigger, list with filters, read, stop, retry, statuses, logs."""

import datetime as dt

import pytest
from django.utils import timezone

from polyflow.models import PipelineRun
from polyflow.services.transitions import transition
from tests.api.conftest import assert_error

RUNS = "alice/vision/runs/"
TRAIN_RUNS = "alice/vision/pipelines/train/runs/"


def test_trigger_with_params(alice_api):
    response = alice_api.post(TRAIN_RUNS, json={"params": {"fit": {"size": 9}}})
    assert response.status_code == 201, response.text
    run = response.json()
    assert (run["owner"], run["project"], run["pipeline"]) == ("alice", "vision", "train")
    assert run["params"] == {"fit": {"size": 9}}
    assert run["created_by"] == "alice"
    assert run["event"] is None and run["schedule_at"] is None
    assert [(op["name"], op["params"]) for op in run["op_runs"]] == [("prepare", {"size": 1}), ("fit", {"size": 9})]
    assert alice_api.get(RUNS + run["uuid"] + "/").json() == run


def test_trigger_without_a_body(alice_api):
    response = alice_api.post(TRAIN_RUNS)
    assert response.status_code == 201, response.text
    assert response.json()["params"] == {}


@pytest.mark.parametrize(("params", "path"), [
    ({"nope": {}}, "params.nope"),
    ({"fit": {"sise": 1}}, "params.fit.sise"),
    ({"fit": {"size": "big"}}, "params.fit.size"),
    ({"fit": {"size": "{{ ops.prepare.outputs.x }}"}}, "params.fit.size"),
])
def test_invalid_params_are_422_with_their_path(alice_api, params, path):
    body = assert_error(alice_api.post(TRAIN_RUNS, json={"params": params}), 422, "invalid")
    assert path in [error["path"] for error in body["errors"]], body


@pytest.mark.parametrize(("params", "path"), [
    ({"fit": 5}, "params.fit"),
    ({"fit": None}, "params.fit"),
    ([1], "params"),
    ("x", "params"),
])
def test_params_of_another_shape_than_the_schema_are_400(alice_api, params, path):
    body = assert_error(alice_api.post(TRAIN_RUNS, json={"params": params}), 400, "invalid")
    assert path in [error["path"] for error in body["errors"]], body


def test_a_huge_int_is_an_int(alice_api):
    response = alice_api.post(TRAIN_RUNS, json={"params": {"fit": {"size": 10 ** 30}}})
    assert response.status_code == 201, response.text
    assert response.json()["op_runs"][1]["params"] == {"size": 10 ** 30}


def test_odd_json_values_are_refused(alice_api):
    # Not JSON, or not JSON Python reads: a 400.
    for raw in (b'{"params": {"fit": {"size": NaN}}}', b'{"params": {"fit": {"size": ' + b"9" * 5000 + b"}}}",
                b"[" * 100_000):
        response = alice_api.post(TRAIN_RUNS, data=raw, headers={"Content-Type": "application/json"})
        assert_error(response, 400, "parse_error")
    # JSON that the database could not store: a 422 naming where.
    for raw, path in ((b'{"params": {"fit": {"size": 1e400}}}', "params.fit.size"),
                      (b'{"params": {"fit": {"size": "a\\u0000b"}}}', "params.fit.size"),
                      (b'{"params": {"fit": {"\\ud800": 1}}}', r"params.fit['\ud800']")):
        response = alice_api.post(TRAIN_RUNS, data=raw, headers={"Content-Type": "application/json"})
        assert assert_error(response, 422, "invalid")["errors"][0]["path"] == path
    nested = {"params": {"fit": {"size": 1}}}
    for _ in range(80):
        nested = {"x": nested}
    assert_error(alice_api.post(TRAIN_RUNS, json=nested), 422, "invalid")


def test_list_filters_and_ordering(world, alice_api):
    newer = alice_api.post("alice/vision/pipelines/spare/runs/", json={}).json()
    listed = alice_api.get(RUNS).json()
    assert listed["count"] == 3
    assert listed["results"][0]["uuid"] == newer["uuid"]  # newest first
    assert [op["name"] for op in listed["results"][0]["op_runs"]] == ["prepare", "fit"]

    oldest_first = alice_api.get(RUNS, params={"ordering": "created_at"}).json()["results"]
    assert [run["uuid"] for run in oldest_first] == [run["uuid"] for run in reversed(listed["results"])]

    def uuids(**params):
        response = alice_api.get(RUNS, params=params)
        assert response.status_code == 200, response.text
        return {run["uuid"] for run in response.json()["results"]}

    active, stopped = str(world.active_run.uuid), str(world.stopped_run.uuid)
    assert uuids(pipeline="train") == {active, stopped}
    assert uuids(pipeline="nothing") == set()
    assert uuids(status="stopped") == {stopped}
    assert uuids(status=["stopped", "created"]) == {active, stopped, newer["uuid"]}
    later = timezone.now() + dt.timedelta(hours=1)
    assert uuids(created_before=later.isoformat()) == {active, stopped, newer["uuid"]}
    assert uuids(created_after=later.isoformat()) == set()
    assert uuids(created_after="2000-01-01") == {active, stopped, newer["uuid"]}  # no time zone: UTC
    assert alice_api.get(TRAIN_RUNS, params={"status": "created"}).json()["count"] == 1


@pytest.mark.parametrize(("params", "path"), [
    ({"status": "sleeping"}, "status[0]"),
    ({"created_after": "yesterday"}, "created_after"),
    ({"ordering": "name"}, "ordering"),
    ({"pipeline": "a\x00b"}, "pipeline"),
    ({"created_after": "9999-12-31T23:59:59-12:00"}, "created_after"),
    ({"created_before": "0001-01-01T00:00:00+14:00"}, "created_before"),
])
def test_invalid_filters_are_400_in_the_query(alice_api, params, path):
    body = assert_error(alice_api.get(RUNS, params=params), 400, "invalid")
    assert [(error["source"], error["path"]) for error in body["errors"]] == [("query", path)]


def test_bad_run_ids_are_404(alice_api):
    for run_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000000", "1" * 500, "%00", "%20"):
        assert_error(alice_api.get(RUNS + run_id + "/"), 404, "not_found")
        assert_error(alice_api.post(RUNS + run_id + "/stop/"), 404, "not_found")


def test_runs_of_another_project_are_not_found(world, alice_api):
    alice_api.post("alice/projects/", json={"name": "other"})
    assert_error(alice_api.get(f"alice/other/runs/{world.active_run.uuid}/"), 404, "not_found")


def test_stop_retry_and_their_conflicts(world, alice_api):
    run = f"{RUNS}{world.active_run.uuid}/"
    assert_error(alice_api.post(run + "retry/"), 409, "conflict")
    stopped = alice_api.post(run + "stop/").json()
    assert stopped["status"] == "stopped"
    assert stopped["finished_at"] is not None
    assert_error(alice_api.post(run + "stop/"), 409, "conflict")
    retried = alice_api.post(run + "retry/").json()
    assert retried["status"] == "created"
    assert retried["finished_at"] is None


def test_op_run_endpoints(world, alice_api):
    run = f"{RUNS}{world.active_run.uuid}/"
    op = alice_api.get(run + "ops/prepare/").json()
    assert (op["name"], op["status"], op["attempt"], op["run"]) == ("prepare", "created", 1,
                                                                    str(world.active_run.uuid))
    assert op["exit_code"] is None and op["outputs"] == {}
    assert alice_api.get(run + "ops/prepare/logs/").json() == {"op": "prepare", "attempt": 1, "lines": []}
    assert_error(alice_api.post(run + "ops/prepare/retry/"), 409, "conflict")

    stopped = alice_api.post(run + "ops/prepare/stop/").json()
    assert stopped["status"] == "stopped"
    assert_error(alice_api.post(run + "ops/prepare/stop/"), 409, "conflict")
    assert alice_api.get(run).json()["op_runs"][1]["status"] == "created"  # only that op

    retried = alice_api.post(run + "ops/prepare/retry/").json()
    assert (retried["status"], retried["attempt"]) == ("created", 2)
    assert alice_api.get(run + "ops/prepare/logs/").json()["attempt"] == 2
    history = alice_api.get(run + "ops/prepare/statuses/").json()["results"]
    assert [(s["status"], s["attempt"], s["reason"]) for s in history] == [
        ("created", 1, ""), ("stopped", 1, "stopped"), ("created", 2, "retry")]
    for path in ("", "logs/", "statuses/", "stop/", "retry/"):
        method = alice_api.post if path in ("stop/", "retry/") else alice_api.get
        assert_error(method(run + "ops/nothing/" + path), 404, "not_found")


def test_run_shows_backend_fields(world, alice_api):
    """What the scheduler and backends write shows up as is (written here through the transition function)."""
    op_run = world.active_run.op_runs.get(name="prepare")
    transition(op_run, "scheduled", updates={"backend": "local", "handle": "train-prepare-1"})
    transition(op_run, "running")
    transition(op_run, "succeeded", updates={"outputs": {"rows": 3}, "exit_code": 0})
    op = alice_api.get(f"{RUNS}{world.active_run.uuid}/ops/prepare/").json()
    assert (op["status"], op["backend"], op["handle"], op["exit_code"], op["outputs"]) == (
        "succeeded", "local", "train-prepare-1", 0, {"rows": 3})
    assert op["started_at"] is not None and op["finished_at"] is not None
    assert PipelineRun.objects.get(pk=world.active_run.pk).status == "created"


def test_logs_come_from_the_backend_that_ran_the_op(world, alice_api, settings, tmp_path):
    import time

    from polyflow.backends.local import LocalBackend
    from polyflow.scheduler.tick import tick

    settings.POLYFLOW = {**settings.POLYFLOW, "HOME": str(tmp_path)}
    run = alice_api.post(TRAIN_RUNS, json={"params": {"fit": {"size": 42}}}).json()
    backend, deadline = LocalBackend(), time.monotonic() + 30
    while alice_api.get(RUNS + run["uuid"] + "/").json()["status"] != "succeeded":
        assert time.monotonic() < deadline, "the run did not finish"
        tick(backend=backend)
        time.sleep(0.05)
    lines = alice_api.get(RUNS + run["uuid"] + "/ops/fit/logs/").json()["lines"]
    assert lines[-1] == "42"


def test_logs_of_each_attempt_and_their_tail(world, alice_api, settings, tmp_path):
    import time

    from polyflow.backends.local import LocalBackend
    from polyflow.scheduler.tick import tick

    settings.POLYFLOW = {**settings.POLYFLOW, "HOME": str(tmp_path)}
    marker = tmp_path / "tried"
    text = f"""\
version: 1
kind: pipeline
name: flaky
ops: [{{name: try, template: {{name: try}}, max_retries: 1, retry_delay: 0}}]
templates:
  - kind: job
    name: try
    container:
      image: busybox
      command: [sh, -c, 'echo start; if [ -e {marker} ]; then echo second; else touch {marker}; echo first; exit 3; fi']
"""
    assert alice_api.post("alice/vision/pipelines/", yaml=text).status_code == 201
    run = alice_api.post("alice/vision/pipelines/flaky/runs/", json={}).json()
    backend, deadline = LocalBackend(), time.monotonic() + 30
    while alice_api.get(RUNS + run["uuid"] + "/").json()["status"] != "succeeded":
        assert time.monotonic() < deadline, "the run did not finish"
        tick(backend=backend)
        time.sleep(0.05)
    logs = RUNS + run["uuid"] + "/ops/try/logs/"
    current = alice_api.get(logs).json()
    assert (current["attempt"], current["lines"][-2:]) == (2, ["start", "second"])
    first = alice_api.get(logs + "?attempt=1").json()
    assert (first["attempt"], first["lines"][-2:]) == (1, ["start", "first"])
    assert alice_api.get(logs + "?attempt=1&tail=1").json()["lines"] == ["first"]
    body = assert_error(alice_api.get(logs + "?attempt=3"), 404, "not_found")
    assert body["message"] == "try has no attempt 3 (attempts: 1 to 2)"
    assert_error(alice_api.get(logs + "?tail=0"), 400, "invalid")
