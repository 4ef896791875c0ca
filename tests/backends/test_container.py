import datetime as dt
import json

import pytest

from polyflow.backends.base import SubmitError
from polyflow.backends.container import as_text, env_var_name, param_env, render_command
from polyflow.spec.plan import freeze

from .support import RUN_UUID, submission


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("lr", "POLYFLOW_PARAM_LR"),
        ("learning-rate", "POLYFLOW_PARAM_LEARNING_RATE"),
        ("batchSize", "POLYFLOW_PARAM_BATCHSIZE"),
        ("_x.y z", "POLYFLOW_PARAM__X_Y_Z"),
        ("n2", "POLYFLOW_PARAM_N2"),
    ],
)
def test_env_var_name(name, expected):
    assert env_var_name(name) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("a b", "a b"),
        ("", ""),
        (3, "3"),
        (0.5, "0.5"),
        (True, "true"),
        (False, "false"),
        (None, ""),
        ({"b": 1, "a": [1, True, None]}, '{"a": [1, true, null], "b": 1}'),
        ([1, "x"], '[1, "x"]'),
        (freeze({"k": ("v",)}), '{"k": ["v"]}'),
        (dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC), "2024-05-01T12:30:00+00:00"),
        (dt.date(2024, 5, 1), "2024-05-01"),
    ],
)
def test_as_text(value, text):
    assert as_text(value) == text


def test_render_command_substitutes_params_and_globals():
    slot = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    sub = submission(
        command=["train", "{{ params.epochs }}"],
        args=["--lr={{params.lr}}", "{{ params.flag }}", "{{ params.config }}", "{{ params.tags }}",
              "{{ globals.run_uuid }}/{{ globals.op_name }}/{{ globals.attempt }}", "{{ globals.schedule_at }}",
              "plain"],
        params={"epochs": 3, "lr": 0.01, "flag": False, "config": freeze({"depth": 2, "act": "relu"}),
                "tags": ["a", "b"]},
        attempt=2, op="fit",
        globals_={"run_uuid": RUN_UUID, "schedule_at": slot, "op_name": "fit", "attempt": 2},
    )
    command, args = render_command(sub)
    assert command == ["train", "3"]
    assert args == [
        "--lr=0.01", "false", '{"act": "relu", "depth": 2}', '["a", "b"]',
        f"{RUN_UUID}/fit/2", "2024-05-01T00:00:00+00:00", "plain",
    ]
    assert all(isinstance(part, str) for part in command + args)


def test_render_command_globals_default_from_the_submission():
    sub = submission(command=["echo", "{{ globals.op_name }}-{{ globals.attempt }}", "[{{ globals.schedule_at }}]"],
                     op="x", attempt=4, globals_={})
    assert render_command(sub) == (["echo", "x-4", "[]"], [])


def test_optional_input_without_value_renders_empty():
    sub = submission(command=["echo", "a{{ params.maybe }}b"], inputs=["maybe"])
    assert render_command(sub) == (["echo", "ab"], [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ params.nope }}", "template 't': unknown param 'nope' in its command (inputs: none)"),
        ("{{ globals.nope }}", "template 't': unknown global 'nope' in its command"),
        ("{{ ops.a.outputs.b }}", "template 't': '{{ ops.a.outputs.b }}' is only allowed in op params"),
        ("{{ params.lr }", "template 't': cannot read '{{ params.lr }': '{{' without a closing '}}'"),
    ],
)
def test_render_command_errors_are_permanent(text, message):
    with pytest.raises(SubmitError) as caught:
        render_command(submission(command=["echo", text]))
    assert caught.value.permanent
    assert str(caught.value).startswith(message)


def test_param_env():
    sub = submission(
        command=["true"],
        params={"lr": 0.1, "learning-rate": "fast", "on": True, "cfg": {"b": [1, 2]}, "none": None},
        env={"MINE": "1", "POLYFLOW_OP_NAME": "spoofed"},
        attempt=3, op="fit",
        globals_={"run_uuid": RUN_UUID, "schedule_at": "2024-05-01T00:00:00+00:00", "op_name": "fit", "attempt": 3},
    )
    assert param_env(sub) == {
        "MINE": "1",
        "POLYFLOW_PARAM_LR": "0.1",
        "POLYFLOW_PARAM_LEARNING_RATE": "fast",
        "POLYFLOW_PARAM_ON": "true",
        "POLYFLOW_PARAM_CFG": '{"b": [1, 2]}',
        "POLYFLOW_PARAM_NONE": "",
        "POLYFLOW_RUN_UUID": RUN_UUID,
        "POLYFLOW_OP_NAME": "fit",  # Polyflow's variables win over the template's env
        "POLYFLOW_ATTEMPT": "3",
        "POLYFLOW_SCHEDULE_AT": "2024-05-01T00:00:00+00:00",
    }
    assert json.loads(param_env(sub)["POLYFLOW_PARAM_CFG"]) == {"b": [1, 2]}


def test_param_env_schedule_at_empty_without_slot():
    env = param_env(submission(command=["true"], globals_={}))
    assert env["POLYFLOW_SCHEDULE_AT"] == ""
    assert env["POLYFLOW_RUN_UUID"] == RUN_UUID


HOSTILE = {"bucket": "key=$(API_KEY)", "money": "$$5", "plain": "a$b"}


def test_param_values_are_written_for_kubernetes_expansion_and_reach_the_process_as_they_are():
    from polyflow.backends.container import as_received

    sub = submission(command=["sh", "-c", "echo {{ params.bucket }} {{ params.money }} {{ params.plain }} $(API_KEY)"],
                     params=HOSTILE, env={"API_KEY": "s3cr3t"})
    command, args = render_command(sub)
    env = param_env(sub)
    # As the pod spec holds them: every `$` of a value doubled, the template's own `$(API_KEY)` kept.
    assert command[-1] == "echo key=$$(API_KEY) $$$$5 a$$b $(API_KEY)"
    assert env["POLYFLOW_PARAM_BUCKET"] == "key=$$(API_KEY)"
    argv, received = as_received(command + args, env)
    # As the process gets them: the values unchanged, the template's reference expanded.
    assert argv[-1] == "echo key=$(API_KEY) $$5 a$b s3cr3t"
    assert (received["POLYFLOW_PARAM_BUCKET"], received["POLYFLOW_PARAM_MONEY"]) == ("key=$(API_KEY)", "$$5")


def test_kubernetes_expansion_rules():
    from polyflow.backends.container import kube_expand

    variables = {"A": "1", "B.x": "2"}
    assert kube_expand("$(A)-$(B.x)-$(C)-$$(A)-$-$$$(A)", variables) == "1-2-$(C)-$(A)-$-$1"
