"""Exported DAGs run in a real Airflow (`airflow dags test`, SQLite in a home of its own) with the
local executor: the quickstart gives the outputs `polyflow run` gives; skip_on_upstream_skip, which
Airflow lacks, is emulated; a mapping op fans out over an upstream's output through dynamic task
mapping and its downstream gets the list of the trials' outputs."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from polyflow.export import exporter
from tests.conftest import clean_environ
from tests.export.airflow_support import ROOT, airflow, plans_of, plans_of_texts  # noqa: F401  (a fixture)

FINISHED = re.compile(r"DagRun Finished: dag_id=(\S+),.*?\bstate=(\w+)")


def dags_test(airflow, plan, runs: Path) -> str:  # noqa: F811  (the fixture's value)
    exported = exporter("airflow")(plan, executor="local")
    folder = runs.parent / "dags"  # this DAG alone: Airflow parses no other test's files
    folder.mkdir()
    (folder / exported.filename).write_text(exported.text)
    done = airflow.run("dags", "test", plan.name, timeout=600, POLYFLOW_AIRFLOW_RUNS=str(runs),
                       AIRFLOW__LOGGING__LOGGING_LEVEL="INFO", AIRFLOW__CORE__DAGS_FOLDER=str(folder))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    states = dict(FINISHED.findall(output))
    assert plan.name in states, output[-4000:]
    return states[plan.name]


def airflow_attempts(runs: Path, dag_id: str) -> dict[str, Path]:
    """The attempt directories of the one DAG run of `dag_id`, by task (and map index)."""
    (run,) = (runs / dag_id).iterdir()
    return {path.name: path for path in run.iterdir()}


def polyflow_attempts(home: Path) -> dict[str, Path]:
    """The local backend's attempt directories of a `polyflow run`, by op."""
    found = {}
    for directory in (home / "runs").glob("*/"):
        if not (directory / "spec.json").exists():
            continue  # the backend's own directories (.listeners)
        spec = json.loads((directory / "spec.json").read_text())
        found[spec["env"]["POLYFLOW_OP_NAME"]] = directory
    return found


def published(attempt: Path) -> dict:
    """What an op published, comparable across the two: its outputs file, with each path output
    (a URI in Polyflow, a path in Airflow: they differ) as the contents the op wrote at
    $POLYFLOW_OUTPUTS_DIR/<name>, numbers to the 4th decimal."""
    outputs_file = attempt / "outputs.json"
    outputs = json.loads(outputs_file.read_text()) if outputs_file.exists() else {}
    outputs = {name: round(value, 4) if isinstance(value, float) and math.isfinite(value) else value
               for name, value in outputs.items()}
    written = attempt / "outputs"
    for path in sorted(written.iterdir()) if written.is_dir() else ():
        outputs[path.name] = ("file", path.read_text())
    return outputs


def test_the_quickstart_runs_in_airflow_with_the_outputs_of_polyflow_run(airflow, tmp_path):  # noqa: F811
    (plan,) = plans_of(ROOT / "examples" / "quickstart.yaml")
    assert dags_test(airflow, plan, tmp_path / "airflow-runs") == "success"
    attempts = airflow_attempts(tmp_path / "airflow-runs", "quickstart")
    in_airflow = {name.rsplit("-", 1)[0]: published(path) for name, path in attempts.items()}
    # notify (one_failed) is skipped in both: it never ran.
    assert "notify-1" not in attempts

    env = clean_environ(tmp_path / "user")
    env["POLYFLOW_HOME"] = str(tmp_path / "polyflow-home")
    done = subprocess.run([sys.executable, "-m", "polyflow.cli", "run", str(ROOT / "examples" / "quickstart.yaml")],
                          env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    in_polyflow = {op: published(path) for op, path in polyflow_attempts(tmp_path / "polyflow-home").items()}

    assert set(in_airflow) == set(in_polyflow) == {"prepare", "train-slow", "train-fast", "evaluate-slow",
                                                   "evaluate-fast", "select-best"}
    for op, outputs in in_polyflow.items():
        assert in_airflow[op] == outputs, op
    assert set(in_airflow["prepare"]) == {"train", "test"}  # the data set's files, compared by contents
    assert set(in_airflow["select-best"]) == {"best_model", "best_accuracy"}
    # The params file holds the path input as Polyflow's local backend gives it: a copy of the
    # upstream's file in the task's own inputs directory.
    params = json.loads((attempts["select-best-1"] / "params.json").read_text())
    copy = attempts["select-best-1"] / "inputs" / "model_b"
    assert params["model_b"] == str(copy)
    assert copy.read_text() == (attempts["train-fast-1"] / "outputs" / "model").read_text()


EMULATION = """\
version: 1
kind: pipeline
name: emulation
ops:
  - {name: lister, template: {name: lister}}
  - {name: skipped, template: {name: step}, dependencies: [lister], trigger: one_failed}
  - {name: skips-too, template: {name: step}, dependencies: [lister, skipped], trigger: all_done,
     skip_on_upstream_skip: true}
  - {name: runs, template: {name: step}, dependencies: [lister, skipped], trigger: all_done}
  - name: shard
    template: {name: shard}
    params: {prefix: 'part of {{ globals.op_name }}'}
    matrix: {kind: mapping, values: '{{ ops.lister.outputs.shards }}'}
  - {name: total, template: {name: total}, params: {rows: '{{ ops.shard.outputs.rows }}'}}
templates:
  - kind: job
    name: lister
    outputs: [{name: shards, type: list}]
    container:
      image: python:3.11-slim
      command: [python3, -c, "import json, os; json.dump({'shards': [{'name': 'a'}, {'name': 'bb'}, {'name': 'ccc'}]},
                              open(os.environ['POLYFLOW_OUTPUTS_FILE'], 'w'))"]
  - kind: job
    name: step
    container: {image: python:3.11-slim, command: [python3, -c, pass]}
  - kind: job
    name: shard
    inputs: [{name: name, type: str}, {name: prefix, type: str}]
    outputs: [{name: rows, type: int}, {name: arg, type: str}, {name: trial, type: str}]
    container:
      image: python:3.11-slim
      command: [python3, -c, "import json, os, sys; json.dump({'rows': len(os.environ['POLYFLOW_PARAM_NAME']),
                              'arg': sys.argv[1], 'trial': os.environ['POLYFLOW_TRIAL']},
                              open(os.environ['POLYFLOW_OUTPUTS_FILE'], 'w'))",
                "{{ params.prefix | shell_quote }}"]
  - kind: job
    name: total
    inputs: [{name: rows, type: list}]
    outputs: [{name: sum, type: int}]
    container:
      image: python:3.11-slim
      command: [python3, -c, "import json, os; rows = json.loads(os.environ['POLYFLOW_PARAM_ROWS']);
                              json.dump({'sum': sum(rows)}, open(os.environ['POLYFLOW_OUTPUTS_FILE'], 'w'))"]
"""


def test_skip_on_upstream_skip_and_a_mapping_run_in_airflow(airflow, tmp_path):  # noqa: F811
    (plan,) = plans_of_texts(EMULATION)
    assert dags_test(airflow, plan, tmp_path / "runs") == "success"
    attempts = airflow_attempts(tmp_path / "runs", "emulation")
    # `skipped` (one_failed, its upstream succeeded) never ran; `skips-too` saw it skipped and skipped
    # itself before running anything, where `runs` (all_done without the setting) ran.
    assert "skipped-1" not in attempts
    assert "runs-1" in attempts
    assert not (attempts.get("skips-too-1", tmp_path / "none") / "params.json").exists()
    # One trial per item of lister's output, each with its item's params and its own index.
    trials = {name: json.loads((path / "params.json").read_text()) for name, path in attempts.items()
              if name.startswith("shard-")}
    assert trials == {"shard-0-1": {"name": "a", "prefix": "part of shard"},
                      "shard-1-1": {"name": "bb", "prefix": "part of shard"},
                      "shard-2-1": {"name": "ccc", "prefix": "part of shard"}}
    # A value shell-quoted in the command reaches the process as Polyflow passes it: one quoted word.
    assert json.loads((attempts["shard-1-1"] / "outputs.json").read_text()) == {
        "rows": 2, "arg": "'part of shard'", "trial": "1"}
    # The group's output is the list over its trials, in trial order.
    total = json.loads((attempts["total-1"] / "outputs.json").read_text())
    assert total == {"sum": 6}
    assert json.loads((attempts["total-1"] / "params.json").read_text()) == {"rows": [1, 2, 3]}


@pytest.mark.parametrize("executor", ["local"])
def test_a_retried_task_gets_a_fresh_attempt_directory(airflow, tmp_path, executor):  # noqa: F811
    """Polyflow's attempts are numbered from 1 like Airflow's tries: a retry runs in a directory of its own."""
    (plan,) = plans_of_texts("""\
version: 1
kind: pipeline
name: flaky
ops:
  - {name: flaky, template: {name: flaky}, max_retries: 1, retry_delay: 0}
templates:
  - kind: job
    name: flaky
    container:
      image: python:3.11-slim
      command: [python3, -c, "import os, sys; sys.exit(0 if os.environ['POLYFLOW_ATTEMPT'] == '2' else 3)"]
""")
    assert dags_test(airflow, plan, tmp_path / "runs") == "success"
    assert set(airflow_attempts(tmp_path / "runs", "flaky")) == {"flaky-1", "flaky-2"}


UNWRITTEN = """\
version: 1
kind: pipeline
name: unwritten
ops:
  - {name: make, template: {name: make}}
templates:
  - kind: job
    name: make
    outputs: [{name: data, type: path}, {name: extra, type: path, is_optional: true}]
    container: {image: python:3.11-slim, command: [python3, -c, pass]}
"""


def test_a_required_path_output_not_written_fails_the_task_naming_it(airflow, tmp_path):  # noqa: F811
    (plan,) = plans_of_texts(UNWRITTEN)
    runs = tmp_path / "airflow-runs"
    exported = exporter("airflow")(plan, executor="local")
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / exported.filename).write_text(exported.text)
    done = airflow.run("dags", "test", plan.name, timeout=600, POLYFLOW_AIRFLOW_RUNS=str(runs),
                       AIRFLOW__LOGGING__LOGGING_LEVEL="INFO", AIRFLOW__CORE__DAGS_FOLDER=str(folder))
    output = done.stdout + done.stderr
    assert dict(FINISHED.findall(output)).get(plan.name) == "failed", output[-4000:]
    assert "output 'data' was not written" in output, output[-4000:]
    assert "output 'extra'" not in output  # optional: not written is fine
