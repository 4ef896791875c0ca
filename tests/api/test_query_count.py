"""Listing 1,000 runs with their op runs takes a constant number of queries.

Counted in this process with Django's test client (the live server's queries
happen in another thread, out of the counter's reach); the view and everything
under it are the real ones.
"""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from polyflow.models import OperationRun, PipelineRun
from polyflow.services.apply import apply_text
from polyflow.services.projects import add_member, create_project
from polyflow.services.registry import apply_owner_text
from polyflow.services.runs import trigger_run
from tests.api.conftest import ACTION, EVENT, pipeline_yaml

MAX_QUERIES = 6  # token, project, member role, count, runs (with their joins), op runs


@pytest.fixture
def many_runs(db):
    model = get_user_model()
    alice, vera = model.objects.create_user("alice"), model.objects.create_user("vera")
    apply_owner_text(alice, EVENT)
    apply_owner_text(alice, ACTION)
    project = create_project(alice, "vision")
    add_member(project, "vera", "viewer")
    pipeline = apply_text(project, pipeline_yaml("train")).pipelines[0][0]
    template = trigger_run(pipeline, user=alice)  # one run made by the service, copied below
    runs = PipelineRun.objects.bulk_create([
        PipelineRun(pipeline=pipeline, plan=template.plan, params={"fit": {"size": index}}, created_by=alice)
        for index in range(999)
    ])
    op_runs = list(template.op_runs.all())
    OperationRun.objects.bulk_create([
        OperationRun(run=run, operation_id=op_run.operation_id, name=op_run.name, params=op_run.params)
        for run in runs for op_run in op_runs
    ])
    return Token.objects.create(user=vera).key  # a viewer: the role lookup is part of the count


def list_runs(client, token, page_size):
    response = client.get("/api/v1/alice/vision/runs/", {"page_size": page_size},
                          HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200, response.content
    return response.json()


def test_listing_1000_runs_with_their_op_runs(client, many_runs, django_assert_max_num_queries,
                                              django_assert_num_queries):
    with django_assert_max_num_queries(MAX_QUERIES) as counted:
        page = list_runs(client, many_runs, 1000)
    assert page["count"] == 1000
    assert len(page["results"]) == 1000
    assert all(len(run["op_runs"]) == 2 for run in page["results"])
    assert {run["created_by"] for run in page["results"]} == {"alice"}
    # The same number of queries for 10 runs as for 1,000.
    with django_assert_num_queries(len(counted.captured_queries)):
        assert len(list_runs(client, many_runs, 10)["results"]) == 10


def test_page_size_is_capped_at_1000(client, many_runs):
    PipelineRun.objects.bulk_create([
        PipelineRun(pipeline=PipelineRun.objects.first().pipeline, plan={}, params={}) for _ in range(5)
    ])
    assert len(list_runs(client, many_runs, 5000)["results"]) == 1000


GRID_QUERIES = 7  # token, project, member role, pipeline, runs, the pipeline's ops, op runs


def test_the_grid_takes_the_same_queries_for_100_runs_as_for_one(client, many_runs, django_assert_num_queries):
    def grid(limit):
        response = client.get("/api/v1/alice/vision/pipelines/train/grid/", {"limit": limit},
                              HTTP_AUTHORIZATION=f"Token {many_runs}")
        assert response.status_code == 200, response.content
        return response.json()

    with django_assert_num_queries(GRID_QUERIES):
        body = grid(100)
    assert len(body["runs"]) == 100 and body["ops"] == ["prepare", "fit"]
    assert all(set(run["ops"]) == {"prepare", "fit"} for run in body["runs"])
    with django_assert_num_queries(GRID_QUERIES):
        assert len(grid(1)["runs"]) == 1


ALL_RUNS_QUERIES = 4  # token, count, runs (with their joins; the visible projects a subquery), op runs


def test_searching_the_runs_of_every_project_takes_as_many_queries_for_1000_runs_as_for_10(
        client, many_runs, django_assert_max_num_queries, django_assert_num_queries):
    def search(**query):
        response = client.get("/api/v1/runs/", query, HTTP_AUTHORIZATION=f"Token {many_runs}")
        assert response.status_code == 200, response.content
        return response.json()

    with django_assert_max_num_queries(ALL_RUNS_QUERIES) as counted:
        assert search(page_size=1000)["count"] == 1000
    with django_assert_num_queries(len(counted.captured_queries)):
        assert len(search(page_size=10)["results"]) == 10
    # A param's value and a UUID prefix: the same queries.
    with django_assert_num_queries(len(counted.captured_queries)):
        found = search(param="fit.size=7")
    assert found["count"] == 1 and found["results"][0]["params"] == {"fit": {"size": 7}}
    prefix = found["results"][0]["uuid"][:8]
    with django_assert_num_queries(len(counted.captured_queries)):
        assert prefix in {run["uuid"][:8] for run in search(uuid=prefix)["results"]}
    with django_assert_num_queries(len(counted.captured_queries)):
        assert search(uuid=prefix, param="fit.size=7")["count"] == 1


def test_the_project_runs_searched_by_param_in_the_same_queries(client, many_runs, django_assert_num_queries):
    with django_assert_num_queries(MAX_QUERIES):
        response = client.get("/api/v1/alice/vision/runs/", {"param": "fit.size=998"},
                              HTTP_AUTHORIZATION=f"Token {many_runs}")
    assert response.json()["count"] == 1
