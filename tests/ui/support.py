"""The dashboard's test data: the announcement's seed pipeline (examples/) applied through the services."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model

from polyflow.models import ProjectMember
from polyflow.services.apply import apply_text
from polyflow.services.projects import add_member, create_project
from polyflow.services.registry import apply_owner_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
USERS = {"owner": "alice", "member": "mona", "viewer": "vera", "stranger": "sam", "staff": "root"}


def make_users() -> dict:
    model = get_user_model()
    users = {role: model.objects.create_user(name, password="pw", is_staff=role == "staff")
             for role, name in USERS.items()}
    return users


def seed(users: dict):
    """alice's project `seed` with examples/test-pipeline.yaml (and its action); mona a member, vera a viewer."""
    alice = users["owner"]
    apply_owner_text(alice, (EXAMPLES / "actions" / "deep-wide-model.yaml").read_text())
    project = create_project(alice, "seed", "The pipeline of the Polyflow announcement")
    add_member(project, users["member"].username, ProjectMember.Role.MEMBER)
    add_member(project, users["viewer"].username, ProjectMember.Role.VIEWER)
    pipeline = apply_text(project, (EXAMPLES / "test-pipeline.yaml").read_text(), user=alice).pipelines[0][0]
    return project, pipeline


QUICKSTART_OUTPUTS = {
    "prepare": {"train": "/data/train.csv", "test": "/data/test.csv"},
    "train-slow": {"model": "/models/slow.json", "loss": 0.41},
    "train-fast": {"model": "/models/fast.json", "loss": 0.22},
    "evaluate-slow": {"accuracy": 0.87},
    "evaluate-fast": {"accuracy": 0.94},
    "select-best": {"best_model": "/models/fast.json", "best_accuracy": 0.94},
}


def playground(users: dict):
    """alice's project `playground` with examples/quickstart.yaml and examples/cron.yaml (paused)."""
    project = create_project(users["owner"], "playground", "Examples to try things out")
    quickstart = apply_text(project, (EXAMPLES / "quickstart.yaml").read_text(), user=users["owner"]).pipelines[0][0]
    nightly = apply_text(project, (EXAMPLES / "cron.yaml").read_text(), user=users["owner"]).pipelines[0][0]
    return project, quickstart, nightly


BACKEND = None  # the browser test's InstantBackend, for the API's logs endpoint (see current_backend)


def current_backend():
    """Registered as the backend named "instant" by the browser test: get_backend("instant") calls this."""
    return BACKEND


# A pipeline with a 3x3 grid group between two ops; its last op is an experiment (it reports metrics).
TUNING = """\
version: 1
kind: pipeline
name: tuning
ops:
  - {name: prepare, template: {name: prepare}}
  - name: tune
    template: {name: train}
    dependencies: [prepare]
    matrix:
      kind: grid
      concurrency: 3
      params:
        lr: {kind: logspace, value: "0.001:0.1:3"}
        depth: {kind: choice, value: [2, 4, 8]}
      metric: {name: accuracy, optimization: maximize}
  - {name: report, template: {name: evaluate}, dependencies: [tune], params: {lr: '{{ ops.tune.best.params.lr }}'}}
templates:
  - {kind: job, name: prepare, container: {image: 'python:3.11', command: [python, -c, pass]}}
  - kind: job
    name: train
    inputs: [{name: lr, type: float}, {name: depth, type: int}]
    outputs: [{name: accuracy, type: float}]
    container: {image: 'python:3.11', command: [python, -c, pass]}
  - kind: experiment
    name: evaluate
    inputs: [{name: lr, type: float}]
    outputs: [{name: accuracy, type: float}]
    container: {image: 'python:3.11', command: [python, -c, pass]}
"""
LRS, DEPTHS = (0.001, 0.01, 0.1), (2, 4, 8)
BEST_TRIAL = 5  # lr 0.01, depth 8


def accuracy(lr: float, depth: int) -> float:
    """The trials' accuracy: the best, 0.7 at lr 0.01 and depth 8 (trial 5), is the only one that high."""
    return round(0.5 + {2: 0.05, 4: 0.1, 8: 0.2}[depth] - (0 if lr == 0.01 else 0.1), 4)


TUNING_OUTPUTS = {"tune": lambda submission: {"accuracy": accuracy(submission.params["lr"],
                                                                  submission.params["depth"])},
                  "report": {"accuracy": 0.71}}


def tuning(owner):
    """`owner`'s project `tuning` with the TUNING pipeline."""
    project = create_project(owner, "tuning", "A grid search")
    return project, apply_text(project, TUNING, user=owner).pipelines[0][0]


def learning_curve(final: float, steps: int = 12) -> list[float]:
    """A metric rising to `final`, which it ends on."""
    return [round(final * (1 - 0.7 ** step), 4) for step in range(1, steps)] + [final]


def report_metrics(op_run, name: str, values, start_step: int = 1):
    """Metric points of `op_run`'s current attempt, as a backend's report would leave them."""
    from polyflow.models import MetricPoint

    MetricPoint.objects.bulk_create(MetricPoint(op_run=op_run, attempt=op_run.attempt, step=step, name=name,
                                                value=value) for step, value in enumerate(values, start_step))
    op_run.metrics = {**op_run.metrics, name: values[-1], "step": start_step + len(values) - 1}
    op_run.save(update_fields=["metrics"])


# An event of alice's registry and a pipeline of the seed project that runs when it fires.
EVENTS = """\
version: 1
kind: event
name: data-ready
description: New data landed in the bucket.
inputs:
  - {name: size, type: int, description: rows landed}
  - {name: mode, type: str, options: [full, delta], default: delta}
---
version: 1
kind: pipeline
name: on-data
events: [{name: data-ready}]
ops:
  - {name: use, template: {name: use}}
templates:
  - kind: job
    name: use
    inputs: [{name: size, type: int, default: 3}]
    container: {image: 'python:3.11', command: [python, -c, pass]}
"""


def registry(users: dict, project):
    """alice's event `data-ready` (subscribed by the seed project's `on-data`) and a second
    version of the action deep-wide-model (a new default for `lr`)."""
    alice = users["owner"]
    apply_text(project, EVENTS, user=alice)
    text = (EXAMPLES / "actions" / "deep-wide-model.yaml").read_text()
    apply_owner_text(alice, text.replace("default: 0.01", "default: 0.02").replace("version: 1\n", "version: 2\n"))
