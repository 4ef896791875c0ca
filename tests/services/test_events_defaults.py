"""An event's declared input defaults complete the payload before runs are created."""

import pytest

from polyflow.exceptions import InvalidInput
from polyflow.services.apply import apply_text
from polyflow.services.events import fire_event

EVENT = """\
version: 1
kind: event
name: data-ready
inputs:
  - {name: path, type: path}
  - {name: threshold, type: float, default: 0.5}
  - {name: tags, type: str, is_list: true, default: [daily]}
  - {name: dry_run, type: bool, default: false}
  - {name: note, type: str, is_optional: true}
"""

PIPELINE = """\
version: 1
kind: pipeline
name: on-data
events: [{name: data-ready}]
ops:
  - {name: check, template: {name: check}, params: {note: from the pipeline}}
  - {name: other, template: {name: other}}
templates:
  - kind: job
    name: check
    inputs:
      - {name: path, type: path, is_optional: true}
      - {name: threshold, type: float, default: 0.9}
      - {name: dry_run, type: bool, default: true}
      - {name: note, type: str, default: template}
    container: {image: busybox, command: ['true']}
  - kind: job
    name: other
    inputs: [{name: tags, type: str, is_list: true, default: [template]}]
    container: {image: busybox, command: ['true']}
"""


@pytest.fixture
def subscribed(project):
    return apply_text(project, EVENT + "---\n" + PIPELINE).pipelines[0][0]


def params(run) -> dict:
    return dict(run.op_runs.values_list("name", "params"))


def test_defaults_fill_what_the_payload_leaves_out(project, subscribed):
    run, = fire_event(project.owner, "data-ready", {"path": "/data/x"})
    # The event's defaults win over the templates' (0.9, true); an optional input without a
    # default is left out, so the pipeline's own param stays.
    assert params(run) == {
        "check": {"path": "/data/x", "threshold": 0.5, "dry_run": False, "note": "from the pipeline"},
        "other": {"tags": ["daily"]},
    }


def test_given_values_win_over_defaults(project, subscribed):
    run, = fire_event(project.owner, "data-ready",
                      {"path": "/data/y", "threshold": 0.7, "tags": ["adhoc"], "dry_run": True, "note": "hi"})
    assert params(run) == {
        "check": {"path": "/data/y", "threshold": 0.7, "dry_run": True, "note": "hi"},
        "other": {"tags": ["adhoc"]},
    }


def test_a_missing_input_without_default_is_still_an_error(project, subscribed):
    with pytest.raises(InvalidInput) as raised:
        fire_event(project.owner, "data-ready", {})
    assert [(e["path"], e["message"]) for e in raised.value.errors] == [
        ("payload", "missing required input 'path' of event 'data-ready'")]
    assert not subscribed.runs.exists()


def test_defaults_are_copied_not_shared(project, subscribed):
    first, = fire_event(project.owner, "data-ready", {"path": "/a"})
    second, = fire_event(project.owner, "data-ready", {"path": "/b"})
    assert params(first)["other"] == params(second)["other"] == {"tags": ["daily"]}
