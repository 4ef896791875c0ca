"""Matrix ops on PostgreSQL with the local backend running real commands (DESIGN section 9)."""

import datetime as dt
import time

import pytest

from polyflow.backends.local import LocalBackend
from polyflow.scheduler.tick import tick
from polyflow.services.runs import trigger_run

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

TEMPLATES = """\
templates:
  - kind: experiment
    name: train
    inputs: [{name: lr, type: float}, {name: depth, type: int}]
    outputs: [{name: accuracy, type: float}]
    container:
      image: python:3.11
      command:
        - python3
        - -c
        - "import json, os, time; time.sleep(0.3); acc = round({{ params.lr }} * {{ params.depth }}, 6);
           json.dump({'accuracy': acc}, open(os.environ['POLYFLOW_OUTPUTS_FILE'], 'w'))"
  - kind: job
    name: use
    inputs: [{name: value, type: any}]
    container: {image: busybox, command: [sh, -c, 'echo got {{ params.value }}']}
  - kind: job
    name: list
    outputs: [{name: shards, type: list}]
    container:
      image: busybox
      command:
        - python3
        - -c
        - "import json, os; json.dump({'shards': [{'lr': i / 10} for i in range(1, 6)]},
           open(os.environ['POLYFLOW_OUTPUTS_FILE'], 'w'))"
"""


@pytest.fixture
def local(settings, tmp_path):
    settings.POLYFLOW = {**settings.POLYFLOW, "HOME": str(tmp_path)}
    return LocalBackend(kill_grace=0.5)


def run_to_end(run, backend, deadline=60.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        tick(T0, backend)
        run.refresh_from_db()
        if run.status in ("succeeded", "failed", "stopped"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run still {run.status}: {list(run.op_runs.values_list('name', 'trial', 'status'))}")


def trials(run):
    return list(run.op_runs.filter(trial__isnull=False).order_by("trial"))


def most_at_once(op_runs) -> int:
    """The most attempts whose [started, finished] intervals overlap at one instant."""
    edges = sorted([(o.started_at, 1) for o in op_runs] + [(o.finished_at, -1) for o in op_runs])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def test_a_grid_with_concurrency_2_never_runs_more_than_2_and_feeds_the_best_params(apply, local):
    pipeline = apply("""\
version: 1
kind: pipeline
name: grid
ops:
  - name: tune
    template: {name: train}
    matrix:
      kind: grid
      concurrency: 2
      params:
        lr: {kind: choice, value: [0.1, 0.2, 0.3]}
        depth: {kind: choice, value: [2, 4, 8]}
      metric: {name: accuracy, optimization: maximize}
  - {name: report, template: {name: use}, params: {value: '{{ ops.tune.best.params.lr }}'}}
""" + TEMPLATES)
    run = run_to_end(trigger_run(pipeline), local)
    assert run.status == "succeeded"
    done = trials(run)
    assert len(done) == 9 and {t.status for t in done} == {"succeeded"}
    assert most_at_once(done) == 2
    group = run.op_runs.get(name="tune", trial__isnull=True)
    assert group.summary["best"]["params"] == {"lr": 0.3, "depth": 8}
    report = run.op_runs.get(name="report")
    assert report.params["value"] == 0.3
    assert "got 0.3" in "".join(local.logs(report.handle))


def test_a_mapping_over_an_upstream_list_of_5_runs_5_trials(apply, local):
    pipeline = apply("""\
version: 1
kind: pipeline
name: shards
ops:
  - {name: list-shards, template: {name: list}}
  - name: tune
    template: {name: train}
    params: {depth: 10}
    matrix: {kind: mapping, values: '{{ ops.list-shards.outputs.shards }}'}
""" + TEMPLATES)
    run = run_to_end(trigger_run(pipeline), local)
    assert run.status == "succeeded"
    assert [t.outputs["accuracy"] for t in trials(run)] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert run.op_runs.get(name="tune", trial__isnull=True).outputs == {"accuracy": [1.0, 2.0, 3.0, 4.0, 5.0]}


def test_a_metric_threshold_stops_the_group_early_on_real_commands(apply, local):
    pipeline = apply("""\
version: 1
kind: pipeline
name: early
ops:
  - name: tune
    template: {name: train}
    matrix:
      kind: grid
      concurrency: 1
      params:
        lr: {kind: choice, value: [0.1, 0.2, 0.3]}
        depth: {kind: choice, value: [2, 4, 8]}
      metric: {name: accuracy, optimization: maximize}
      early_stopping:
        - {kind: metric_early_stopping, metric: accuracy, value: 0.8, optimization: maximize}
""" + TEMPLATES)
    run = run_to_end(trigger_run(pipeline), local)
    assert run.status == "succeeded"
    statuses = [(t.status, t.reason) for t in trials(run)]
    assert statuses[:3] == [("succeeded", "")] * 3
    assert statuses[3:] == [("skipped", "early_stopping")] * 6


FLAKY = """\
  - kind: job
    name: flaky
    inputs: [{name: item, type: int}, {name: marker, type: str}]
    container:
      image: busybox
      # Item 1 fails the first time it runs (the marker is left for its next attempt), item 9 always.
      command: [sh, -c, 'if [ {{ params.item }} = 9 ]; then exit 3; fi;
                         if [ {{ params.item }} = 1 ] && [ ! -e {{ params.marker }} ]; then
                         touch {{ params.marker }}; exit 2; fi']
"""


def test_a_failing_trial_of_a_search_does_not_fail_it(apply, local, tmp_path):
    pipeline = apply(f"""\
version: 1
kind: pipeline
name: search
ops:
  - name: tune
    template: {{name: flaky}}
    params: {{marker: '{tmp_path / "search-marker"}'}}
    matrix:
      kind: grid
      params: {{item: {{kind: choice, value: [0, 9, 2]}}}}
""" + TEMPLATES + FLAKY)
    run = run_to_end(trigger_run(pipeline), local)
    assert [t.status for t in trials(run)] == ["succeeded", "failed", "succeeded"]
    assert run.status == "succeeded"
    assert run.op_runs.get(name="tune", trial__isnull=True).summary["counts"] == {"succeeded": 2, "failed": 1}


def test_a_failing_item_fails_a_mapping_and_a_retry_reruns_only_that_trial(apply, local, tmp_path):
    from polyflow.services.runs import retry_run

    pipeline = apply(f"""\
version: 1
kind: pipeline
name: mapping
ops:
  - name: each
    template: {{name: flaky}}
    params: {{marker: '{tmp_path / "mapping-marker"}'}}
    matrix: {{kind: mapping, values: [{{item: 0}}, {{item: 1}}, {{item: 2}}]}}
""" + TEMPLATES + FLAKY)
    run = run_to_end(trigger_run(pipeline), local)
    assert [t.status for t in trials(run)] == ["succeeded", "failed", "succeeded"]
    assert (run.status, run.op_runs.get(name="each", trial__isnull=True).status) == ("failed", "failed")
    handles = [t.handle for t in trials(run)]
    retry_run(run)
    run = run_to_end(run, local)
    assert run.status == "succeeded"
    again = trials(run)
    assert [(t.status, t.attempt) for t in again] == [("succeeded", 1), ("succeeded", 2), ("succeeded", 1)]
    assert [t.handle for t in again][0::2] == handles[0::2]  # the others did not run again
