"""Metrics and trials in the API: op runs' latest metrics, trials under their group, the series
endpoints and their bound, 404s naming what exists; query counts pinned (Django's test client,
in this process, as tests/api/test_query_count.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from polyflow.models import MetricPoint, OperationRun
from polyflow.selectors.runs import POINTS_PER_SERIES
from polyflow.services.apply import apply_text
from polyflow.services.projects import add_member, create_project
from polyflow.services.registry import apply_owner_text
from polyflow.services.runs import trigger_run
from tests.api.conftest import ACTION, EVENT, pipeline_yaml

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(db):
    """alice's project `vision` (viewer vera) with a run of `train`: `prepare` reported metrics;
    `fit` stands for a matrix op's group with three trials (made here, as the scheduler would)."""
    alice = get_user_model().objects.create_user("alice")
    apply_owner_text(alice, EVENT)
    apply_owner_text(alice, ACTION)
    project = create_project(alice, "vision")
    get_user_model().objects.create_user("vera")
    add_member(project, "vera", "viewer")
    pipeline = apply_text(project, pipeline_yaml("train")).pipelines[0][0]
    run = trigger_run(pipeline, user=alice)
    prepare = run.op_runs.get(name="prepare")
    prepare.metrics = {"step": 2, "loss": 0.25, "accuracy": 0.9}
    prepare.save()
    MetricPoint.objects.bulk_create(
        [MetricPoint(op_run=prepare, attempt=1, step=step, name="loss", value=value, reported_at=T0)
         for step, value in ((0, 1.0), (1, 0.5), (2, 0.25))]
        + [MetricPoint(op_run=prepare, attempt=1, step=2, name="accuracy", value=0.9, reported_at=T0)]
        + [MetricPoint(op_run=prepare, attempt=2, step=0, name="loss", value=9.0, reported_at=T0)])
    fit = run.op_runs.get(name="fit")
    fit.summary = {"trials": 3, "best": {"trial": 1}}
    fit.save()
    OperationRun.objects.bulk_create([  # out of order: listed in trial order
        OperationRun(run=run, operation_id=fit.operation_id, name="fit", trial=index, trial_params={"size": index},
                     metrics={"step": 0, "loss": index / 10})
        for index in (2, 0, 1)])
    trial = run.op_runs.get(name="fit", trial=1)
    MetricPoint.objects.create(op_run=trial, attempt=1, step=0, name="loss", value=0.1, reported_at=T0)
    return {"run": run, "token": Token.objects.create(user=get_user_model().objects.get(username="vera")).key,
            "prepare": prepare}


def get(client, world, path, **query):
    return client.get(f"/api/v1/alice/vision/runs/{world['run'].uuid}/{path}", query,
                      HTTP_AUTHORIZATION=f"Token {world['token']}")


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def test_the_run_lists_trials_under_their_group(client, world, django_assert_num_queries):
    with django_assert_num_queries(5):  # token, project, the viewer's role, run, op runs
        run = ok(get(client, world, ""))
    prepare, fit = run["op_runs"]
    assert (prepare["name"], prepare["trial"], prepare["trials"], prepare["summary"]) == ("prepare", None, [], {})
    assert prepare["metrics"] == {"step": 2, "loss": 0.25, "accuracy": 0.9}
    assert prepare["trial_params"] == {}
    assert fit["summary"] == {"trials": 3, "best": {"trial": 1}}
    assert [(t["name"], t["trial"], t["trial_params"], t["metrics"]) for t in fit["trials"]] == [
        ("fit", index, {"size": index}, {"step": 0, "loss": index / 10}) for index in range(3)]
    assert "trials" not in fit["trials"][0]  # a trial has none
    # The same queries however many trials.
    OperationRun.objects.bulk_create([OperationRun(run=world["run"], name="fit", trial=index)
                                      for index in range(3, 60)])
    with django_assert_num_queries(5):
        assert len(ok(get(client, world, ""))["op_runs"][1]["trials"]) == 60


def test_op_detail_of_a_group_and_a_trial(client, world, django_assert_num_queries):
    # token, project, role, run, the op run and its trials (one query), its artifacts (none: no consumers read)
    with django_assert_num_queries(6):
        fit = ok(get(client, world, "ops/fit/"))
    assert fit["trial"] is None and [t["trial"] for t in fit["trials"]] == [0, 1, 2]
    assert fit["run"] == str(world["run"].uuid)
    assert ok(get(client, world, "ops/prepare/"))["trials"] == []
    with django_assert_num_queries(6):
        trial = ok(get(client, world, "ops/fit/trials/1/"))
    assert (trial["name"], trial["trial"], trial["trial_params"], trial["trials"]) == ("fit", 1, {"size": 1}, [])


def test_metric_series(client, world, django_assert_num_queries):
    with django_assert_num_queries(6):  # token, project, role, run, op run, points
        series = ok(get(client, world, "ops/prepare/metrics/"))
    assert series == {"accuracy": [[2, 0.9, "2026-03-01T12:00:00Z"]],
                      "loss": [[0, 1.0, "2026-03-01T12:00:00Z"], [1, 0.5, "2026-03-01T12:00:00Z"],
                               [2, 0.25, "2026-03-01T12:00:00Z"]]}
    assert list(ok(get(client, world, "ops/prepare/metrics/", names="loss, nothing")).keys()) == ["loss"]
    assert ok(get(client, world, "ops/prepare/metrics/", names="")) == series
    assert ok(get(client, world, "ops/prepare/metrics/", attempt=2)) == {"loss": [[0, 9.0, "2026-03-01T12:00:00Z"]]}
    assert ok(get(client, world, "ops/prepare/metrics/", attempt=7)) == {}
    assert ok(get(client, world, "ops/fit/metrics/")) == {}  # a group reports nothing itself
    assert ok(get(client, world, "ops/fit/trials/1/metrics/")) == {"loss": [[0, 0.1, "2026-03-01T12:00:00Z"]]}


def test_a_long_series_is_thinned_evenly_by_the_database(client, world, django_assert_num_queries):
    prepare = world["prepare"]
    MetricPoint.objects.filter(op_run=prepare).delete()
    count = 5 * POINTS_PER_SERIES + 3
    MetricPoint.objects.bulk_create([MetricPoint(op_run=prepare, attempt=1, step=step, name="loss", value=step,
                                                 reported_at=T0) for step in range(count)]
                                    + [MetricPoint(op_run=prepare, attempt=1, step=step, name="lr", value=0.1,
                                                   reported_at=T0) for step in range(POINTS_PER_SERIES)])
    with django_assert_num_queries(6):
        series = ok(get(client, world, "ops/prepare/metrics/"))
    steps = [step for step, _, _ in series["loss"]]
    assert len(steps) == POINTS_PER_SERIES
    assert steps[0] == 0 and steps[-1] == count - 1  # first and last kept
    gaps = {b - a for a, b in zip(steps, steps[1:], strict=False)}
    assert max(gaps) - min(gaps) <= 1, gaps  # evenly
    assert len(series["lr"]) == POINTS_PER_SERIES  # at the bound: whole


@pytest.mark.parametrize(("path", "message"), [
    ("ops/nothing/", "op 'nothing' not found in run {uuid} (ops: prepare, fit)"),
    ("ops/nothing/metrics/", "op 'nothing' not found in run {uuid} (ops: prepare, fit)"),
    ("ops/fit/trials/7/", "trial fit[7] not found in run {uuid} (trials: 0 to 2)"),
    ("ops/fit/trials/7/metrics/", "trial fit[7] not found in run {uuid} (trials: 0 to 2)"),
    ("ops/fit/trials/one/", "trial fit[one] not found in run {uuid} (trials: 0 to 2)"),
    ("ops/fit/trials/-1/", "trial fit[-1] not found in run {uuid} (trials: 0 to 2)"),
    ("ops/prepare/trials/0/", "trial prepare[0] not found in run {uuid}: op 'prepare' has no trials"),
    ("ops/nothing/trials/0/", "op 'nothing' not found in run {uuid} (ops: prepare, fit)"),
])
def test_unknown_ops_and_trials_are_404_naming_the_valid_ones(client, world, path, message):
    response = get(client, world, path)
    assert response.status_code == 404, response.content
    body = response.json()
    assert body["code"] == "not_found"
    assert body["message"] == message.format(uuid=world["run"].uuid)


def test_an_invalid_query_is_400_in_the_query(client, world):
    response = get(client, world, "ops/prepare/metrics/", attempt=0)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == "query"
