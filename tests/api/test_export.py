"""GET .../pipelines/{name}/export/?to=airflow|argo over real HTTP: the file, its media type and
filename, the warnings header, 422 for what the target cannot express, 400 for a bad query."""

from __future__ import annotations

import ast
import json

import pytest
import yaml

from polyflow.services.apply import apply_text
from tests.api.conftest import assert_error

EXPORT = "alice/vision/pipelines/{}/export/"

SEARCH = """\
version: 1
kind: pipeline
name: search
ops:
  - name: tune
    template: {name: t}
    matrix: {kind: grid, params: {n: {kind: choice, value: [1, 2]}}}
templates:
  - kind: job
    name: t
    inputs: [{name: n, type: int}]
    container: {image: busybox, command: [echo, '{{ params.n }}']}
"""


def test_the_dag_file_with_its_media_type_filename_and_warnings(world, alice_api):
    response = alice_api.get(EXPORT.format("train"), params={"to": "airflow"})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/x-python; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="train.py"'
    ast.parse(response.text)
    assert "dag_id='train'" in response.text and "PolyflowPodTask(" in response.text
    # `train` runs on the event data-ready: Airflow has no such events.
    warnings = json.loads(response.headers["X-Polyflow-Export-Warnings"])
    assert [item["where"] for item in warnings] == ["events"]
    assert "trigger the DAG through Airflow" in warnings[0]["message"]


def test_the_local_executor_and_a_pinned_airflow(world, alice_api):
    response = alice_api.get(EXPORT.format("train"), params={"to": "airflow", "executor": "local",
                                                             "airflow_version": "2.10"})
    assert response.status_code == 200, response.text
    assert "PolyflowLocalTask(" in response.text
    assert "EXPONENTIAL_BACKOFF = True\n" in response.text


def test_what_the_target_cannot_express_is_a_422_listing_it(world, alice_api):
    apply_text(world.project, SEARCH)
    body = assert_error(alice_api.get(EXPORT.format("search"), params={"to": "airflow"}), 422, "not_carried")
    assert body["message"] == "pipeline 'search' cannot be exported to airflow: 1 feature it cannot express"
    (problem,) = body["errors"]
    assert problem["source"] == "pipeline" and problem["path"] == "ops.tune.matrix"
    assert "grid search" in problem["message"]


@pytest.mark.parametrize("params", [{}, {"to": "spark"}, {"to": "airflow", "executor": "celery"},
                                    {"to": "airflow", "airflow_version": "1.10"}, {"to": ""}])
def test_a_bad_query_is_a_400(world, alice_api, params):
    assert_error(alice_api.get(EXPORT.format("train"), params=params), 400)


def test_readers_may_export_and_strangers_see_nothing(world):
    assert world.api("vera").get(EXPORT.format("train"), params={"to": "airflow"}).status_code == 200
    assert_error(world.api("sam").get(EXPORT.format("train"), params={"to": "airflow"}), 404)
    assert_error(world.api(None).get(EXPORT.format("train"), params={"to": "airflow"}), 401)
    assert_error(world.api("alice").get(EXPORT.format("nothing"), params={"to": "airflow"}), 404)


def test_argo_is_dispatched_to_its_module(world, alice_api):
    response = alice_api.get(EXPORT.format("train"), params={"to": "argo"})
    assert response.status_code in (200, 422), response.text


def test_an_option_of_another_target_is_a_400_naming_it(world, alice_api):
    body = assert_error(alice_api.get(EXPORT.format("train"), params={"to": "argo", "executor": "local"}), 400)
    assert "executor" in body["message"]


def test_an_argo_option_given_to_airflow_is_a_400_too(world, alice_api):
    body = assert_error(alice_api.get(EXPORT.format("train"), params={"to": "airflow", "name": "x"}), 400)
    assert "unknown option of the airflow export: name" in body["message"]


@pytest.mark.parametrize("params", [{"to": "argo", "namespace": "Not A Namespace"},
                                    {"to": "argo", "starting_deadline_seconds": "-1"},
                                    {"to": "argo", "name": "x" * 64}])
def test_bad_argo_options_are_a_400(world, alice_api, params):
    assert_error(alice_api.get(EXPORT.format("train"), params=params), 400)


def test_the_workflows_name_and_namespace(world, alice_api):
    response = alice_api.get(EXPORT.format("train"), params={"to": "argo", "name": "nightly", "namespace": "ml"})
    assert response.status_code == 200, response.text
    document = next(yaml.safe_load_all(response.content))
    assert document["metadata"]["namespace"] == "ml"
    assert document["metadata"].get("generateName", document["metadata"].get("name", "")).startswith("nightly")
