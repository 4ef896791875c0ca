"""Filling in params at submit time: outputs of upstream ops and globals."""

import pytest

from polyflow.scheduler.params import UnresolvedReference, resolve_params
from polyflow.scheduler.snapshot import Published

OUTPUTS = {"a": Published({"count": 3, "ok": True, "meta": {"b": 1, "a": [1, 2]}, "none": None, "lr": 0.5,
                           "path": "/d"})}
GLOBALS = {"run_uuid": "0f3c", "attempt": 2, "op_name": "train", "schedule_at": "2024-01-01T00:00:00+00:00"}


def resolve(value):
    return resolve_params({"p": value}, OUTPUTS, GLOBALS)["p"]


@pytest.mark.parametrize(("value", "expected"), [
    ("{{ ops.a.outputs.count }}", 3),  # a whole reference keeps the output's type
    ("{{ops.a.outputs.ok}}", True),
    ("{{ ops.a.outputs.meta }}", {"b": 1, "a": [1, 2]}),
    ("{{ ops.a.outputs.none }}", None),
    ("n={{ ops.a.outputs.count }}", "n=3"),  # embedded: formatted into the string
    ("{{ ops.a.outputs.ok }}!", "true!"),
    ("m={{ ops.a.outputs.meta }}", 'm={"a": [1, 2], "b": 1}'),
    ("{{ ops.a.outputs.none }}-{{ ops.a.outputs.lr }}", "null-0.5"),
    ("{{ ops.a.outputs.path }}/x", "/d/x"),
    ("{{ globals.run_uuid }}", "0f3c"),
    ("{{ globals.attempt }}", 2),
    ("{{ globals.op_name }}-{{ globals.attempt }}@{{ globals.schedule_at }}", "train-2@2024-01-01T00:00:00+00:00"),
    ({"k": ["{{ ops.a.outputs.count }}", "x{{ globals.attempt }}"]}, {"k": [3, "x2"]}),  # nested values
    (7, 7),
    ("plain", "plain"),
])
def test_resolve(value, expected):
    assert resolve(value) == expected


def test_every_param_is_resolved():
    params = {"n": "{{ ops.a.outputs.count }}", "lr": 0.1, "name": "{{ globals.op_name }}"}
    assert resolve_params(params, OUTPUTS, GLOBALS) == {"n": 3, "lr": 0.1, "name": "train"}


@pytest.mark.parametrize(("value", "message"), [
    ("{{ ops.a.outputs.loss }}", "op 'a' did not publish output 'loss' (published: count, lr, meta, none, ok, path)"),
    ("x-{{ ops.b.outputs.y }}", "op 'b' did not publish output 'y' (published: none)"),
])
def test_a_missing_output_is_unresolved(value, message):
    with pytest.raises(UnresolvedReference) as error:
        resolve(value)
    assert str(error.value) == message
