"""Volumes and workspaces on the Kubernetes API simulator, end to end through scheduler ticks:
a run's workspace is a PersistentVolumeClaim that exists while the run does (op 1 writes a
file in it, op 2 reads it) and is gone after; configMap and secret volumes and envFrom values
reach the op; every manifest passes kubernetes-validate (strict)."""

from __future__ import annotations

import base64
import json
import time

from kubernetes import client

from polyflow.backends.manifests import pod_manifest
from polyflow.backends.pod_volumes import workspace_claim, workspace_claim_name
from polyflow.models import PipelineRun
from polyflow.scheduler.tick import tick
from polyflow.services.apply import apply_text
from polyflow.services.runs import trigger_run
from polyflow.spec.plan import WorkspaceSpec

from .conftest import NAMESPACE
from .support import RUN_UUID, plan_of, submission_for, validate
from .test_tick import NOW, op_run

WORKSPACE = """
version: 1
kind: pipeline
name: shared
workspace: {size: 2Gi, storage_class: fast, access_mode: ReadWriteMany}
ops:
  - {name: write, template: {name: write}}
  - {name: read, template: {name: read}, dependencies: [write]}
templates:
  - kind: job
    name: write
    container:
      image: busybox
      command: [sh, -c, 'echo "from op 1" > "$POLYFLOW_WORKSPACE/note.txt"; sleep 0.3']
  - kind: job
    name: read
    outputs: [{name: note, type: str}]
    container:
      image: busybox
      command: [sh, -c, 'printf "{\\"note\\": \\"%s\\"}" "$(cat /polyflow/workspace/note.txt)"
                > $POLYFLOW_OUTPUTS_FILE']
"""

CONFIGURED = """
version: 1
kind: pipeline
name: configured
ops:
  - {name: show, template: {name: show}}
templates:
  - kind: job
    name: show
    outputs: [{name: seen, type: dict}]
    container:
      image: busybox
      command: [python, -c, 'import json, os; read = lambda p: open(p).read();
        json.dump({"seen": {"mode": read("/etc/app/mode"), "token": read("/secrets/token"),
                   "level": os.environ["LEVEL"], "password": os.environ["PASSWORD"]}},
                  open(os.environ["POLYFLOW_OUTPUTS_FILE"], "w"))']
      volume_mounts:
        - {name: settings, mount_path: /etc/app, read_only: true}
        - {name: creds, mount_path: /secrets}
    environment:
      config_map_refs: [app-env]
      secret_refs: [app-secret-env]
      volumes:
        - {name: settings, configMap: {name: app-settings, items: [{key: run-mode, path: mode}]}}
        - {name: creds, secret: {secretName: app-secret, defaultMode: 0400}}
"""


def settle(backend, run, deadline=30.0, during=None):
    end = time.monotonic() + deadline
    while True:
        tick(NOW, backend)
        run.refresh_from_db()
        if during is not None:
            during()
        if run.status in ("succeeded", "failed", "stopped"):
            return
        assert time.monotonic() < end, list(run.op_runs.values_list("name", "status", "reason", "message"))
        time.sleep(0.03)


def test_a_run_with_a_workspace_shares_a_claim_that_is_deleted_when_it_ends(project, backend, sim):
    pipeline = apply_text(project, WORKSPACE).pipelines[0][0]
    run = trigger_run(pipeline)
    claim = workspace_claim_name(str(run.uuid))
    seen = []

    def during():
        if op_run(run, "write").status == "running":
            seen.extend(c["metadata"]["name"] for c in sim.claims(NAMESPACE))

    settle(backend, run, during=during)
    assert run.status == "succeeded", list(run.op_runs.values_list("name", "status", "message"))
    assert op_run(run, "read").outputs == {"note": "from op 1"}
    assert claim in seen  # it existed while the run did
    assert sim.claims(NAMESPACE) == []  # and is gone after it
    creates = [(r["resource"], r["name"]) for r in sim.requests if r["verb"] == "create" and r["status"] == 201]
    assert creates[0] == ("persistentvolumeclaims", claim)  # before the first pod
    assert [r for r in sim.requests if r["verb"] == "create" and r["resource"] == "persistentvolumeclaims"
            and r["status"] == 201] == [next(r for r in sim.requests if r["verb"] == "create")]
    deletes = [r["name"] for r in sim.requests if r["verb"] == "delete" and r["resource"] == "persistentvolumeclaims"]
    assert deletes == [claim]


def test_a_claim_whose_delete_failed_is_deleted_by_the_reconciliation(project, backend, sim):
    pipeline = apply_text(project, WORKSPACE).pipelines[0][0]
    run = trigger_run(pipeline)
    sim.inject("error", status=500, count=None, verbs=["delete"], path="/persistentvolumeclaims/")
    settle(backend, run)
    assert run.status == "succeeded"
    assert [c["metadata"]["name"] for c in sim.claims(NAMESPACE)] == [workspace_claim_name(str(run.uuid))]
    sim.clear_faults()
    report = backend.reconcile(force=True)
    assert report.workspaces == [workspace_claim_name(str(run.uuid))]
    assert sim.claims(NAMESPACE) == []
    # A claim of a run that still runs is kept.
    other = trigger_run(pipeline)
    other_submission = submission_for(plan_of(WORKSPACE), "write", run_uuid=str(other.uuid))
    backend.workspaces.ensure(other_submission.__class__(**{**vars(other_submission),
                                                           "workspace": WorkspaceSpec()}))
    assert backend.reconcile(force=True).workspaces == []
    assert len(sim.claims(NAMESPACE)) == 1
    PipelineRun.objects.filter(pk=other.pk).update(status="stopped")
    assert backend.reconcile(force=True).workspaces == [workspace_claim_name(str(other.uuid))]


def test_config_map_and_secret_volumes_and_env_reach_the_op(project, backend, sim):
    api = client.CoreV1Api(client.ApiClient(client.Configuration(host=sim.url)))
    api.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "app-settings"}, "data": {"run-mode": "fast"}})
    api.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "app-env"}, "data": {"LEVEL": "debug"}})
    api.create_namespaced_secret(NAMESPACE, {"metadata": {"name": "app-secret"},
                                             "data": {"token": base64.b64encode(b"s3cret").decode()}})
    api.create_namespaced_secret(NAMESPACE, {"metadata": {"name": "app-secret-env"},
                                             "stringData": {"PASSWORD": "hunter2"}})
    pipeline = apply_text(project, CONFIGURED).pipelines[0][0]
    run = trigger_run(pipeline)
    settle(backend, run)
    assert run.status == "succeeded", list(run.op_runs.values_list("name", "status", "message"))
    assert op_run(run, "show").outputs == {"seen": {"mode": "fast", "token": "s3cret", "level": "debug",
                                                    "password": "hunter2"}}
    pod = sim.pods(NAMESPACE)[0]
    assert pod["spec"]["volumes"][1:] == [
        {"name": "settings", "configMap": {"name": "app-settings", "items": [{"key": "run-mode", "path": "mode"}],
                                           "defaultMode": 0o644}},
        {"name": "creds", "secret": {"secretName": "app-secret", "defaultMode": 0o400}}]


def test_an_op_whose_config_map_does_not_exist_fails(project, backend, sim):
    pipeline = apply_text(project, CONFIGURED).pipelines[0][0]
    run = trigger_run(pipeline)
    settle(backend, run)
    show = op_run(run, "show")
    assert (run.status, show.reason) == ("failed", "CreateContainerConfigError")
    assert "not found" in show.message


def test_every_volume_manifest_passes_kubernetes_validate():
    plan = plan_of(CONFIGURED)
    validate(pod_manifest(submission_for(plan, "show"), NAMESPACE))
    plan = plan_of(WORKSPACE)
    submission = submission_for(plan, "write")
    submission = submission.__class__(**{**vars(submission), "workspace": plan.workspace})
    manifest = pod_manifest(submission, NAMESPACE)
    validate(manifest)
    assert manifest["spec"]["volumes"][-1] == {"name": "polyflow-workspace", "persistentVolumeClaim": {
        "claimName": workspace_claim_name(RUN_UUID)}}
    main = manifest["spec"]["containers"][0]
    assert {"name": "POLYFLOW_WORKSPACE", "value": "/polyflow/workspace"} in main["env"]
    claim = workspace_claim(RUN_UUID, WorkspaceSpec(size="2Gi", storage_class="fast"), NAMESPACE, "shared")
    validate(claim)
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}},
                             "storageClassName": "fast"}
    assert json.dumps(claim["metadata"]["labels"], sort_keys=True) == json.dumps({
        "app.kubernetes.io/managed-by": "polyflow", "polyflow.dev/component": "workspace",
        "polyflow.dev/pipeline": "shared", "polyflow.dev/run": RUN_UUID}, sort_keys=True)
