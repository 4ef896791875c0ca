"""Artifacts in pods on the Kubernetes API simulator (docs/kubernetes.md, "Artifacts in pods"):
op 1's path output is uploaded by its pod's upload container after its command exits 0, op 2's
pod downloads it in its init container and reads it at /polyflow/inputs/<name>; with the store
on file:// and on S3 (moto's server). The scheduler's part (references to URIs, recording) is
the artifacts helper's: these submissions carry the URIs as the scheduler will."""

from __future__ import annotations

import json
import uuid

import pytest

from polyflow.artifacts.layout import manifest_uri, output_uri
from polyflow.artifacts.store import Store
from polyflow.artifacts.transfer import read_manifest
from polyflow.backends.base import FAILED, SUCCEEDED, ArtifactInput, ArtifactOutput
from polyflow.backends.kubernetes import KubernetesBackend
from polyflow.backends.manifests import pod_manifest
from polyflow.backends.pod_artifacts import ArtifactSettings

from .conftest import NAMESPACE
from .s3 import moto_s3  # noqa: F401 - a fixture
from .support import RUN_UUID, plan_of, submission_for, validate

PIPELINE = """
version: 1
kind: pipeline
name: data
ops:
  - {name: produce, template: {name: produce}}
  - {name: consume, template: {name: consume}, dependencies: [produce], params: {data: "s3://placeholder"}}
templates:
  - kind: job
    name: produce
    container:
      image: python:3.11
      command: [sh, -c, 'cat "$POLYFLOW_PARAMS_FILE"; echo; mkdir -p "$POLYFLOW_OUTPUTS_DIR/model"
                && printf "hello artifacts" > "$POLYFLOW_OUTPUTS_DIR/data"
                && echo weights > "$POLYFLOW_OUTPUTS_DIR/model/w.txt"']
  - kind: job
    name: consume
    inputs: [{name: data, type: str}]
    outputs: [{name: text, type: str}]
    container:
      image: python:3.11
      command: [python, -c, 'import json, os, sys; text = open(sys.argv[1]).read();
                json.dump({"text": text}, open(os.environ["POLYFLOW_OUTPUTS_FILE"], "w"))', '{{ params.data }}']
"""


@pytest.fixture(params=["file", "s3"])
def store(request, kube_settings, tmp_path):
    if request.param == "file":
        url, options = f"file://{tmp_path}/store", {}
    else:
        url, options = request.getfixturevalue("moto_s3")
        url = f"{url}/{uuid.uuid4().hex}"  # the bucket is the session's
    kube_settings.update(ARTIFACTS_STORE=url, ARTIFACTS_STORE_OPTIONS=options)
    return Store(url, options)


def produce_submission(plan, store, **outputs):
    submission = submission_for(plan, "produce")
    uris = {name: output_uri(store, "7", RUN_UUID, "produce", name, None) for name in ("data", "model")}
    return submission.__class__(**{
        **vars(submission),
        "artifact_outputs": {name: ArtifactOutput(uri, optional=outputs.get(name, False))
                             for name, uri in uris.items()},
        "manifest_uri": manifest_uri(store, "7", RUN_UUID, "produce", 1, None),
    })


def wait(sim, backend, handle):
    sim.wait_for_pod(handle, namespace=NAMESPACE, timeout=30)
    return backend.sync([handle])[handle]


def test_an_output_written_by_op_1_is_read_by_op_2(sim, store):
    backend = KubernetesBackend(backoff=0.01)
    plan = plan_of(PIPELINE)
    first = produce_submission(plan, store)
    validate(pod_manifest(first, NAMESPACE))
    handle = backend.submit(first)
    observation = wait(sim, backend, handle)
    assert observation.state == SUCCEEDED, observation
    assert sim.log(handle, NAMESPACE, container="main") == "{}\n"  # params.json, mounted alone
    log = sim.log(handle, NAMESPACE, container="polyflow-upload")
    assert "polyflow: uploading output data" in log or "output data" in log, log
    op_log = backend.logs(handle)  # the archive: the op's own lines, then the upload's progress
    assert op_log[0] == "{}" and any(line.startswith("polyflow: uploading output data") for line in op_log), op_log
    records = read_manifest(store, first.manifest_uri)
    assert set(records) == {"data", "model"}
    assert records["data"].size == len("hello artifacts") and records["model"].kind == "directory"

    second = submission_for(plan, "consume")
    second = second.__class__(**{**vars(second), "params": {"data": records["data"].uri},
                                 "artifact_inputs": {"data": ArtifactInput(records["data"].uri, "file")}})
    manifest = pod_manifest(second, NAMESPACE)
    validate(manifest)
    assert [c["name"] for c in manifest["spec"]["initContainers"]] == ["polyflow-download"]
    assert manifest["spec"]["containers"][0]["command"][-1] == "/polyflow/inputs/data"
    handle = backend.submit(second)
    observation = wait(sim, backend, handle)
    assert observation.state == SUCCEEDED, observation
    assert json.loads(observation.outputs) == {"text": "hello artifacts"}
    pod = sim.pod(handle, NAMESPACE)
    assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    assert any(line.startswith("polyflow: downloading input data") for line in backend.logs(handle))


def test_an_output_not_written_fails_the_op_naming_the_upload(sim, store):
    backend = KubernetesBackend(backoff=0.01)
    plan = plan_of(PIPELINE.replace('&& echo weights > "$POLYFLOW_OUTPUTS_DIR/model/w.txt"', "")
                   .replace('mkdir -p "$POLYFLOW_OUTPUTS_DIR/model"', 'mkdir -p "$POLYFLOW_OUTPUTS_DIR"'))
    handle = backend.submit(produce_submission(plan, store))
    observation = wait(sim, backend, handle)
    assert observation.state == FAILED
    assert observation.reason == "upload_failed"
    assert "container polyflow-upload" in observation.message and "'model' was not written" in observation.message


def test_a_failed_op_uploads_nothing_and_fails_with_its_own_reason(sim, store):
    backend = KubernetesBackend(backoff=0.01)
    plan = plan_of(PIPELINE.replace("mkdir -p", "exit 4; mkdir -p"))
    submission = produce_submission(plan, store)
    handle = backend.submit(submission)
    observation = wait(sim, backend, handle)
    assert (observation.state, observation.exit_code, observation.reason) == (FAILED, 4, "Error")
    assert read_manifest(store, submission.manifest_uri) is None
    assert "no outputs to upload" in sim.log(handle, NAMESPACE, container="polyflow-upload")


def test_a_download_that_fails_fails_the_op_naming_it(sim, store):
    backend = KubernetesBackend(backoff=0.01)
    plan = plan_of(PIPELINE)
    missing = output_uri(store, "7", RUN_UUID, "produce", "nothing", None)
    second = submission_for(plan, "consume")
    second = second.__class__(**{**vars(second), "params": {"data": missing},
                                 "artifact_inputs": {"data": ArtifactInput(missing, "file")}})
    handle = backend.submit(second)
    observation = wait(sim, backend, handle)
    assert (observation.state, observation.reason) == (FAILED, "download_failed"), observation
    assert "container polyflow-download" in observation.message


def test_the_artifact_containers_get_the_store_and_its_credentials_secret(kube_settings):
    plan = plan_of(PIPELINE)
    store = Store("s3://bucket/prefix", {})
    settings = ArtifactSettings("registry.example.com/polyflow:1", "s3://bucket/prefix",
                                {"endpoint_url": "http://minio:9000"}, "store-credentials")
    manifest = pod_manifest(produce_submission(plan, store), NAMESPACE, artifacts=settings)
    validate(manifest)
    main, upload = manifest["spec"]["containers"]
    assert upload["name"] == "polyflow-upload" and upload["image"] == "registry.example.com/polyflow:1"
    assert upload["envFrom"] == [{"secretRef": {"name": "store-credentials"}}]
    env = {item["name"]: item["value"] for item in upload["env"]}
    assert env == {"POLYFLOW_ARTIFACTS_STORE": "s3://bucket/prefix",
                   "POLYFLOW_ARTIFACTS_STORE_OPTIONS": '{"endpoint_url": "http://minio:9000"}'}
    main_env = {item["name"]: item.get("value") for item in main["env"]}
    assert main_env["POLYFLOW_OUTPUTS_DIR"] == "/polyflow/outputs"
    assert "POLYFLOW_ARTIFACTS_STORE" not in main_env and "envFrom" not in main
    assert main["command"][:2] == ["/bin/sh", "-c"]
    # params.json alone: /polyflow/outputs and /polyflow/status are mounted under /polyflow.
    assert main["volumeMounts"][0] == {"name": "polyflow-params", "mountPath": "/polyflow/params.json",
                                       "subPath": "params.json", "readOnly": True}


def test_a_pod_without_artifacts_is_as_before(kube_settings):
    plan = plan_of(PIPELINE)
    manifest = pod_manifest(submission_for(plan, "produce"), NAMESPACE)
    assert "initContainers" not in manifest["spec"] and len(manifest["spec"]["containers"]) == 1
    assert manifest["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "polyflow-params", "mountPath": "/polyflow", "readOnly": True}]
    assert [v["name"] for v in manifest["spec"]["volumes"]] == ["polyflow-params"]
