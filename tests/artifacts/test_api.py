"""An op run's artifacts on the API and their download through real HTTP (the live server),
from a run of the local backend on each store; strangers get 404s; the queries are pinned."""

import io
import tarfile

import pytest
import requests
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from polyflow.backends.local import LocalBackend
from polyflow.models import Artifact, OperationRun
from polyflow.services.apply import apply_text
from polyflow.services.projects import add_member, create_project
from polyflow.services.runs import trigger_run

from .support import pipeline_yaml, settle


@pytest.fixture
def served(live_server, settings, tmp_path, any_store):
    settings.POLYFLOW = {**settings.POLYFLOW, "HOME": str(tmp_path), **any_store.settings}
    model = get_user_model()
    alice, sam, vera = (model.objects.create_user(name) for name in ("alice", "sam", "vera"))
    project = create_project(alice, "vision")
    add_member(project, "vera", "viewer")
    pipeline = apply_text(project, pipeline_yaml(size=5000)).pipelines[0][0]
    backend = LocalBackend(kill_grace=0.5)
    run = trigger_run(pipeline)
    settle(backend, [run])
    backend.close()
    run.refresh_from_db()
    assert run.status == "succeeded"
    tokens = {user.username: Token.objects.create(user=user).key for user in (alice, sam, vera)}

    def get(who, path, **kwargs):
        return requests.get(f"{live_server.url}/api/v1/alice/vision/runs/{run.uuid}/{path}",
                            headers={"Authorization": f"Token {tokens[who]}"}, timeout=30, **kwargs)

    return run, get


def test_the_op_run_lists_its_artifacts_with_their_consumers(served):
    run, get = served
    body = get("vera", "ops/make/").json()
    artifacts = {item["name"]: item for item in body["artifacts"]}
    assert set(artifacts) == {"model", "data"}
    model = artifacts["model"]
    recorded = Artifact.objects.get(op_run__run=run, name="model")
    assert {key: model[key] for key in ("op", "trial", "attempt", "uri", "size", "digest", "kind", "files")} == {
        "op": "make", "trial": None, "attempt": 1, "uri": recorded.uri, "size": 5000, "digest": recorded.digest,
        "kind": "file", "files": 1}
    assert model["consumers"] == ["use"] and artifacts["data"]["consumers"] == ["use"]
    assert model["download"].endswith(f"/runs/{run.uuid}/ops/make/artifacts/model/download/")
    assert body["cache_source"] is None
    listed = get("vera", "artifacts/").json()
    assert listed["count"] == 2 and {item["name"] for item in listed["results"]} == {"model", "data"}
    assert get("vera", "ops/use/artifacts/").json()["count"] == 0


def test_downloads_stream_files_and_directories(served):
    run, get = served
    response = get("vera", "ops/make/artifacts/model/download/", stream=True)
    assert response.status_code == 200, response.text
    assert response.content == b"m" * 5000
    assert response.headers["X-Polyflow-Digest"] == Artifact.objects.get(op_run__run=run, name="model").digest
    assert "filename*=UTF-8''model" in response.headers["Content-Disposition"]
    archive = get("vera", "ops/make/artifacts/data/download/")
    assert archive.headers["Content-Type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(archive.content)) as tar:
        assert sorted(tar.getnames()) == ["data/a.csv", "data/part/deep/b.csv"]
        assert tar.extractfile("data/part/deep/b.csv").read() == b"3,4\n"
    one = get("vera", "ops/make/artifacts/data/download/", params={"file": "part/deep/b.csv"})
    assert one.status_code == 200 and one.content == b"3,4\n"
    escape = get("vera", "ops/make/artifacts/data/download/", params={"file": "../../x"})
    assert escape.status_code == 400


def test_strangers_and_unknown_artifacts_get_404(served):
    run, get = served
    for path in ("ops/make/", "artifacts/", "ops/make/artifacts/model/download/"):
        assert get("sam", path).status_code == 404
    missing = get("alice", "ops/make/artifacts/weights/download/")
    assert missing.status_code == 404
    assert "has no artifact 'weights' (artifacts: data, model)" in missing.json()["message"]


@pytest.fixture
def recorded(db):
    model = get_user_model()
    alice = model.objects.create_user("alice")
    project = create_project(alice, "vision")
    run = trigger_run(apply_text(project, pipeline_yaml()).pipelines[0][0])
    make, use = run.op_runs.get(name="make"), run.op_runs.get(name="use")
    return Token.objects.create(user=alice).key, run, make, use


def add_artifacts(make, use, count):
    rows = Artifact.objects.bulk_create([
        Artifact(op_run=make, name=f"out{index}-{Artifact.objects.count()}", uri=f"file:///s/{index}",
                 digest="sha256:00", size=1) for index in range(count)])
    for row in rows:
        row.consumers.add(use)


# token, project, run, (op run,) artifacts with their op runs, consumers, (a list: its count)
QUERIES = {"ops/make/": 7, "artifacts/": 6, "ops/make/artifacts/": 7}


@pytest.mark.parametrize("path", list(QUERIES))
def test_the_queries_do_not_grow_with_the_artifacts(client, recorded, path, django_assert_num_queries):
    token, run, make, use = recorded

    def fetch():
        response = client.get(f"/api/v1/alice/vision/runs/{run.uuid}/{path}", HTTP_AUTHORIZATION=f"Token {token}")
        assert response.status_code == 200, response.content
        return response

    add_artifacts(make, use, 1)
    with django_assert_num_queries(QUERIES[path]):
        fetch()
    add_artifacts(make, use, 20)
    with django_assert_num_queries(QUERIES[path]):
        fetch()
    assert OperationRun.objects.get(pk=make.pk).artifacts.count() == 21
