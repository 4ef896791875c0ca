"""Pipelines: the three body forms, update, delete, pause and resume, and their errors."""

import json

import pytest
import yaml

from polyflow.models import Pipeline
from tests.api.conftest import assert_error, pipeline_yaml

PIPELINES = "alice/vision/pipelines/"


@pytest.mark.parametrize("content_type", ["text/yaml", "application/x-yaml", "application/yaml",
                                          "application/x-yaml; charset=utf-8"])
def test_create_from_yaml_keeps_the_text(alice_api, content_type):
    text = "# a comment that only the submitted text has\n" + pipeline_yaml("fresh")
    response = alice_api.post(PIPELINES, yaml=text, content_type=content_type)
    assert response.status_code == 201, response.text
    pipeline = response.json()
    assert pipeline["name"] == "fresh"
    assert pipeline["content"] == text
    assert pipeline["owner"] == "alice" and pipeline["project"] == "vision"
    assert pipeline["events"] == ["data-ready"]
    assert [(op["name"], op["dependencies"], op["template"]) for op in pipeline["ops"]] == [
        ("prepare", [], "step"), ("fit", ["prepare"], "step")]
    assert pipeline["plan"]["order"] == ["prepare", "fit"]
    assert Pipeline.objects.get(name="fresh").content == text


def test_create_from_json_content(alice_api):
    text = pipeline_yaml("fresh")
    response = alice_api.post(PIPELINES, json={"content": text})
    assert response.status_code == 201, response.text
    assert response.json()["content"] == text


def test_create_from_a_json_document(alice_api):
    document = yaml.safe_load(pipeline_yaml("fresh"))
    response = alice_api.post(PIPELINES, json=document)
    assert response.status_code == 201, response.text
    assert json.loads(response.json()["content"]) == document
    assert response.json()["ops"][1]["dependencies"] == ["prepare"]


def test_list_and_read(alice_api):
    listed = alice_api.get(PIPELINES).json()
    assert listed["count"] == 2
    assert [p["name"] for p in listed["results"]] == ["spare", "train"]
    assert "content" not in listed["results"][0]
    detail = alice_api.get(PIPELINES + "train/").json()
    assert detail["content"] == pipeline_yaml("train")
    assert detail["is_paused"] is False
    assert detail["schedule"] is None
    assert_error(alice_api.get(PIPELINES + "nothing/"), 404, "not_found")


def test_existing_pipeline_is_409(alice_api):
    body = assert_error(alice_api.post(PIPELINES, yaml=pipeline_yaml("train")), 409, "conflict")
    assert "already exists" in body["message"]


def test_spec_errors_name_their_path(alice_api):
    text = pipeline_yaml("broken").replace("dependencies: [prepare]", "dependencies: [prepair]")
    body = assert_error(alice_api.post(PIPELINES, yaml=text), 422, "invalid_spec")
    assert body["errors"] == [{
        "source": "body", "path": "ops[1].dependencies[0]",
        "message": body["errors"][0]["message"],
    }]
    assert "prepair" in body["errors"][0]["message"]
    assert "did you mean 'prepare'" in body["errors"][0]["message"]
    assert not Pipeline.objects.filter(name="broken").exists()


def test_malformed_bodies(alice_api):
    body = assert_error(alice_api.post(PIPELINES, yaml="ops: [unclosed"), 422, "invalid_spec")
    assert "invalid YAML" in body["errors"][0]["message"]
    assert "line" in body["errors"][0]["path"]
    body = assert_error(alice_api.post(PIPELINES, data=b'{"content": ', headers={"Content-Type": "application/json"}),
                        400, "parse_error")
    assert body["message"].startswith("JSON parse error")
    for payload in ([1, 2], "text", 5, None, {"name": "x"}, {}):
        assert_error(alice_api.post(PIPELINES, json=payload), 400)
    body = assert_error(alice_api.post(PIPELINES, json={"content": 5}), 400, "invalid")
    assert body["errors"][0]["path"] == "content"
    assert_error(alice_api.post(PIPELINES, yaml=""), 400)
    assert_error(alice_api.post(PIPELINES, data=b"\xff\xfe", headers={"Content-Type": "text/yaml"}), 400,
                 "parse_error")


def test_one_document_only_and_of_the_right_kind(alice_api):
    text = pipeline_yaml("one") + "---\n" + pipeline_yaml("two")
    body = assert_error(alice_api.post(PIPELINES, yaml=text), 422, "invalid")
    assert "expected one pipeline document" in body["message"]
    body = assert_error(alice_api.post(PIPELINES, yaml="kind: action\nname: a\n"), 422, "invalid")
    assert "expected one pipeline document" in body["message"]


def test_unsupported_content_type_is_415(alice_api):
    response = alice_api.post(PIPELINES, data=pipeline_yaml("x"), headers={"Content-Type": "text/plain"})
    body = assert_error(response, 415, "unsupported_media_type")
    assert "text/plain" in body["message"]


def test_update(alice_api):
    text = pipeline_yaml("train").replace("params: {size: 1}", "params: {size: 7}")
    response = alice_api.put(PIPELINES + "train/", yaml=text)
    assert response.status_code == 200, response.text
    assert response.json()["content"] == text
    assert response.json()["plan"]["ops"][0]["params"] == {"size": 7}
    # A run triggered now gets the new params; runs created before keep their plan.
    run = alice_api.post(PIPELINES + "train/runs/", json={}).json()
    assert run["op_runs"][0]["params"] == {"size": 7}


def test_update_errors(alice_api):
    body = assert_error(alice_api.put(PIPELINES + "train/", yaml=pipeline_yaml("other")), 422, "invalid")
    assert "renaming is not supported" in body["message"]
    assert_error(alice_api.put(PIPELINES + "nothing/", yaml=pipeline_yaml("nothing")), 404, "not_found")
    assert_error(alice_api.patch(PIPELINES + "train/", json={}), 405, "method_not_allowed")


def test_delete(alice_api):
    assert alice_api.delete(PIPELINES + "spare/").status_code == 204
    assert not Pipeline.objects.filter(name="spare").exists()
    assert_error(alice_api.delete(PIPELINES + "spare/"), 404)


def test_delete_with_an_active_run_is_409(world, alice_api):
    body = assert_error(alice_api.delete(PIPELINES + "train/"), 409, "conflict")
    assert "active run" in body["message"]
    alice_api.post(f"alice/vision/runs/{world.active_run.uuid}/stop/")
    assert alice_api.delete(PIPELINES + "train/").status_code == 204


def test_pause_and_resume(alice_api):
    response = alice_api.post(PIPELINES + "train/pause/")
    assert response.status_code == 200, response.text
    assert response.json()["is_paused"] is True
    assert Pipeline.objects.get(name="train").is_paused
    assert alice_api.post(PIPELINES + "train/pause/").json()["is_paused"] is True  # again: no change
    assert alice_api.post(PIPELINES + "train/resume/").json()["is_paused"] is False
    assert_error(alice_api.post(PIPELINES + "nothing/pause/"), 404)
    assert_error(alice_api.get(PIPELINES + "train/pause/"), 405, "method_not_allowed")


@pytest.mark.parametrize("start_at", ["'9999-12-31T23:59:59-12:00'", "'0001-01-01T00:00:00+14:00'"])
def test_times_the_database_could_not_read_back_are_refused(alice_api, start_at):
    text = pipeline_yaml("timed").replace("ops:", f"schedule: {{kind: interval, frequency: 60, start_at: {start_at}}}"
                                                    "\nops:")
    body = assert_error(alice_api.post(PIPELINES, yaml=text), 422, "invalid_spec")
    assert [error["path"] for error in body["errors"]] == ["schedule.start_at"]
    assert alice_api.get(PIPELINES).status_code == 200
