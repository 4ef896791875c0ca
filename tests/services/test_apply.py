"""Applying documents: create, update, actions and their versions, events."""

import pytest

from polyflow.exceptions import Conflict, InvalidInput, InvalidSpec, NotFound
from polyflow.models import Action, Event, Operation, Pipeline
from polyflow.services.apply import apply_text
from polyflow.services.events import fire_event
from polyflow.spec import Plan

from .conftest import CHAIN

ACTION = """\
kind: action
name: trainer
description: trains
template:
  kind: experiment
  name: trainer
  inputs: [{name: lr, type: float, default: 0.1}, {name: path, type: path, is_optional: true}]
  outputs: [{name: accuracy, type: float}]
  container: {image: 'trainer:1'}
"""

USES_ACTION = """\
version: 1
kind: pipeline
name: uses
events: [{name: data-ready}]
ops:
  - {name: train, template: {action: trainer}, params: {lr: 0.5}}
"""

EVENT = "version: 1\nkind: event\nname: data-ready\ninputs: [{name: path, type: path}]\n"


def edges(pipeline):
    return sorted((up.name, op.name) for op in pipeline.operations.all() for up in op.upstream.all())


def test_create_then_update_by_name(project):
    (pipeline, created), = apply_text(project, CHAIN).pipelines
    assert created and pipeline.content == CHAIN
    assert list(pipeline.operations.values_list("name", "position")) == [("a", 0), ("b", 1), ("c", 2), ("side", 3)]
    assert edges(pipeline) == [("a", "b"), ("b", "c")]
    changed = CHAIN.replace("  - {name: side, template: {name: t}}\n", "  - {name: d, template: {name: t}, "
                                                                        "dependencies: [a]}\n")
    (again, created), = apply_text(project, changed).pipelines
    assert not created and again.pk == pipeline.pk
    assert sorted(again.operations.values_list("name", flat=True)) == ["a", "b", "c", "d"]
    assert edges(again) == [("a", "b"), ("a", "d"), ("b", "c")]


def test_modes(project):
    apply_text(project, CHAIN, mode="create")
    with pytest.raises(Conflict, match="already exists"):
        apply_text(project, CHAIN, mode="create")
    with pytest.raises(NotFound):
        apply_text(project, CHAIN.replace("name: chain", "name: other"), mode="update")
    with pytest.raises(InvalidInput, match="does not match"):
        apply_text(project, CHAIN.replace("name: chain", "name: other"), expect_name="chain")
    with pytest.raises(InvalidInput, match="expected one pipeline document"):
        apply_text(project, ACTION, expect_kind="pipeline")


def test_invalid_documents_store_nothing(project):
    with pytest.raises(InvalidSpec) as raised:
        apply_text(project, ACTION + "---\n" + EVENT + "---\n" + USES_ACTION.replace("lr: 0.5", "lr: fast"))
    assert raised.value.errors == [{"source": "body (document 3)", "path": "ops[0].params.lr",
                                    "message": "expected a number (type float), got 'fast'"}]
    assert not Action.objects.exists() and not Pipeline.objects.exists() and not Event.objects.exists()


def test_unknown_action_is_an_error_until_it_is_in_the_registry(project):
    with pytest.raises(InvalidSpec) as raised:
        apply_text(project, USES_ACTION.replace("events: [{name: data-ready}]\n", ""))
    assert raised.value.errors == [{"source": "body", "path": "ops[0].template.action",
                                    "message": "unknown action 'trainer' (actions: none)"}]
    assert apply_text(project, ACTION).actions[0].version == 1
    (pipeline, _), = apply_text(project, USES_ACTION.replace("events: [{name: data-ready}]\n", "")).pipelines
    op = Plan.from_dict(pipeline.plan).op("train")
    assert (op.action.name, op.action.version, op.template.container.image) == ("trainer", 1, "trainer:1")


def test_action_versions_are_immutable_and_pipelines_keep_theirs(project):
    apply_text(project, ACTION)
    (pipeline, _), = apply_text(project, ACTION + "---\n" + EVENT + "---\n" + USES_ACTION).pipelines
    assert Plan.from_dict(pipeline.plan).op("train").action.version == 2  # stored with this apply
    assert apply_text(project, ACTION.replace("trainer:1", "trainer:3")).actions[0].version == 3
    pipeline.refresh_from_db()
    assert Plan.from_dict(pipeline.plan).op("train").template.container.image == "trainer:1"
    versioned = ACTION.replace("name: trainer\n", "name: trainer\nversion: 3\n", 1)
    assert apply_text(project, versioned.replace("trainer:1", "trainer:3")).actions[0].version == 3  # same: no-op
    with pytest.raises(Conflict, match="never changes"):
        apply_text(project, versioned)
    assert list(Action.objects.values_list("version", flat=True)) == [3, 2, 1]


def test_events_subscribe_and_fire(project):
    apply_text(project, ACTION + "---\n" + EVENT + "---\n" + USES_ACTION)
    assert Event.objects.get().subscriptions.count() == 1
    runs = fire_event(project.owner, "data-ready", {"path": "/data/x"})
    assert len(runs) == 1 and runs[0].trigger == "event"
    assert runs[0].op_runs.get().params == {"lr": 0.5, "path": "/data/x"}
    with pytest.raises(InvalidInput) as raised:
        fire_event(project.owner, "data-ready", {"paht": "/x"})
    assert [(e["path"], e["message"]) for e in raised.value.errors] == [
        ("payload.paht", "unknown input 'paht' of event 'data-ready'; did you mean 'path'? (inputs: path)"),
        ("payload", "missing required input 'path' of event 'data-ready'"),
    ]
    with pytest.raises(NotFound):
        fire_event(project.owner, "nope", {})


def test_a_pipeline_op_removed_keeps_old_op_runs(project):
    from polyflow.services.runs import trigger_run

    (pipeline, _), = apply_text(project, CHAIN).pipelines
    run = trigger_run(pipeline)
    apply_text(project, CHAIN.replace("  - {name: side, template: {name: t}}\n", ""))
    assert not Operation.objects.filter(name="side").exists()
    side = run.op_runs.get(name="side")
    assert side.operation is None and side.status == "created"
