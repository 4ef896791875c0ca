"""What the spec checks about artifacts and caching when a pipeline is applied."""

import pytest

from polyflow.scheduler.artifacts import artifact_inputs
from tests.spec.support import compile_texts, errors_of

HEAD = """\
version: 1
kind: pipeline
name: p
{cache}ops:
  - {{name: train, template: {{name: train}}}}
  - name: tune
    template: {{name: train}}
    matrix: {{kind: grid, params: {{lr: {{kind: choice, value: [0.1, 0.2]}}}}, metric: {{name: score}}}}
  - name: use
    template: {{name: use}}
{extra}    params: {params}
templates:
  - kind: job
    name: train
    inputs: [{{name: lr, type: float, default: 0.1}}]
    outputs: [{{name: model, type: path}}, {{name: score, type: float}}]
    container: {{image: python, command: [train]}}
  - kind: job
    name: use
    inputs:
      - {{name: model, type: path, is_optional: true}}
      - {{name: models, type: path, is_list: true, is_optional: true}}
      - {{name: where, type: str, is_optional: true}}
      - {{name: link, type: uri, is_optional: true}}
      - {{name: count, type: int, is_optional: true}}
    container: {{image: python, command: [use]}}
"""


def spec(params: str, cache: str = "", extra: str = "") -> str:
    return HEAD.format(params=params, cache=cache, extra=extra)


def test_a_path_input_takes_a_path_output_as_an_artifact():
    assert errors_of(spec("{model: '{{ ops.train.outputs.model }}'}")) == []
    plan = plan_of(spec("{model: '{{ ops.train.outputs.model }}', where: '{{ ops.train.outputs.model }}'}"))
    use = plan.op("use")
    assert use.dependencies == ("train",)
    assert artifact_inputs(plan, use, use.params) == {"model": ("train", "model")}  # `where` gets the URI as text


def test_a_group_best_artifact_is_one_artifact():
    assert errors_of(spec("{model: '{{ ops.tune.best.outputs.model }}'}")) == []


@pytest.mark.parametrize("params, message", [
    ("{model: '{{ ops.train.outputs.model }}/weights.bin'}",
     "ops[2].params.model: input 'model' (type path) takes an artifact as the whole value "
     "'{{ ops.train.outputs.model }}': an artifact is downloaded as one file or directory, it cannot be part "
     "of a longer value"),
    ("{model: '{{ ops.tune.outputs.model }}'}",
     "ops[2].params.model: output 'model' of matrix op 'tune' is a list of artifacts (one per trial), but input "
     "'model' (type path) takes one: use '{{ ops.tune.best.outputs.model }}' (a matrix with a metric)"),
    ("{models: '{{ ops.train.outputs.model }}'}",
     "ops[2].params.models: input 'models' is a list: an artifact input takes one artifact"),
    ("{count: '{{ ops.train.outputs.model }}'}",
     "ops[2].params.count: output 'model' of op 'train' has type path, but input 'count' expects int"),
])
def test_what_an_artifact_cannot_feed(params, message):
    assert errors_of(spec(params)) == [message]


def test_str_and_uri_inputs_take_the_uri_as_text():
    assert errors_of(spec("{where: 'model at {{ ops.train.outputs.model }}', "
                          "link: '{{ ops.train.outputs.model }}'}")) == []


def plan_of(text):
    return compile_texts(text).pipelines[0]


def test_cache_defaults_to_the_pipeline_and_an_op_may_say_otherwise():
    assert {op.name: op.cache for op in plan_of(spec("{}")).ops} == {"train": False, "tune": False, "use": False}
    cached = plan_of(spec("{}", cache="cache: true\n", extra="    cache: false\n"))
    assert {op.name: op.cache for op in cached.ops} == {"train": True, "tune": True, "use": False}
    assert errors_of(spec("{}", extra="    cache: yes please\n")) == [
        "ops[2].cache: expected true or false, got 'yes please'"]
