"""The Django admin on PostgreSQL: every page renders, runs and history are read-only."""

from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import reverse

from polyflow.models import (
    Action,
    Event,
    EventSubscription,
    OperationRun,
    OperationRunStatus,
    Pipeline,
    PipelineRun,
    PipelineRunStatus,
    Project,
    ProjectMember,
    SchedulerHeartbeat,
)
from polyflow.services.apply import apply_text
from polyflow.services.projects import add_member, create_project
from polyflow.services.runs import trigger_run
from polyflow.statuses import OpStatus, RunStatus
from polyflow.telemetry import heartbeat

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]

EVENT = """
version: 1
kind: event
name: data-ready
inputs:
  - {name: path, type: str}
"""

ON_EVENT = """
version: 1
kind: pipeline
name: on-data
events: [{name: data-ready}]
ops:
  - name: echo
    template: {name: echo}
templates:
  - kind: job
    name: echo
    container: {image: 'busybox:1.36', command: [echo, hi]}
"""


@pytest.fixture
def world(admin_user, django_user_model):
    bob = django_user_model.objects.create_user("bob")
    project = create_project(admin_user, "ml")
    add_member(project, "bob", "viewer")
    apply_text(project, (ROOT / "examples/actions/deep-wide-model.yaml").read_text())
    apply_text(project, (ROOT / "examples/test-pipeline.yaml").read_text())
    apply_text(project, EVENT)
    apply_text(project, ON_EVENT)
    pipeline = Pipeline.objects.get(name="test-pipeline")
    run = trigger_run(pipeline)
    heartbeat.reset()
    heartbeat.beat(0.01)  # this process's row, as a tick writes it
    return {"project": project, "bob": bob, "pipeline": pipeline, "run": run}


MODELS = [Project, ProjectMember, Pipeline, Action, Event, EventSubscription, PipelineRun, OperationRun,
          PipelineRunStatus, OperationRunStatus, SchedulerHeartbeat]
REGISTERED = [model for model in MODELS if model is not ProjectMember]  # an inline of Project


def url(model, view, *args):
    return reverse(f"admin:polyflow_{model._meta.model_name}_{view}", args=args)


def test_every_model_is_registered():
    assert set(REGISTERED) <= set(admin.site._registry)
    assert ProjectMember not in admin.site._registry  # shown on its project's page


def test_index(admin_client, world):
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    for model in REGISTERED:
        assert url(model, "changelist") in response.content.decode()


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m.__name__)
def test_changelist_and_change_page(admin_client, world, model):
    obj = model.objects.first()
    assert obj is not None
    response = admin_client.get(url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == model.objects.count()
    response = admin_client.get(url(model, "change", obj.pk))
    assert response.status_code == 200


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m.__name__)
def test_changelist_search_and_filters(admin_client, world, model):
    model_admin = admin.site._registry[model]
    if model_admin.search_fields:
        response = admin_client.get(url(model, "changelist"), {"q": "deep"})
        assert response.status_code == 200
    obj = model.objects.first()
    for name in model_admin.list_filter:
        value = getattr(obj, name)
        response = admin_client.get(url(model, "changelist"), {f"{name}__exact": int(value)
                                                               if isinstance(value, bool) else value})
        assert response.status_code == 200
        assert response.context["cl"].result_count == model.objects.filter(**{name: value}).count()


def test_search_runs_by_uuid(admin_client, world):
    run = world["run"]
    response = admin_client.get(url(PipelineRun, "changelist"), {"q": run.uuid.hex[:8]})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [run]


def test_pipeline_page_shows_the_operations_and_edges(admin_client, world):
    response = admin_client.get(url(Pipeline, "change", world["pipeline"].pk))
    content = response.content.decode()
    assert "deep-wide-experiment" in content
    assert "action deep-wide-model v1" in content
    assert "template job-template" in content
    assert 'name="name"' not in content  # only is_paused is a form field
    assert 'name="is_paused"' in content


def test_run_page_shows_op_runs_and_history(admin_client, world):
    run = world["run"]
    response = admin_client.get(url(PipelineRun, "change", run.pk))
    content = response.content.decode()
    assert "job1" in content and "deep-wide-experiment" in content
    assert "status history" in content.lower()
    assert 'name="status"' not in content
    assert run.statuses.count() == 1


@pytest.mark.parametrize("model", [PipelineRun, OperationRun, PipelineRunStatus, OperationRunStatus,
                                   Pipeline, Action, Event, EventSubscription],
                         ids=lambda m: m.__name__)
def test_no_add_page(admin_client, world, model):
    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "add"), {}).status_code == 403


@pytest.mark.parametrize("model", [PipelineRunStatus, OperationRunStatus, OperationRun, EventSubscription],
                         ids=lambda m: m.__name__)
def test_no_delete(admin_client, world, model):
    obj = model.objects.first()
    assert admin_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_a_run_status_cannot_be_changed_through_the_admin(admin_client, world):
    run = world["run"]
    response = admin_client.post(url(PipelineRun, "change", run.pk), {"status": RunStatus.SUCCEEDED})
    assert response.status_code == 403
    run.refresh_from_db()
    assert run.status == RunStatus.CREATED
    assert run.statuses.count() == 1

    op_run = run.op_runs.first()
    response = admin_client.post(url(OperationRun, "change", op_run.pk), {"status": OpStatus.SUCCEEDED})
    assert response.status_code == 403
    op_run.refresh_from_db()
    assert op_run.status == OpStatus.CREATED


def test_a_pipeline_change_writes_only_the_pause_flag(admin_client, world):
    pipeline = world["pipeline"]
    before = Pipeline.objects.values().get(pk=pipeline.pk)
    response = admin_client.post(url(Pipeline, "change", pipeline.pk), {
        "is_paused": "on", "name": "renamed", "plan": "{}", "next_slot_at": "2030-01-01 00:00",
        # The read-only inline's management form.
        "operations-TOTAL_FORMS": "0", "operations-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    after = Pipeline.objects.values().get(pk=pipeline.pk)
    assert after.pop("is_paused") is True
    before.pop("is_paused")
    after.pop("updated_at"), before.pop("updated_at")
    assert after == before


def test_stop_action_goes_through_the_service(admin_client, world):
    run = world["run"]
    response = admin_client.post(url(PipelineRun, "changelist"),
                                 {"action": "stop", "_selected_action": [run.pk]})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED
    history = list(run.statuses.values_list("status", flat=True))
    assert history[0] == RunStatus.CREATED and history[-1] == RunStatus.STOPPED


def test_pause_and_resume_actions(admin_client, world):
    pipeline = world["pipeline"]
    changelist = url(Pipeline, "changelist")
    admin_client.post(changelist, {"action": "pause", "_selected_action": [pipeline.pk]})
    pipeline.refresh_from_db()
    assert pipeline.is_paused
    admin_client.post(changelist, {"action": "resume", "_selected_action": [pipeline.pk]})
    pipeline.refresh_from_db()
    assert not pipeline.is_paused


def test_a_pipeline_with_an_active_run_cannot_be_deleted(admin_client, world):
    pipeline = world["pipeline"]
    assert admin_client.get(url(Pipeline, "delete", pipeline.pk)).status_code == 403
    assert admin_client.get(url(PipelineRun, "delete", world["run"].pk)).status_code == 403
    assert Pipeline.objects.filter(pk=pipeline.pk).exists()


def test_project_page_has_its_members(admin_client, world):
    response = admin_client.get(url(Project, "change", world["project"].pk))
    content = response.content.decode()
    assert "polyflow_members-TOTAL_FORMS" in content
    assert 'value="viewer" selected' in content


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m.__name__)
def test_changelists_make_a_constant_number_of_queries(admin_client, world, model,
                                                       django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        admin_client.get(url(model, "changelist"))
    for _ in range(3):
        trigger_run(world["pipeline"])
        trigger_run(Pipeline.objects.get(name="on-data"))
    apply_text(world["project"], "kind: action\nname: more\ntemplate: {kind: job, name: more, "
                                 "container: {image: x}}\n")
    apply_text(create_project(world["bob"], "other"), ON_EVENT.replace("data-ready", "other-event")
               + "---\nversion: 1\nkind: event\nname: other-event\n")
    with django_assert_max_num_queries(len(few)):
        admin_client.get(url(model, "changelist"))
