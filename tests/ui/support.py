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
