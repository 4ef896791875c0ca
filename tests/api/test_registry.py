"""An owner's registry over HTTP: actions (versioned) and events (fired)."""

import yaml

from polyflow.models import Action, PipelineRun
from tests.api.conftest import ACTION, EVENT, assert_error


def test_action_versions(alice_api):
    second = ACTION.replace("sleeps a while", "sleeps longer").replace("default: 1", "default: 5")
    response = alice_api.post("alice/actions/", yaml=second)
    assert response.status_code == 201, response.text
    assert (response.json()["version"], response.json()["content"]) == (2, second)
    assert response.json()["created_by"] == "alice"
    assert response.json()["template"]["inputs"][0]["default"] == 5

    listed = alice_api.get("alice/actions/").json()
    assert listed["count"] == 1
    assert {key: listed["results"][0][key] for key in ("name", "latest_version", "versions_count", "description")} \
        == {"name": "sleeper", "latest_version": 2, "versions_count": 2, "description": "sleeps longer"}

    detail = alice_api.get("alice/actions/sleeper/").json()
    assert (detail["name"], detail["latest_version"]) == ("sleeper", 2)
    assert [version["version"] for version in detail["versions"]] == [2, 1]
    assert detail["versions"][1]["content"] == ACTION
    assert_error(alice_api.get("alice/actions/nothing/"), 404, "not_found")


def test_action_from_json(alice_api):
    document = yaml.safe_load(ACTION.replace("name: sleeper", "name: napper", 1))
    document["version"] = 7
    response = alice_api.post("alice/actions/", json=document)
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 7
    response = alice_api.post("alice/actions/", json={"content": ACTION})
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 2


def test_action_errors(alice_api):
    changed = ACTION.replace("kind: action", "kind: action\nversion: 1").replace("default: 1", "default: 2")
    body = assert_error(alice_api.post("alice/actions/", yaml=changed), 409, "conflict")
    assert "never changes" in body["message"]
    body = assert_error(alice_api.post("alice/actions/", yaml=EVENT), 422, "invalid")
    assert "expected one action document" in body["message"]
    broken = ACTION.replace("kind: job", "kind: jobb")
    body = assert_error(alice_api.post("alice/actions/", yaml=broken), 422, "invalid_spec")
    assert body["errors"][0]["path"] == "template.kind"
    assert Action.objects.count() == 1


def test_action_versions_fit_the_database(alice_api):
    """Versions are stored in an integer column: the largest it holds, and no next one after it."""
    def with_version(version):
        return ACTION.replace("kind: action", f"kind: action\nversion: {version}" if version else "kind: action")

    body = assert_error(alice_api.post("alice/actions/", yaml=with_version(2**31)), 422, "invalid_spec")
    assert [error["path"] for error in body["errors"]] == ["version"]
    assert alice_api.post("alice/actions/", yaml=with_version(2**31 - 1)).status_code == 201
    assert_error(alice_api.post("alice/actions/", yaml=with_version(None)), 409, "conflict")


def test_events_and_fire(world, alice_api):
    listed = alice_api.get("alice/events/").json()
    assert [(event["name"], event["content"]) for event in listed["results"]] == [("data-ready", EVENT)]
    assert listed["results"][0]["inputs"][0]["name"] == "size"

    response = alice_api.post("alice/events/data-ready/fire/", json={"payload": {"size": 4}})
    assert response.status_code == 201, response.text
    fired = response.json()
    assert fired["event"] == "data-ready"
    assert sorted(run["pipeline"] for run in fired["runs"]) == ["spare", "train"]
    for run in fired["runs"]:
        assert (run["trigger"], run["event"]) == ("event", "data-ready")
        assert [op["params"] for op in run["op_runs"]] == [{"size": 4}, {"size": 4}]
    assert PipelineRun.objects.filter(trigger="event").count() == 2


def test_fire_skips_paused_pipelines(alice_api):
    alice_api.post("alice/vision/pipelines/spare/pause/")
    fired = alice_api.post("alice/events/data-ready/fire/", json={"payload": {"size": 1}}).json()
    assert [run["pipeline"] for run in fired["runs"]] == ["train"]


def test_fire_starts_runs_only_where_the_firer_may_trigger(world, alice_api):
    """mona is a member of vision and scratch and a viewer of hidden: her fire starts vision's
    pipelines, not hidden's (she may read hidden but not trigger there), nor those of a project
    she has no role in; alice's fire starts them all."""
    for name in ("hidden", "private"):
        alice_api.post("alice/projects/", json={"name": name})
        alice_api.post(f"alice/{name}/pipelines/", yaml=world.project.polyflow_pipelines.get(name="train").content)
    alice_api.post("alice/hidden/members/", json={"user": "mona", "role": "viewer"})
    fired = world.api("mona").post("alice/events/data-ready/fire/", json={"payload": {"size": 1}}).json()
    assert sorted((run["project"], run["pipeline"]) for run in fired["runs"]) == [
        ("vision", "spare"), ("vision", "train")]
    assert sorted(PipelineRun.objects.filter(trigger="event").values_list("pipeline__project__name", flat=True)) == [
        "vision", "vision"]
    fired = alice_api.post("alice/events/data-ready/fire/", json={"payload": {"size": 1}}).json()
    assert sorted(run["project"] for run in fired["runs"]) == ["hidden", "private", "vision", "vision"]


def test_fire_errors(alice_api):
    body = assert_error(alice_api.post("alice/events/data-ready/fire/", json={}), 422, "invalid")
    assert "size" in body["errors"][0]["message"]
    body = assert_error(alice_api.post("alice/events/data-ready/fire/", json={"payload": {"size": "x"}}), 422)
    assert body["errors"][0]["path"] == "payload.size"
    assert_error(alice_api.post("alice/events/data-ready/fire/", json={"payload": [1]}), 400, "invalid")
    assert_error(alice_api.post("alice/events/nothing/fire/", json={}), 404, "not_found")
    assert_error(alice_api.get("alice/events/data-ready/fire/"), 405, "method_not_allowed")


def test_create_event(alice_api):
    text = "version: 1\nkind: event\nname: model-published\n"
    response = alice_api.post("alice/events/", yaml=text)
    assert response.status_code == 201, response.text
    assert (response.json()["name"], response.json()["content"], response.json()["inputs"]) == (
        "model-published", text, [])
    assert alice_api.get("alice/events/").json()["count"] == 2
