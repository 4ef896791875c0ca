"""The announcement's example on the simulator with only BUILD_REGISTRY set (issue 12): its
build's context is the examples directory, packed by `polyflow run` and unpacked for kaniko
by the build pod's init container; a second run reuses the image, a change of a file of the
context builds again, a change of a file .dockerignore leaves out does not."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from polyflow.artifacts.contexts import unpack
from polyflow.artifacts.store import Store
from tests.conftest import clean_environ, run_python

from .conftest import NAMESPACE, REGISTRY
from .support import ROOT, validate

DIGEST = "sha256:" + "cd" * 32


def examples_copy(tmp_path: Path) -> Path:
    target = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def run_example(examples: Path, env: dict):
    result = run_python("-m", "polyflow.cli", "run", str(examples / "actions" / "deep-wide-model.yaml"),
                        str(examples / "test-pipeline.yaml"), "--backend", "kubernetes", env=env)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert re.search(r"^run \S+ of local/default/test-pipeline: succeeded", result.stdout, re.M), result.stdout
    assert "Traceback" not in result.stderr
    return result


def build_pods(sim) -> list[dict]:
    return [pod for pod in sim.pods(NAMESPACE) if pod["metadata"]["name"].startswith("build-")]


def created_builds(sim) -> list[str]:
    return [r["name"] for r in sim.requests if r["verb"] == "create" and r["status"] == 201
            and r["name"].startswith("build-")]


def test_the_announcement_example_builds_from_the_examples_directory(sim, tmp_path):
    sim.inject("outcome", name="build-*", result="succeed", message=DIGEST)
    sim.inject("outcome", name="test-pipeline-deep-wide-experiment-*", result="succeed",
               message='{"accuracy": 0.93}')
    examples = examples_copy(tmp_path)
    home = tmp_path / "polyflow"
    # The cluster's address, and of the pipeline's settings only BUILD_REGISTRY.
    env = {**clean_environ(tmp_path / "home"), "POLYFLOW_HOME": str(home), "POLYFLOW_KUBE_HOST": sim.url,
           "POLYFLOW_KUBE_NAMESPACE": NAMESPACE, "POLYFLOW_BUILD_REGISTRY": REGISTRY}

    run_example(examples, env)
    for pod in sim.pods(NAMESPACE):
        validate({k: v for k, v in pod.items() if k != "status"})
    (build,) = build_pods(sim)
    (init,) = build["spec"]["initContainers"]
    args = build["spec"]["containers"][0]["args"]
    assert "--context=dir:///workspace" in args and "--dockerfile=dockerfiles/Dockerfile" in args
    command = init["command"]
    assert command[:4] == ["python", "-m", "polyflow.artifacts", "context"]
    uri, digest = command[command.index("--uri") + 1], command[command.index("--digest") + 1]
    env_of_init = {item["name"]: item["value"] for item in init["env"]}
    assert env_of_init["POLYFLOW_ARTIFACTS_STORE"] == (home / "artifacts").resolve().as_uri()
    assert uri.startswith(env_of_init["POLYFLOW_ARTIFACTS_STORE"] + "/contexts/sha256-")

    # The init container's own command, with its own env, unpacks the examples directory
    # (less what examples/.dockerignore leaves out) where kaniko reads it.
    workspace = tmp_path / "workspace"
    unpacked = run_python(*command[1:-1], str(workspace), env={**clean_environ(tmp_path / "home"), **env_of_init})
    assert unpacked.returncode == 0, unpacked.stderr
    files = sorted(p.relative_to(workspace).as_posix() for p in workspace.rglob("*") if p.is_file())
    expected = sorted(p.relative_to(examples).as_posix() for p in examples.rglob("*")
                      if p.is_file() and p.suffix != ".md")
    assert files == expected and "test-pipeline.yaml" in files and "dockerfiles/Dockerfile" in files

    # job1 ran the built image, pinned to kaniko's digest.
    job1 = next(p for p in sim.pods(NAMESPACE) if p["metadata"]["name"].startswith("test-pipeline-job1-"))
    tag = build["metadata"]["annotations"]["polyflow.dev/image"]
    assert tag.startswith(f"{REGISTRY}/test-pipeline-job-template:")
    assert job1["spec"]["containers"][0]["image"] == f"{tag}@{DIGEST}"

    # Same files: the image is reused. A file .dockerignore leaves out changes nothing.
    run_example(examples, env)
    (examples / "NOTES.md").write_text("not part of the context\n")
    run_example(examples, env)
    assert created_builds(sim) == [build["metadata"]["name"]]

    # A changed file of the context: another context digest, another image, a new build.
    (examples / "dockerfiles" / "job.py").write_text("print('job1, edited')\n")
    run_example(examples, env)
    names = created_builds(sim)
    assert len(names) == 2 and names[0] != names[1]
    rebuilt = next(p for p in build_pods(sim) if p["metadata"]["name"] == names[1])
    validate({k: v for k, v in rebuilt.items() if k != "status"})
    new_command = rebuilt["spec"]["initContainers"][0]["command"]
    new_digest = new_command[new_command.index("--digest") + 1]
    assert new_digest != digest
    assert rebuilt["metadata"]["annotations"]["polyflow.dev/image"] != tag
    store = Store(env_of_init["POLYFLOW_ARTIFACTS_STORE"], json.loads(env_of_init["POLYFLOW_ARTIFACTS_STORE_OPTIONS"]))
    unpack(store, new_command[new_command.index("--uri") + 1], new_digest, tmp_path / "second")
    assert (tmp_path / "second" / "dockerfiles" / "job.py").read_text() == "print('job1, edited')\n"


def test_apply_reports_every_missing_setting_at_once(sim, tmp_path):
    examples = examples_copy(tmp_path)
    env = {**clean_environ(tmp_path / "home"), "POLYFLOW_HOME": str(tmp_path / "polyflow"),
           "POLYFLOW_KUBE_HOST": sim.url, "POLYFLOW_BACKEND": "kubernetes",
           "POLYFLOW_ARTIFACTS_STORE": "gs://polyflow-tests/artifacts"}
    result = run_python("-m", "polyflow.cli", "apply", str(examples / "actions" / "deep-wide-model.yaml"),
                        str(examples / "test-pipeline.yaml"), env=env)
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert any("POLYFLOW['BUILD_REGISTRY'] is not set" in line for line in lines), lines
    assert any("packed context goes through the artifact store" in line and "gcsfs" in line for line in lines)
    assert lines[-1] == "2 errors found; nothing was applied or packed."
    assert all(line.startswith(str(examples / "test-pipeline.yaml") + ": ops[0]: template 'job-template'")
               for line in lines[:-1])
    assert "Traceback" not in result.stderr
    assert not sim.pods(NAMESPACE)


# -- max_restarts: a refused submit is a failed attempt, retried -------------------------------

REFUSED = """
version: 1
kind: pipeline
name: refused
ops:
  - {{name: a, template: {{name: t}}, retry_delay: 0}}
templates:
  - kind: job
    name: t
    container: {{image: busybox, command: ['true']}}
    environment: {{max_restarts: {restarts}}}
"""


def test_a_submit_the_cluster_refuses_is_retried_as_max_restarts_says(project, kube_settings, sim):
    """The announcement's `max_restarts: 2` did not retry on Kubernetes: a submit refused for
    good (a 400/422 from the API server, a build the settings could not make) failed the op at
    once, past its retries. Now it is a failed attempt like a failed pod."""
    import datetime as dt

    from polyflow.backends.kubernetes import KubernetesBackend
    from polyflow.models import OperationRunStatus
    from polyflow.services.apply import apply_text
    from polyflow.services.runs import trigger_run

    from .test_tick import settle

    backend = KubernetesBackend(backoff=0.01, request_timeout=1)
    now = dt.datetime(2026, 3, 1, 12, 0, 1, tzinfo=dt.UTC)

    def run_with(restarts: int, refusals: int):
        pipeline = apply_text(project, REFUSED.format(restarts=restarts)).pipelines[0][0]
        sim.clear_faults()
        sim.inject("error", status=422, count=refusals, verbs=["create"], message="refused by a webhook")
        run = trigger_run(pipeline)
        settle(now, backend, run)
        op = run.op_runs.get(name="a")
        return op, [(s.status, s.reason) for s in OperationRunStatus.objects.filter(op_run=op).order_by("id")]

    op, history = run_with(restarts=2, refusals=2)
    assert (op.status, op.attempt) == ("succeeded", 3), history
    assert [entry for entry in history if entry[0] == "retrying"] == [("retrying", "submit_error")] * 2
    assert "refused by a webhook" in OperationRunStatus.objects.filter(op_run=op, status="retrying").first().message

    op, history = run_with(restarts=0, refusals=1)
    assert (op.status, op.attempt, op.reason) == ("failed", 1, "submit_error"), history
