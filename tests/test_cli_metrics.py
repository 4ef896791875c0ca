"""`polyflow runs show` prints each op's latest metrics (in-process, on PostgreSQL)."""

import json

import pytest
from click.testing import CliRunner
from django.contrib.auth import get_user_model

from polyflow.cli import main
from polyflow.cli.runs import metrics_text
from polyflow.scheduler.metric_lines import Record
from polyflow.services.apply import apply_text
from polyflow.services.metrics import MetricsRead, record_metrics
from polyflow.services.projects import create_project
from polyflow.services.runs import trigger_run

pytestmark = pytest.mark.django_db

PIPELINE = """\
version: 1
kind: pipeline
name: tracked
ops:
  - {name: train, template: {name: t}}
  - {name: evaluate, template: {name: t}, dependencies: [train]}
templates:
  - {kind: experiment, name: t, container: {image: busybox, command: ['true']}}
"""


def test_runs_show_prints_the_latest_metrics_of_each_op_that_has_any():
    project = create_project(get_user_model().objects.create_user("alice"), "ml")
    run = trigger_run(apply_text(project, PIPELINE).pipelines[0][0])
    train = run.op_runs.get(name="train")
    record_metrics([MetricsRead(train.pk, 1, "1:120", [Record(29, {"loss": 0.3}), Record(30, {"accuracy": 0.91,
                                                                                               "loss": 0.2})],
                                {"step": 30, "accuracy": 0.91, "loss": 0.2})])
    result = CliRunner().invoke(main, ["runs", "show", str(run.uuid)])
    assert result.exit_code == 0, result.output
    assert result.output.endswith("\nMETRICS (latest)\ntrain  accuracy=0.91 loss=0.2 (step 30)\n")
    assert "evaluate  " not in result.output.split("METRICS")[1]
    shown = json.loads(CliRunner().invoke(main, ["runs", "show", str(run.uuid), "-o", "json"]).output)
    assert {op["name"]: op["metrics"] for op in shown["op_runs"]} == {
        "train": {"step": 30, "accuracy": 0.91, "loss": 0.2}, "evaluate": {}}


def test_metrics_text():
    assert metrics_text({}) == ""
    assert metrics_text({"step": 3}) == ""
    assert metrics_text({"step": 3, "lr": 0.000123456789, "epochs": 2.0}) == "epochs=2 lr=0.000123457 (step 3)"
