"""Issue 12's "Must show" on the Kubernetes API simulator, through the real scheduler: the
quickstart passes its data set and models as artifacts with the store on S3 (moto's server)
and on file://, its artifacts are recorded and downloadable over HTTP with the store's bytes;
cached ops of an unchanged second run create no pod; every pod the simulator received passes
kubernetes-validate (strict). The workspace run (a PVC during the run, gone after it) is
tests/kube_backend/test_pod_volumes.py's first test, already through the scheduler."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from rest_framework.authtoken.models import Token

from polyflow.artifacts.store import Store
from polyflow.models import Artifact, PipelineRun
from polyflow.scheduler.tick import tick
from polyflow.services.apply import apply_text
from polyflow.services.runs import trigger_run

from .conftest import NAMESPACE
from .s3 import moto_s3  # noqa: F401 - a fixture
from .support import ROOT, validate
from .test_tick import NOW

QUICKSTART = ROOT / "examples" / "quickstart.yaml"
FINAL = ("succeeded", "failed", "stopped")


@pytest.fixture
def received(sim):
    """Every pod and claim body the simulator is sent, as sent (the record of requests keeps no bodies)."""
    bodies = []
    create_pod, create_object = sim.create_pod, sim.objects.create

    def pod(namespace, body, dry_run=False):
        bodies.append(body)
        return create_pod(namespace, body, dry_run)

    def other(kind, namespace, body, dry_run=False):
        bodies.append(body)
        return create_object(kind, namespace, body, dry_run=dry_run)

    sim.create_pod, sim.objects.create = pod, other
    return bodies


def pods_in(bodies: list[dict]) -> list[dict]:
    return [body for body in bodies if body.get("kind") == "Pod"]


@pytest.fixture(params=["s3", "file"])
def store(request, settings, kube_settings, tmp_path) -> Store:
    """The artifact store: a fresh prefix of moto's bucket, or the default file:// one (no setting)."""
    if request.param == "s3":
        url, options = request.getfixturevalue("moto_s3")
        url = f"{url}/{uuid.uuid4().hex[:12]}"
        # Assigned, not updated in place: Polyflow's settings are cached until Django says they changed.
        settings.POLYFLOW = {**kube_settings, "ARTIFACTS_STORE": url, "ARTIFACTS_STORE_OPTIONS": options}
        return Store(url, options)
    return Store((tmp_path / "artifacts").resolve().as_uri(), {})  # HOME is tmp_path


def settle(backend, run: PipelineRun, deadline: float = 90.0) -> None:
    """Tick with the Kubernetes backend until the run is final; the pods run in real time."""
    end = time.monotonic() + deadline
    while True:
        tick(NOW, backend)
        run.refresh_from_db()
        if run.status in FINAL:
            return
        if time.monotonic() > end:
            states = list(run.op_runs.values_list("name", "status", "reason", "message"))
            raise AssertionError(f"run {run.uuid} still {run.status} after {deadline} s: {states}")
        time.sleep(0.05)


def ops_of(run: PipelineRun) -> dict:
    return {op.name: op for op in run.op_runs.all()}


def pods_created(sim) -> list[str]:
    return [r["name"] for r in sim.requests if r["verb"] == "create" and r.get("resource") == "pods"
            and r["status"] == 201]


def assert_all_valid(bodies: list[dict]) -> None:
    assert pods_in(bodies), "the simulator received no pod"
    for body in bodies:
        validate(body)


# -- the quickstart --------------------------------------------------------------------------

def test_the_quickstart_passes_its_artifacts_through_the_store(project, backend, sim, store, received,
                                                              live_server):
    pipeline = apply_text(project, QUICKSTART.read_text()).pipelines[0][0]
    run = trigger_run(pipeline)
    settle(backend, run)
    ops = ops_of(run)
    assert run.status == "succeeded", [(o.name, o.status, o.reason, o.message) for o in ops.values()]
    assert ops["notify"].status == "skipped"
    best = ops["select-best"].outputs
    assert best["best_accuracy"] > 0.8 and best["best_model"].startswith(store.url)

    prefix = f"{store.url}/{project.pk}/{run.uuid}"
    recorded = {(a.op_run.name, a.name): a for a in Artifact.objects.filter(op_run__run=run)}
    assert set(recorded) == {("prepare", "train"), ("prepare", "test"), ("train-slow", "model"),
                             ("train-fast", "model"), ("select-best", "best_model")}
    for (op, name), artifact in recorded.items():
        assert artifact.uri == f"{prefix}/{op}/{name}" == ops[op].outputs[name]
        assert artifact.kind == "file" and artifact.size > 0
        assert artifact.digest.startswith("sha256:") and len(artifact.digest) == 71
    assert set(recorded["prepare", "train"].consumers.values_list("name", flat=True)) == {"train-slow",
                                                                                          "train-fast"}
    assert_downloads_match_the_store(live_server, project, run, recorded, store)
    assert len(pods_created(sim)) == 6  # every op but the skipped notify
    assert_all_valid(received)
    train = next(b for b in pods_in(received) if b["metadata"]["labels"]["polyflow.dev/op"] == "train-fast")
    assert [c["name"] for c in train["spec"]["initContainers"]] == ["polyflow-download"]
    assert [c["name"] for c in train["spec"]["containers"]] == ["main", "polyflow-upload"]
    upload_env = {e["name"]: e.get("value") for e in train["spec"]["containers"][1]["env"]}
    assert upload_env["POLYFLOW_ARTIFACTS_STORE"] == store.url


def assert_downloads_match_the_store(live_server, project, run, recorded, store: Store) -> None:
    token = Token.objects.create(user=project.owner).key
    base = f"{live_server.url}/api/v1/{project.owner.username}/{project.name}/runs/{run.uuid}"
    for (op, name), artifact in recorded.items():
        answer = requests.get(f"{base}/ops/{op}/artifacts/{name}/download/",
                              headers={"Authorization": f"Token {token}"}, timeout=30)
        assert answer.status_code == 200, (op, name, answer.status_code, answer.text[:300])
        with store.open(artifact.uri) as stream:
            assert answer.content == stream.read(), f"{op}/{name}: the download differs from {artifact.uri}"
        assert len(answer.content) == artifact.size


# -- caching ---------------------------------------------------------------------------------

CACHED = """
version: 1
kind: pipeline
name: cached
cache: true
ops:
  - {name: make, template: {name: make}, params: {size: MODEL_SIZE}}
  - {name: use, template: {name: use}, params: {model: '{{ ops.make.outputs.model }}'}}
templates:
  - kind: job
    name: make
    inputs: [{name: size, type: int}]
    outputs: [{name: model, type: path}, {name: rows, type: int}]
    container:
      image: python:3.11-slim
      command:
        - python3
        - -c
        - |
          import json, os
          size = int(os.environ["POLYFLOW_PARAM_SIZE"])
          with open(os.path.join(os.environ["POLYFLOW_OUTPUTS_DIR"], "model"), "wb") as f:
              f.write(b"w" * size)
          json.dump({"rows": size}, open(os.environ["POLYFLOW_OUTPUTS_FILE"], "w"))
  - kind: job
    name: use
    inputs: [{name: model, type: path}]
    outputs: [{name: model_bytes, type: int}]
    container:
      image: python:3.11-slim
      command: [python3, -c, 'import json, os; size = os.path.getsize(os.environ["POLYFLOW_PARAM_MODEL"]);
                json.dump({"model_bytes": size}, open(os.environ["POLYFLOW_OUTPUTS_FILE"], "w"))']
"""


def run_cached(project, backend, size: int) -> PipelineRun:
    pipeline = apply_text(project, CACHED.replace("MODEL_SIZE", str(size))).pipelines[0][0]
    run = trigger_run(pipeline)
    settle(backend, run)
    logs = {op.name: backend.logs(op.handle) for op in run.op_runs.exclude(handle="")}
    assert run.status == "succeeded", (list(run.op_runs.values_list("name", "status", "reason", "message")), logs)
    return run


def artifacts_of(run: PipelineRun) -> set[tuple]:
    return set(Artifact.objects.filter(op_run__run=run).values_list("op_run__name", "name", "uri", "size", "digest"))


def test_an_unchanged_cached_pipeline_creates_no_pod_the_second_time(project, backend, sim, store, received):
    first = run_cached(project, backend, 1000)
    assert len(pods_created(sim)) == 2
    second = run_cached(project, backend, 1000)
    assert len(pods_created(sim)) == 2  # no pod for the cached ops
    before, after = ops_of(first), ops_of(second)
    for name in ("make", "use"):
        assert (after[name].status, after[name].reason) == ("succeeded", "cached")
        assert after[name].outputs == before[name].outputs
        assert after[name].cache_source_id == before[name].pk
    assert after["use"].outputs == {"model_bytes": 1000}
    assert artifacts_of(second) == artifacts_of(first)

    changed = run_cached(project, backend, 2000)  # a changed param reruns make, and through its digest, use
    assert len(pods_created(sim)) == 4
    rerun = ops_of(changed)
    assert all(rerun[name].reason != "cached" and rerun[name].cache_source_id is None for name in ("make", "use"))
    assert rerun["use"].outputs == {"model_bytes": 2000}
    assert_all_valid(received)


# -- a workspace and artifacts in the same pods ------------------------------------------------
# test_pod_volumes.py runs a workspace alone through the scheduler; here the three branches'
# mounts meet in one pod: the workspace claim, the artifact volumes and params.json, all under
# /polyflow.

SHARED = """
version: 1
kind: pipeline
name: shared-data
workspace: {size: 1Gi}
ops:
  - {name: write, template: {name: write}}
  - {name: read, template: {name: read}, params: {data: '{{ ops.write.outputs.data }}'}}
templates:
  - kind: job
    name: write
    outputs: [{name: data, type: path}]
    container:
      image: busybox
      command: [sh, -c, 'echo scratch > "$POLYFLOW_WORKSPACE/note.txt" && echo stored > "$POLYFLOW_OUTPUTS_DIR/data"']
  - kind: job
    name: read
    inputs: [{name: data, type: path}]
    outputs: [{name: seen, type: list}]
    container:
      image: python:3.11-slim
      command: [python3, -c, 'import json, os; read = lambda p: open(p).read().strip();
                json.dump({"seen": [read(os.environ["POLYFLOW_WORKSPACE"] + "/note.txt"),
                                    read(os.environ["POLYFLOW_PARAM_DATA"])]},
                          open(os.environ["POLYFLOW_OUTPUTS_FILE"], "w"))']
"""


def test_a_workspace_and_artifacts_share_the_pods_of_a_run(project, store, backend, sim, received):
    run = trigger_run(apply_text(project, SHARED).pipelines[0][0])
    settle(backend, run)
    ops = ops_of(run)
    assert run.status == "succeeded", [(o.name, o.status, o.reason, o.message) for o in ops.values()]
    assert ops["read"].outputs == {"seen": ["scratch", "stored"]}
    assert sim.claims(NAMESPACE) == []  # the run's claim went with it
    assert_all_valid(received)
    assert [body["kind"] for body in received].count("PersistentVolumeClaim") == 1
    for body in pods_in(received):
        mounts = {m["mountPath"] for m in body["spec"]["containers"][0]["volumeMounts"]}
        assert "/polyflow/workspace" in mounts and "/polyflow/params.json" in mounts


def test_the_ops_of_a_run_with_a_workspace_are_not_served_from_the_cache(project, store, backend, sim):
    # `write` leaves a file in the workspace for `read`: served from the cache, it would leave
    # nothing in the second run's new claim, and `read` (not cached) would fail.
    text = SHARED.replace("workspace: {size: 1Gi}", "workspace: {size: 1Gi}\ncache: true").replace(
        "{name: read, template: {name: read},", "{name: read, template: {name: read}, cache: false,")
    for count in (1, 2):
        run = trigger_run(apply_text(project, text).pipelines[0][0])
        settle(backend, run)
        ops = ops_of(run)
        assert run.status == "succeeded", [(o.name, o.status, o.reason, o.message) for o in ops.values()]
        assert ops["write"].reason != "cached" and ops["read"].outputs == {"seen": ["scratch", "stored"]}
        assert len(pods_created(sim)) == 2 * count
