"""Run search (a UUID prefix, a param's value, every visible project), the status changes of a
run's op runs since a cursor, and the token endpoint of `polyflow login`."""

from __future__ import annotations

from django.test import override_settings
from rest_framework.authtoken.models import Token

from polyflow.models import OperationRunStatus, Pipeline
from polyflow.services.apply import apply_text
from polyflow.services.projects import create_project
from polyflow.services.runs import trigger_run
from tests.api.conftest import assert_error, pipeline_yaml


def uuids(response) -> set[str]:
    assert response.status_code == 200, response.text
    return {run["uuid"] for run in response.json()["results"]}


def test_runs_are_found_by_a_prefix_of_their_uuid(world, alice_api):
    active, stopped = str(world.active_run.uuid), str(world.stopped_run.uuid)
    assert uuids(alice_api.get("alice/vision/runs/", params={"uuid": active[:6]})) == {active}
    # Dashes optional, upper case too; a prefix past the first dash.
    assert uuids(alice_api.get("alice/vision/runs/", params={"uuid": active[:13].replace("-", "").upper()})) \
        == {active}
    assert uuids(alice_api.get("alice/vision/runs/", params={"uuid": stopped})) == {stopped}
    body = assert_error(alice_api.get("alice/vision/runs/", params={"uuid": "xyz"}), 400)
    assert body["errors"][0]["path"] == "uuid"
    # More digits than a UUID has: the start of none.
    assert uuids(alice_api.get("alice/vision/runs/", params={"uuid": active.replace("-", "") + "0"})) == set()


def test_runs_are_found_by_a_param_value(world, alice_api):
    train = Pipeline.objects.get(project=world.project, name="train")
    big = trigger_run(train, params={"fit": {"size": 12}}, user=world.users["alice"])
    trigger_run(train, params={"fit": {"size": 13}}, user=world.users["alice"])
    assert uuids(alice_api.get("alice/vision/runs/", params={"param": "fit.size=12"})) == {str(big.uuid)}
    assert uuids(alice_api.get("alice/vision/pipelines/train/runs/", params={"param": "fit.size=12"})) \
        == {str(big.uuid)}
    # A number is not its text; every param given must match.
    assert uuids(alice_api.get("alice/vision/runs/", params={"param": 'fit.size="12"'})) == set()
    assert uuids(alice_api.get("alice/vision/runs/", params={"param": ["fit.size=12", "prepare.size=1"]})) == set()
    body = assert_error(alice_api.get("alice/vision/runs/", params={"param": "size=12"}), 400)
    assert "OP.NAME=VALUE" in str(body)


def test_the_runs_of_every_visible_project(world):
    other = create_project(world.users["sam"], "own")
    solo = pipeline_yaml("solo").replace("events: [{name: data-ready}]\n", "")
    theirs = trigger_run(apply_text(other, solo).pipelines[0][0], user=world.users["sam"])
    vision = {str(world.active_run.uuid), str(world.stopped_run.uuid)}
    assert uuids(world.api("vera").get("runs/")) == vision
    assert uuids(world.api("sam").get("runs/")) == {str(theirs.uuid)}
    assert uuids(world.api("root").get("runs/")) == vision | {str(theirs.uuid)}
    assert uuids(world.api("sam").get("runs/", params={"uuid": str(world.active_run.uuid)[:8]})) == set()
    assert uuids(world.api("vera").get("runs/", params={"status": "stopped"})) == {str(world.stopped_run.uuid)}
    assert uuids(world.api("vera").get("runs/", params={"trigger": "schedule"})) == set()
    assert_error(world.api(None).get("runs/"), 401)


def test_the_op_runs_changes_after_a_cursor(world, alice_api):
    path = f"alice/vision/runs/{world.stopped_run.uuid}/op-statuses/"
    records = alice_api.get(path).json()["results"]
    assert records and [record["id"] for record in records] == sorted(record["id"] for record in records)
    assert {record["op"] for record in records} == {"prepare", "fit"}
    assert all(record["trial"] is None and record["status"] for record in records)
    later = alice_api.get(path, params={"after": records[0]["id"]}).json()["results"]
    assert later == records[1:]
    stored = OperationRunStatus.objects.filter(op_run__run=world.stopped_run).count()
    assert len(records) == stored


def test_a_token_for_a_username_and_password(world):
    api = world.api(None)
    answer = api.post("token/", json={"username": "vera", "password": "pw"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"token": world.tokens["vera"], "user": "vera"}
    # A user without a token yet gets one, the same the next time.
    Token.objects.filter(user=world.users["ed"]).delete()
    first = api.post("token/", json={"username": "ed", "password": "pw"}).json()["token"]
    assert first == Token.objects.get(user=world.users["ed"]).key
    assert api.post("token/", json={"username": "ed", "password": "pw"}).json()["token"] == first
    for body in ({"username": "vera", "password": "nope"}, {"username": "nobody", "password": "pw"}):
        error = assert_error(api.post("token/", json=body), 401, "authentication_failed")
        assert error["message"] == "wrong username or password"
    assert_error(api.post("token/", json={"username": "vera"}), 400)


def test_a_project_without_authtoken_says_it_issues_no_tokens(client, django_user_model):
    from django.conf import settings

    django_user_model.objects.create_user("vera", password="pw")
    apps = [app for app in settings.INSTALLED_APPS if app != "rest_framework.authtoken"]
    with override_settings(INSTALLED_APPS=apps):
        answer = client.post("/api/v1/token/", {"username": "vera", "password": "pw"},
                             content_type="application/json")
    assert answer.status_code == 404
    assert answer.json()["message"].startswith("this server issues no API tokens: 'rest_framework.authtoken' "
                                               "is not in its INSTALLED_APPS")
