"""Caching (DESIGN section 10) on the local backend with a file:// store: a second run of an
unchanged cached pipeline submits nothing for its cached ops and ends with the same outputs;
a changed param reruns; the expiry and `no_cache` force reruns."""

import datetime as dt

import pytest
from django.utils import timezone

from polyflow.backends.local import LocalBackend
from polyflow.models import Artifact, OperationRun
from polyflow.services.runs import trigger_run

from .support import pipeline_yaml, settle


@pytest.fixture
def local(settings, tmp_path, file_store):
    settings.POLYFLOW = {**settings.POLYFLOW, "HOME": str(tmp_path), **file_store.settings}
    backend = LocalBackend(kill_grace=0.5)
    yield backend
    backend.close()


def attempt_dirs(tmp_path):
    return {path.name for path in (tmp_path / "runs").iterdir() if path.is_dir()}


def ops_of(run):
    return {op.name: op for op in run.op_runs.all()}


@pytest.fixture
def first(apply, local):
    pipeline = apply(pipeline_yaml(name="cached", extra="cache: true"))
    run = trigger_run(pipeline)
    settle(local, [run])
    run.refresh_from_db()
    assert run.status == "succeeded"
    return pipeline, run


def test_a_second_unchanged_run_submits_nothing_and_has_the_same_outputs(first, local, tmp_path):
    pipeline, run = first
    before = attempt_dirs(tmp_path)
    again = trigger_run(pipeline)
    settle(local, [again])
    again.refresh_from_db()
    assert again.status == "succeeded"
    assert attempt_dirs(tmp_path) == before  # no process was started
    old, new = ops_of(run), ops_of(again)
    for name in ("make", "use"):
        assert (new[name].status, new[name].reason) == ("succeeded", "cached")
        assert new[name].outputs == old[name].outputs
        assert new[name].cache_source_id == old[name].pk and new[name].handle == ""
        assert new[name].cache_key == old[name].cache_key != ""
    assert "reused the results of op 'make'" in new["make"].message
    # The artifacts are the source's, recorded again on the cached op run.
    assert sorted(Artifact.objects.filter(op_run=new["make"]).values_list("name", "uri", "digest")) == sorted(
        Artifact.objects.filter(op_run=old["make"]).values_list("name", "uri", "digest"))
    assert list(new["make"].statuses.values_list("status", "reason")) == [
        ("created", ""), ("scheduled", "cached"), ("succeeded", "cached")]


def test_a_changed_param_reruns_that_op(first, local, tmp_path):
    pipeline, run = first
    again = trigger_run(pipeline, params={"make": {"size": 10}})
    settle(local, [again])
    again.refresh_from_db()
    new = ops_of(again)
    assert again.status == "succeeded"
    assert new["make"].reason != "cached" and new["make"].handle
    # Its artifact has another digest, so `use` is not the same work either.
    assert new["use"].reason != "cached" and new["use"].outputs["model_bytes"] == 10


def test_no_cache_forces_a_rerun(first, local):
    pipeline, run = first
    again = trigger_run(pipeline, no_cache=True)
    settle(local, [again])
    assert all(op.reason != "cached" and op.handle for op in again.op_runs.all())


def test_an_expired_result_is_not_reused(first, local, settings):
    pipeline, run = first
    settings.POLYFLOW = {**settings.POLYFLOW, "CACHE_TTL": 60}
    OperationRun.objects.filter(run=run).update(finished_at=timezone.now() - dt.timedelta(seconds=120))
    again = trigger_run(pipeline)
    settle(local, [again])
    assert all(op.reason != "cached" for op in again.op_runs.all())
    # Within the expiry, the newest result is reused.
    third = trigger_run(pipeline)
    settle(local, [third])
    assert {op.name: op.cache_source_id for op in third.op_runs.all()} == {
        op.name: op.pk for op in again.op_runs.all()}


def test_only_ops_with_cache_are_reused(apply, local):
    pipeline = apply(pipeline_yaml(name="half").replace("    template: {name: use}",
                                                       "    template: {name: use}\n    cache: false")
                     .replace("name: half\n", "name: half\ncache: true\n"))
    runs = [trigger_run(pipeline), None]
    settle(local, runs[:1])
    runs[1] = trigger_run(pipeline)
    settle(local, runs[1:])
    new = ops_of(runs[1])
    assert new["make"].reason == "cached" and new["use"].reason != "cached" and new["use"].handle


def test_the_run_page_lists_artifacts_and_links_cached_ops_to_their_source(first, local, client, project):
    pipeline, run = first
    again = trigger_run(pipeline)
    settle(local, [again])
    client.force_login(project.owner)
    page = client.get(f"/ui/{project.owner.username}/{project.name}/runs/{again.uuid}/").content.decode()
    assert 'id="artifacts"' in page and 'data-artifact="model"' in page and 'data-artifact="data"' in page
    assert f"/api/v1/{project.owner.username}/{project.name}/runs/{again.uuid}/ops/make/artifacts/model/download/" \
        in page
    assert f'href="/ui/{project.owner.username}/{project.name}/runs/{run.uuid}/#op-make"' in page
    assert "Download .tar" in page
    response = client.get(f"/api/v1/{project.owner.username}/{project.name}/runs/{again.uuid}/ops/make/"
                          "artifacts/model/download/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"m" * 1000
