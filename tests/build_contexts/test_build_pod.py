"""The build pod of a packed context (pure: backends/builds.py), validated as Kubernetes would."""

from __future__ import annotations

import dataclasses
import json

from polyflow.artifacts.contexts import PackedContext
from polyflow.backends.builds import ContextSource, build_plan, build_pod_manifest
from polyflow.services.build_contexts import Supplied, supply_plan
from tests.kube_backend.support import plan_of, submission_for, validate

REGISTRY = "registry.example.com/ml"
SPEC = """
version: 1
kind: pipeline
name: tp
ops: [{name: a, template: {name: t}}, {name: b, template: {name: sub}}]
templates:
  - {kind: job, name: t, build: {dockerfile: Dockerfile}}
  - {kind: job, name: sub, build: {dockerfile: Dockerfile, context: services/b}}
"""
DIGEST = "sha256:" + "ab" * 32
SOURCE = ContextSource("polyflow/polyflow:1.0", "s3://bucket/artifacts", {"endpoint_url": "http://minio:9000"},
                       "artifact-credentials")


def packed_plan(uri="s3://bucket/artifacts/contexts/sha256-abab.tar.gz", digest=DIGEST, spec_directory=False):
    supplied = Supplied(packed=PackedContext(uri, digest, 10), spec_directory=spec_directory)
    return supply_plan(plan_of(SPEC), "test.yaml", {("test.yaml", "*"): supplied}, {})


def test_a_packed_context_is_unpacked_by_an_init_container_into_kanikos_workspace():
    build = build_plan(submission_for(packed_plan(), "a"), REGISTRY, "")
    pod = build_pod_manifest(build, build.pod_name(1), "ml", "kaniko:1", "registry-credentials", SOURCE)
    validate(pod)
    spec = pod["spec"]
    (init,) = spec["initContainers"]
    assert init["image"] == "polyflow/polyflow:1.0"
    assert init["command"] == ["python", "-m", "polyflow.artifacts", "context", "--uri",
                               "s3://bucket/artifacts/contexts/sha256-abab.tar.gz", "--digest", DIGEST,
                               "--into", "/workspace"]
    assert {e["name"]: e["value"] for e in init["env"]} == {
        "POLYFLOW_ARTIFACTS_STORE": "s3://bucket/artifacts",
        "POLYFLOW_ARTIFACTS_STORE_OPTIONS": json.dumps({"endpoint_url": "http://minio:9000"}, separators=(",", ":"))}
    assert init["envFrom"] == [{"secretRef": {"name": "artifact-credentials"}}]
    (kaniko,) = spec["containers"]
    assert kaniko["args"][0] == "--context=dir:///workspace"
    assert not any(arg.startswith("--context-sub-path") for arg in kaniko["args"])
    assert {m["name"] for m in kaniko["volumeMounts"]} == {"registry-credentials", "build-context"}
    assert {"name": "build-context", "emptyDir": {}} in spec["volumes"]


def test_the_hash_covers_the_digest_not_where_the_store_keeps_it():
    base = build_plan(submission_for(packed_plan(), "a"), REGISTRY, "")
    moved = build_plan(submission_for(packed_plan(uri="gs://elsewhere/c.tar.gz"), "a"), REGISTRY, "")
    changed = build_plan(submission_for(packed_plan(digest="sha256:" + "cd" * 32), "a"), REGISTRY, "")
    assert base.hash == moved.hash and base.image == moved.image
    assert changed.hash != base.hash


def test_an_uploaded_directory_with_a_relative_context_is_a_sub_path():
    plan = packed_plan(spec_directory=True)
    build = build_plan(submission_for(plan, "b"), REGISTRY, "")
    assert (build.context, build.sub_path) == ("dir:///workspace", "services/b")
    pod = build_pod_manifest(build, build.pod_name(1), "ml", "kaniko:1", "", dataclasses.replace(
        SOURCE, credentials_secret=""))
    validate(pod)
    assert "--context-sub-path=services/b" in pod["spec"]["containers"][0]["args"]
    assert "envFrom" not in pod["spec"]["initContainers"][0]


def test_a_named_url_is_given_to_kaniko_as_it_is():
    url = "git://git.example.com/ml.git#refs/heads/main"
    plan = supply_plan(plan_of(SPEC), "test.yaml", {("test.yaml", "*"): Supplied(url=url)}, {})
    a = build_plan(submission_for(plan, "a"), REGISTRY, "")
    b = build_plan(submission_for(plan, "b"), REGISTRY, "")
    assert (a.context, a.sub_path, b.context, b.sub_path) == (url, None, url, "services/b")
    pod = build_pod_manifest(b, b.pod_name(1), "ml", "kaniko:1")
    validate(pod)
    assert "initContainers" not in pod["spec"]
