"""The Airflow backend (POLYFLOW_BACKEND=airflow) against a real Airflow 3: its API server,
scheduler and DAG processor started by the `live_airflow` fixture. Polyflow's scheduler hands
runs over and mirrors what Airflow's scheduler decides: the quickstart runs there and its op
statuses, outputs and logs show through Polyflow's API over HTTP as a local run's do; a stop
in Polyflow ends the DAG run; a retry in Polyflow is Airflow's clear; a pipeline the export
cannot carry fails saying why."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from rest_framework.authtoken.models import Token

from polyflow.backends import get_backend
from polyflow.backends.airflow import split_handle
from polyflow.exceptions import Conflict, MissingSettings
from polyflow.models import PipelineRun
from polyflow.scheduler.tick import tick
from polyflow.services.apply import apply_text
from polyflow.services.projects import create_project
from polyflow.services.runs import mark_op_run, retry_run, stop_op_run, stop_run, trigger_run
from tests.export.airflow_support import ROOT

from .live_airflow import live_airflow  # noqa: F401 - a fixture

QUICKSTART = ROOT / "examples" / "quickstart.yaml"
FINAL = ("succeeded", "failed", "stopped")


@pytest.fixture
def project(db):
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.create_user("alice", password="pw")
    return create_project(owner, "ml")


@pytest.fixture
def on_airflow(settings, tmp_path, live_airflow):  # noqa: F811 - the fixture's value
    settings.POLYFLOW = {
        **settings.POLYFLOW, "HOME": str(tmp_path), "BACKEND": "airflow", "AIRFLOW_URL": live_airflow.url,
        "AIRFLOW_USERNAME": live_airflow.username, "AIRFLOW_PASSWORD": live_airflow.password,
        "AIRFLOW_DAGS_FOLDER": str(live_airflow.dags_folder), "AIRFLOW_EXECUTOR": "local",
    }
    return live_airflow


def settle(run: PipelineRun, until=lambda run: run.status in FINAL, deadline: float = 180.0) -> None:
    """Tick as the beat would until `until(run)`; Airflow runs the tasks in real time."""
    end = time.monotonic() + deadline
    while True:
        tick()
        run.refresh_from_db()
        if until(run):
            return
        if time.monotonic() > end:
            states = list(run.op_runs.values_list("name", "status", "reason", "message"))
            raise AssertionError(f"run {run.uuid} still {run.status} after {deadline} s: {states}")
        time.sleep(0.5)


def ops_of(run: PipelineRun) -> dict:
    return {op.name: op for op in run.op_runs.all()}


def api(live_server, project, path: str):
    token = Token.objects.get_or_create(user=project.owner)[0].key
    answer = requests.get(f"{live_server.url}/api/v1/{project.owner.username}/{project.name}/{path}",
                          headers={"Authorization": f"Token {token}"}, timeout=30)
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
    return answer.json()


def test_the_quickstart_runs_on_airflow_as_it_runs_locally(project, settings, tmp_path, on_airflow, live_server):
    pipeline = apply_text(project, QUICKSTART.read_text()).pipelines[0][0]
    run = trigger_run(pipeline)
    settle(run)
    ops = ops_of(run)
    assert run.status == "succeeded", [(o.name, o.status, o.reason, o.message) for o in ops.values()]

    # Polyflow's API shows what Airflow's scheduler decided.
    shown = api(live_server, project, f"runs/{run.uuid}/")
    statuses = {op["name"]: op["status"] for op in shown["op_runs"]}
    assert shown["status"] == "succeeded"
    assert statuses == {"prepare": "succeeded", "train-slow": "succeeded", "train-fast": "succeeded",
                        "evaluate-slow": "succeeded", "evaluate-fast": "succeeded", "select-best": "succeeded",
                        "notify": "skipped"}
    for name, op in ops.items():
        assert op.backend == "airflow" and op.handle.endswith(f"/{run.uuid}/{name}")
    dag_id, run_id, _ = split_handle(ops["prepare"].handle)
    assert run_id == str(run.uuid) and dag_id.startswith("polyflow.quickstart.")
    # Each op run went through the statuses a local one does.
    history = api(live_server, project, f"runs/{run.uuid}/ops/train-fast/statuses/")
    assert [row["status"] for row in history["results"]] == ["created", "scheduled", "running", "succeeded"]
    logs = api(live_server, project, f"runs/{run.uuid}/ops/train-fast/logs/")
    assert any("epoch 150/150: loss" in line for line in logs["lines"]), logs["lines"][-20:]

    # The same numbers as on the local backend.
    settings.POLYFLOW = {**settings.POLYFLOW, "BACKEND": "local", "HOME": str(tmp_path / "local")}
    local = trigger_run(pipeline)
    settle(local, deadline=120)
    assert local.status == "succeeded"
    here, there = ops_of(local), ops_of(run)
    for name in ("train-slow", "train-fast", "evaluate-slow", "evaluate-fast"):
        numbers = {k: v for k, v in here[name].outputs.items() if isinstance(v, float)}
        assert numbers and {k: there[name].outputs[k] for k in numbers} == pytest.approx(numbers, abs=1e-9)
    assert there["select-best"].outputs["best_accuracy"] == pytest.approx(here["select-best"].outputs["best_accuracy"])


SLEEPER = """
version: 1
kind: pipeline
name: sleeper
ops:
  - {name: nap, template: {name: nap}}
  - {name: after, template: {name: nap}, dependencies: [nap]}
templates:
  - {kind: job, name: nap, container: {image: busybox, command: [sleep, "120"]}}
"""


def test_a_stop_in_polyflow_ends_the_dag_run_there(project, on_airflow):
    pipeline = apply_text(project, SLEEPER).pipelines[0][0]
    run = trigger_run(pipeline)
    settle(run, until=lambda run: run.op_runs.get(name="nap").status == "running")
    stop_run(run)
    settle(run, deadline=60)
    ops = ops_of(run)
    assert run.status == "stopped"
    assert (ops["nap"].status, ops["after"].status) == ("stopped", "stopped")
    backend = get_backend("airflow")
    dag_id, run_id, _ = split_handle(ops["nap"].handle)
    dag_run = backend.client.dag_run(dag_id, run_id)
    assert dag_run["state"] == "failed"
    states = {ti["task_id"]: ti["state"] for ti in backend.client.task_instances(dag_id, run_id)}
    assert states["nap"] == "failed" and states["after"] in ("skipped", "upstream_failed", None)


def test_an_op_stopped_alone_is_failed_there_and_airflow_decides_its_downstream(project, on_airflow):
    pipeline = apply_text(project, SLEEPER.replace("name: sleeper", "name: sleeper-op")).pipelines[0][0]
    run = trigger_run(pipeline)
    settle(run, until=lambda run: run.op_runs.get(name="nap").status == "running")
    with pytest.raises(Conflict, match="runs on airflow, whose scheduler decides this run"):
        mark_op_run(run.op_runs.get(name="nap"), "succeeded")
    stop_op_run(run, "nap")
    settle(run, deadline=60)
    ops = ops_of(run)
    assert (run.status, ops["nap"].status, ops["after"].status) == ("failed", "stopped", "upstream_failed")
    backend = get_backend("airflow")
    dag_id, run_id, _ = split_handle(ops["nap"].handle)
    states = {ti["task_id"]: ti["state"] for ti in backend.client.task_instances(dag_id, run_id)}
    assert states == {"nap": "failed", "after": "upstream_failed"}


REPORTER = """
version: 1
kind: pipeline
name: reporter
ops:
  - {name: fit, template: {name: fit}}
templates:
  - kind: job
    name: fit
    container:
      image: python:3.11-slim
      command:
        - python3
        - -c
        - |
          import json
          for step in (1, 2, 3):
              print("polyflow:metrics", json.dumps({"step": step, "loss": 1 / step}), flush=True)
"""


def test_metrics_printed_on_airflow_reach_polyflow(project, on_airflow, live_server):
    pipeline = apply_text(project, REPORTER).pipelines[0][0]
    run = trigger_run(pipeline)
    settle(run)
    assert run.status == "succeeded"
    series = api(live_server, project, f"runs/{run.uuid}/ops/fit/metrics/")
    points = [(step, value) for step, value, _ in series["loss"]]
    assert points == [(1, 1.0), (2, 0.5), (3, pytest.approx(1 / 3))]
    assert run.op_runs.get(name="fit").metrics["loss"] == pytest.approx(1 / 3)


def test_a_mapping_fans_out_as_airflows_mapped_tasks_one_trial_each(project, on_airflow, live_server):
    pipeline = apply_text(project, (Path(__file__).parent / "fanout.yaml").read_text()).pipelines[0][0]
    run = trigger_run(pipeline)
    settle(run)
    ops = {(op.name, op.trial): op for op in run.op_runs.all()}
    assert run.status == "succeeded", [(k, o.status, o.reason, o.message) for k, o in ops.items()]
    group = ops["shard", None]
    assert group.outputs == {"rows": [1, 2, 3]} and group.summary["counts"] == {"succeeded": 3}
    for index, name in enumerate(("a", "bb", "ccc")):
        trial = ops["shard", index]
        assert trial.status == "succeeded" and trial.trial_params == {"name": name}
        assert trial.handle.endswith(f"/{run.uuid}/shard/{index}") and trial.outputs == {"rows": len(name)}
        assert trial.metrics["rows"] == len(name)  # its polyflow:metrics line, from its own log
    assert ops["total", None].outputs == {"sum": 6}
    shown = api(live_server, project, f"runs/{run.uuid}/ops/shard/trials/2/logs/")
    assert 'polyflow:metrics {"rows": 3}' in " ".join(shown["lines"])


FLAKY = """
version: 1
kind: pipeline
name: flaky
ops:
  - {name: first, template: {name: check}, params: {flag: FLAG}}
  - {name: second, template: {name: check}, params: {flag: FLAG}, dependencies: [first]}
templates:
  - kind: job
    name: check
    inputs: [{name: flag, type: str}]
    container: {image: busybox, command: [sh, -c, 'test -e "$POLYFLOW_PARAM_FLAG"']}
"""


def test_a_retry_in_polyflow_is_airflows_clear(project, on_airflow, tmp_path):
    flag = tmp_path / "flag"
    pipeline = apply_text(project, FLAKY.replace("FLAG", str(flag))).pipelines[0][0]
    run = trigger_run(pipeline)
    settle(run)
    ops = ops_of(run)
    assert run.status == "failed"
    assert (ops["first"].status, ops["second"].status) == ("failed", "upstream_failed")
    flag.touch()
    retry_run(run)
    settle(run)
    ops = ops_of(run)
    assert run.status == "succeeded", [(o.name, o.status, o.reason, o.message) for o in ops.values()]
    assert ops["first"].attempt == 2
    backend = get_backend("airflow")
    dag_id, run_id, _ = split_handle(ops["first"].handle)
    instance = backend.client.task_instance(dag_id, run_id, "first")
    assert (instance["state"], instance["try_number"]) == ("success", 2)


def test_a_pipeline_airflow_cannot_run_is_refused_at_apply_or_fails_its_run_saying_why(project, settings,
                                                                                     on_airflow):
    text = SLEEPER.replace("name: sleeper", "name: shared\nworkspace: {size: 1Gi}")
    with pytest.raises(MissingSettings) as refused:
        apply_text(project, text)
    assert str(refused.value).startswith("1 problem for the airflow backend: pipeline shared: workspace: "
                                         "not carried to Airflow")
    # Applied while the server ran it elsewhere: its run fails when it is handed over.
    settings.POLYFLOW = {**settings.POLYFLOW, "BACKEND": "local"}
    pipeline = apply_text(project, text).pipelines[0][0]
    settings.POLYFLOW = {**settings.POLYFLOW, "BACKEND": "airflow"}
    run = trigger_run(pipeline)
    settle(run, deadline=30)
    ops = ops_of(run)
    assert run.status == "failed"
    assert ops["nap"].reason == "submit_error"
    assert "the Airflow backend cannot run this pipeline" in ops["nap"].message
    assert "workspace" in ops["nap"].message
