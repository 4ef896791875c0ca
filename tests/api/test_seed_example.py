"""The seed example over HTTP (issue 3, "Must show"): the pipeline is refused
while its action is not in the registry, accepted once it is, and a triggered
run has one created op run per op; then stop, retry and the status history."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from polyflow.services.projects import create_project
from tests.api.conftest import Api, assert_error

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def api(live_server) -> Api:
    alice = get_user_model().objects.create_user("alice", password="pw")
    create_project(alice, "seed")
    return Api(live_server.url, Token.objects.create(user=alice).key)


def test_the_seed_example_flow(api):
    pipeline = (EXAMPLES / "test-pipeline.yaml").read_text()
    action = (EXAMPLES / "actions" / "deep-wide-model.yaml").read_text()

    body = assert_error(api.post("alice/seed/pipelines/", yaml=pipeline), 422, "invalid_spec")
    missing = [error for error in body["errors"] if "deep-wide-model" in error["message"]]
    assert missing, body
    assert missing[0]["path"] == "ops[1].template.action"
    assert missing[0]["source"] == "body"
    assert api.get("alice/seed/pipelines/").json()["count"] == 0

    response = api.post("alice/actions/", yaml=action, content_type="application/x-yaml")
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "deep-wide-model"
    assert response.json()["version"] == 1
    assert response.json()["content"] == action

    response = api.post("alice/seed/pipelines/", yaml=pipeline, content_type="application/x-yaml")
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "test-pipeline"
    assert created["content"] == pipeline
    assert [op["name"] for op in created["ops"]] == ["job1", "deep-wide-experiment"]
    assert created["ops"][1]["action"] == {"name": "deep-wide-model", "version": 1}
    assert created["schedule"]["kind"] == "interval"

    response = api.post("alice/seed/pipelines/test-pipeline/runs/", json={})
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["status"] == "created"
    assert run["trigger"] == "manual"
    assert [(op["name"], op["status"], op["attempt"]) for op in run["op_runs"]] == [
        ("job1", "created", 1), ("deep-wide-experiment", "created", 1),
    ]
    assert run["op_runs"][1]["params"] == {"lr": 0.05, "epochs": 5}
    path = f"alice/seed/runs/{run['uuid']}/"

    assert_error(api.post(path + "retry/"), 409, "conflict")  # not finished yet
    response = api.post(path + "stop/")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "stopped"
    assert {op["status"] for op in response.json()["op_runs"]} == {"stopped"}

    response = api.post(path + "retry/")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "created"
    assert [(op["status"], op["attempt"]) for op in response.json()["op_runs"]] == [("created", 2), ("created", 2)]

    statuses = api.get(path + "statuses/").json()
    assert [(s["previous"], s["status"]) for s in statuses["results"]] == [
        ("", "created"), ("created", "stopping"), ("stopping", "stopped"), ("stopped", "created"),
    ]
    ops = api.get(path + "ops/job1/statuses/").json()
    assert [(s["status"], s["attempt"]) for s in ops["results"]] == [("created", 1), ("stopped", 1), ("created", 2)]
