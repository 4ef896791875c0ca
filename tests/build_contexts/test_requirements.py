"""What a backend needs from the settings for a pipeline (pure: backends/requirements.py)."""

from __future__ import annotations

from polyflow.backends.requirements import BackendSettings, environ_settings, missing_settings
from polyflow.spec import check, parse_yaml

PIPELINE = """
version: 1
kind: pipeline
name: p
ops:
  - {name: build-me, template: {name: built}}
  - {name: again, template: {name: built}}
  - {name: named, template: {name: pushed}}
  - {name: train, template: {name: trainer}}
templates:
  - {kind: job, name: built, build: {dockerfile: Dockerfile}}
  - {kind: job, name: pushed, build: {image: registry.example.com/me/pushed, context: 'git://git.example.com/r.git'}}
  - kind: job
    name: trainer
    outputs: [{name: model, type: path}]
    container: {image: busybox, command: ['true']}
"""


def plans():
    return check(parse_yaml(PIPELINE, "p.yaml")).pipelines


def test_every_missing_setting_at_once_once_per_template():
    settings = BackendSettings("kubernetes", store_problem="the store is down")
    missing = missing_settings(plans(), settings)
    assert [(m.template, m.ops, m.setting) for m in missing] == [
        ("built", ("build-me", "again"), "BUILD_REGISTRY"),
        ("built", ("build-me", "again"), "BUILD_CONTEXT"),
        ("trainer", ("train",), "ARTIFACTS_STORE"),
    ]
    assert str(missing[0]).startswith("pipeline p: template 'built' (ops build-me, again): build: "
                                      "POLYFLOW['BUILD_REGISTRY'] is not set")
    assert missing[0].path == "ops[0]" and missing[2].path == "ops[3]"


def test_a_packed_directory_needs_a_store_that_works():
    settings = BackendSettings("kubernetes", build_registry="r.example.com", store_problem="no s3fs")
    missing = missing_settings(plans(), settings, directory_packed=True)
    assert [(m.template, m.setting) for m in missing] == [("built", "ARTIFACTS_STORE"), ("trainer", "ARTIFACTS_STORE")]
    assert "packed context goes through the artifact store" in missing[0].message


def test_nothing_missing():
    assert not missing_settings(plans(), BackendSettings("kubernetes", build_registry="r", build_context="git://x/y"))
    assert not missing_settings(plans(), BackendSettings("kubernetes", build_registry="r"), directory_packed=True)


def test_the_local_backend_builds_nothing_but_needs_the_store_for_paths():
    assert [(m.template, m.setting) for m in missing_settings(plans(), BackendSettings("local", store_problem="x"))] \
        == [("trainer", "ARTIFACTS_STORE")]
    assert not missing_settings(plans(), BackendSettings("local"))


def test_environ_settings_read_polyflow_variables(tmp_path):
    settings = environ_settings("kubernetes", {"POLYFLOW_BUILD_REGISTRY": "r.example.com/ml",
                                               "POLYFLOW_HOME": str(tmp_path)})
    assert (settings.build_registry, settings.store_problem) == ("r.example.com/ml", "")
    assert settings.store_url == (tmp_path / "artifacts").as_uri()
    broken = environ_settings("kubernetes", {"POLYFLOW_ARTIFACTS_STORE": "not a url"})
    assert "is not a URL" in broken.store_problem


SHARED = """
version: 1
kind: pipeline
name: shared
workspace: {size: 1Gi}
ops:
  - {name: nap, template: {name: nap}}
  - {name: tune, template: {name: nap}, matrix: {kind: grid, params: {x: {kind: choice, value: [1, 2]}}}}
templates:
  - kind: job
    name: nap
    inputs: [{name: x, type: int, is_optional: true}]
    outputs: [{name: out, type: path}]
    container: {image: busybox, command: [sleep, "1"]}
"""


def test_the_airflow_backend_reports_what_its_dag_files_cannot_carry_each_at_its_place():
    plans_ = check(parse_yaml(SHARED, "s.yaml")).pipelines
    found = missing_settings(plans_, BackendSettings("airflow", airflow_executor="kubernetes"))
    assert [(m.path, m.setting) for m in found] == [
        ("ops.nap.template.outputs.out", "BACKEND"), ("ops.tune.matrix", "BACKEND"),
        ("ops.tune.template.outputs.out", "BACKEND"), ("workspace", "BACKEND")]
    assert found[1].as_error("s.yaml")["message"].startswith("not carried to Airflow: a grid search has no "
                                                             "Airflow equivalent")
    assert str(found[3]).startswith("pipeline shared: workspace: not carried to Airflow: a claim per run")
    # The local executor carries path outputs (through XCom); the workspace and the search stay refused.
    local = missing_settings(plans_, BackendSettings("airflow", airflow_executor="local"))
    assert [m.path for m in local] == ["ops.tune.matrix", "workspace"]  # a search is Polyflow's to run
    assert missing_settings(plans(), BackendSettings("local")) == []
