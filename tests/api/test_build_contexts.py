"""Build contexts over the API: uploaded by digest (checked, size-limited, the project's
own), or named by URL; and the settings a pipeline needs checked when it is applied (422
`missing_settings` with every one)."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from polyflow.services.projects import create_project

BUILT = """\
version: 1
kind: pipeline
name: built
ops:
  - {name: a, template: {name: img}}
  - {name: b, template: {name: sub}}
templates:
  - {kind: job, name: img, build: {dockerfile: Dockerfile}}
  - {kind: job, name: sub, build: {dockerfile: Dockerfile, context: services/b}}
"""


def tarball(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return raw.getvalue()


CONTEXT = tarball({"Dockerfile": b"FROM scratch\n", "services/b/Dockerfile": b"FROM scratch\n"})
DIGEST = "sha256:" + hashlib.sha256(CONTEXT).hexdigest()


@pytest.fixture
def kube(settings, tmp_path):
    settings.POLYFLOW = {**settings.POLYFLOW, "HOME": str(tmp_path), "BACKEND": "kubernetes",
                         "BUILD_REGISTRY": "registry.example.com/ml", "BUILD_CONTEXT": ""}
    return settings


def upload(api, data: bytes = CONTEXT, digest: str = DIGEST, project: str = "alice/vision",
           content_type: str = "application/gzip"):
    return api.post(f"{project}/contexts/", params={"digest": digest}, data=data,
                    headers={"Content-Type": content_type})


def builds(response) -> dict:
    return {op["name"]: op["template"]["build"] for op in response.json()["plan"]["ops"]}


def test_upload_then_name_it_with_the_pipeline(world, kube):
    alice = world.api("alice")
    first = upload(alice)
    assert first.status_code == 201, first.text
    assert first.json()["digest"] == DIGEST and first.json()["size"] == len(CONTEXT) and first.json()["created"]
    again = upload(alice, content_type="application/octet-stream")
    assert again.status_code == 201 and again.json()["created"] is False

    created = alice.post("alice/vision/pipelines/", yaml=BUILT, params={"context": DIGEST})
    assert created.status_code == 201, created.text
    plan = builds(created)
    assert plan["a"]["packed_digest"] == DIGEST and plan["a"]["context_sub_path"] is None
    assert plan["a"]["packed_uri"] == first.json()["uri"]
    assert plan["b"]["packed_digest"] == DIGEST and plan["b"]["context_sub_path"] == "services/b"

    named = alice.put("alice/vision/pipelines/built/", yaml=BUILT,
                      params={"context": "git://git.example.com/ml.git#refs/heads/main"})
    assert named.status_code == 200, named.text
    plan = builds(named)
    assert plan["a"]["context"] == "git://git.example.com/ml.git#refs/heads/main" and not plan["a"]["packed_uri"]
    assert plan["b"]["context_sub_path"] == "services/b"


def test_every_missing_setting_is_a_422_at_once(world, kube):
    kube.POLYFLOW = {**kube.POLYFLOW, "BUILD_REGISTRY": ""}
    answer = world.api("alice").post("alice/vision/pipelines/", yaml=BUILT)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == "missing_settings"
    messages = [(e["path"], e["message"]) for e in body["errors"]]
    assert len(messages) == 4  # two templates, each without registry and without context
    assert sum("BUILD_REGISTRY" in m for _, m in messages) == 2
    assert sum("no context" in m for _, m in messages) == 2
    assert {path for path, _ in messages} == {"ops[0]", "ops[1]"}
    assert world.api("alice").get("alice/vision/pipelines/built/").status_code == 404  # nothing applied


def test_upload_refusals(world, kube):
    alice = world.api("alice")
    wrong = upload(alice, digest="sha256:" + "0" * 64)
    assert wrong.status_code == 422 and "not the sha256:" in wrong.json()["message"]
    not_a_digest = upload(alice, digest="md5:1234")
    assert not_a_digest.status_code == 400
    junk = b"junk"
    assert upload(alice, data=junk, digest="sha256:" + hashlib.sha256(junk).hexdigest()).status_code == 422
    assert upload(alice, content_type="text/plain").status_code == 415
    kube.POLYFLOW = {**kube.POLYFLOW, "MAX_CONTEXT_BYTES": 64}
    too_big = upload(alice)
    assert too_big.status_code == 413 and "MAX_CONTEXT_BYTES" in too_big.json()["message"]


def test_strangers_and_viewers(world, kube):
    assert upload(world.api("sam")).status_code == 404
    assert upload(world.api("vera")).status_code == 403
    assert upload(world.api(None)).status_code == 401
    assert upload(world.api("mona")).status_code == 201
    # A digest uploaded to another project is not this one's to name: sam's own project.
    create_project(world.users["sam"], "mine")
    sams = world.api("sam").post("sam/mine/pipelines/", yaml=BUILT, params={"context": DIGEST})
    assert sams.status_code == 422 and "no context with this digest was uploaded to this project" in sams.text
    assert world.api("sam").post("sam/mine/pipelines/", yaml=BUILT, params={"context": "no-url"}).status_code == 400
