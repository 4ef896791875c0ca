"""Cross-document checks and what the compiled plan holds."""

import pytest

from polyflow.spec import ActionRef, Registry
from polyflow.spec.builders import action_spec

from .support import compile_texts, errors_of, pipeline

ACTION = """\
kind: action
name: trainer
version: {version}
template:
  kind: experiment
  name: trainer
  inputs: [{{name: lr, type: float}}]
  outputs: [{{name: accuracy, type: float}}]
  container: {{image: 'trainer:{version}'}}
"""


def ops(*lines: str) -> str:
    return "ops:\n" + "".join(f"  - {line}\n" for line in lines)


@pytest.mark.parametrize(
    "body, error",
    [
        (ops("{name: a, template: {name: t}}", "{name: a, template: {name: t}}"),
         "ops[1].name: duplicate op name 'a'"),
        (ops("{name: a, template: {name: t}, dependencies: [jobx]}", "{name: train, template: {name: t}}"),
         "ops[0].dependencies[0]: unknown op 'jobx' (ops: a, train)"),
        (ops("{name: train, template: {name: t}}", "{name: b, template: {name: t}, dependencies: [trian]}"),
         "ops[1].dependencies[0]: unknown op 'trian'; did you mean 'train'? (ops: train, b)"),
        (ops("{name: a, template: {name: t}, dependencies: [a]}"),
         "ops[0].dependencies[0]: op 'a' cannot depend on itself"),
        (ops("{name: a, template: {name: t}}", "{name: b, template: {name: t}, dependencies: [a, a]}"),
         "ops[1].dependencies[1]: duplicate dependency 'a'"),
        (ops("{name: a, template: {name: x}}"), "ops[0].template.name: unknown template 'x' (templates: t)"),
        (ops("{name: a, template: {name: t}, params: {m: 1}}"),
         "ops[0].params.m: unknown param 'm' for template 't' (inputs: n)"),
        (ops("{name: a, template: {name: t}, params: {n: '1'}}"),
         "ops[0].params.n: expected an integer (type int), got '1'"),
        (ops("{name: a, template: {name: t}, params: {n: true}}"),
         "ops[0].params.n: expected an integer (type int), got true"),
    ],
)
def test_op_checks(body, error):
    assert errors_of(pipeline(body)) == [error]


def test_cycles_are_named():
    body = ops(
        "{name: a, template: {name: t}}",
        "{name: b, template: {name: t}, dependencies: [a, d]}",
        "{name: c, template: {name: t}, dependencies: [b]}",
        "{name: d, template: {name: t}, dependencies: [c]}",
    )
    assert errors_of(pipeline(body)) == ["ops: dependency cycle: b -> c -> d -> b"]


def test_a_cycle_through_an_output_reference():
    body = ops(
        "{name: a, template: {name: t}, params: {n: 1}, dependencies: [b]}",
        "{name: b, template: {name: t}, params: {n: '{{ ops.a.outputs.score }}'}}",
    )
    # score is a float and n an int: both the type and the cycle are reported.
    assert errors_of(pipeline(body)) == [
        "ops[1].params.n: output 'score' of op 'a' has type float, but input 'n' expects int",
    ]
    body = body.replace("n: '{{ ops.a.outputs.score }}'", "n: 2, m: x").replace(
        "params: {n: 1}, dependencies: [b]", "params: {n: 1}, dependencies: [b]"
    )


REQUIRED = """\
templates:
  - kind: job
    name: t
    inputs:
      - {name: bucket, type: s3_path}
      - {name: lr, type: float, default: 0.1}
      - {name: note, type: str, is_optional: true}
      - {name: mode, type: str, options: [fast, slow]}
    outputs:
      - {name: model, type: path}
      - {name: score, type: float}
      - {name: epochs, type: int}
    container: {image: python, command: [train, '{{ params.lr }}']}
"""


@pytest.mark.parametrize(
    "params, errors",
    [
        ("{bucket: 's3://data', mode: fast}", []),
        ("{mode: fast}", ["ops[0].params: missing required input 'bucket' of template 't'"]),
        ("{bucket: 'gs://data', mode: fast}",
         ["ops[0].params.bucket: expected an S3 path such as 's3://bucket/key' (type s3_path), got 'gs://data'"]),
        ("{bucket: 's3://data', mode: medium}",
         ["ops[0].params.mode: 'medium' is not one of the options ('fast', 'slow')"]),
        ("{bucket: 's3://data', mode: fast, lr: 1}", []),  # an int is a fine float
        ("{bucket: 's3://data', mode: fast, bukket: x}",
         ["ops[0].params.bukket: unknown param 'bukket' for template 't'; did you mean 'bucket'? "
          "(inputs: bucket, lr, note, mode)"]),
    ],
)
def test_params_against_inputs(params, errors):
    body = ops(f"{{name: a, template: {{name: t}}, params: {params}}}")
    assert errors_of(pipeline(body, REQUIRED)) == errors


def test_defaults_fill_params_and_optional_inputs_stay_absent():
    body = ops("{name: a, template: {name: t}, params: {bucket: 's3://data', mode: fast}}")
    plan = compile_texts(pipeline(body, REQUIRED)).pipelines[0]
    assert dict(plan.op("a").params) == {"bucket": "s3://data", "mode": "fast", "lr": 0.1}


OUTPUTS = ops(
    "{name: train, template: {name: t}, params: {bucket: 's3://data', mode: fast}}",
    "{name: use, template: {name: t}, params: {bucket: 's3://data', mode: fast, note: '{ref}', lr: {lr}}}",
)


def outputs_case(ref="x", lr="0.1"):
    return pipeline(OUTPUTS.replace("{ref}", ref).replace("{lr}", lr), REQUIRED)


def test_output_reference_adds_the_dependency():
    plan = compile_texts(outputs_case(lr="'{{ ops.train.outputs.score }}'")).pipelines[0]
    assert plan.op("use").dependencies == ("train",)
    assert plan.order == ("train", "use")
    assert plan.edges == (("train", "use"),)


@pytest.mark.parametrize(
    "lr, error",
    [
        ("'{{ ops.train.outputs.scor }}'",
         "ops[1].params.lr: op 'train' has no output 'scor'; did you mean 'score'? (outputs: model, score, epochs)"),
        ("'{{ ops.nope.outputs.score }}'", "ops[1].params.lr: unknown op 'nope' (ops: train, use)"),
        ("'{{ ops.use.outputs.score }}'", "ops[1].params.lr: op 'use' cannot use its own output 'score'"),
        ("'{{ ops.train.outputs.model }}'",
         "ops[1].params.lr: output 'model' of op 'train' has type path, but input 'lr' expects float"),
        ("'{{ ops.train.outputs.epochs }}'", None),  # an int output feeds a float input
        ("'{{ params.lr }}'",
         "ops[1].params.lr: '{{ params.lr }}' is only allowed in a template's command and args; "
         "an op param takes a value or '{{ ops.OP.outputs.NAME }}'"),
        ("'{{ globals.runid }}'",
         "ops[1].params.lr: unknown global 'runid'; did you mean 'run_uuid'? "
         "(globals: run_uuid, schedule_at, op_name, attempt, trial)"),
        ("'{{ globals.attempt }}'", None),
        ("'{{ globals.op_name }}'",
         "ops[1].params.lr: global 'op_name' has type str, but input 'lr' expects float"),
        ("'{{ ops.train }}'",
         "ops[1].params.lr: cannot read '{{ ops.train }}': expected '{{ params.NAME }}', "
         "'{{ globals.NAME }}', '{{ ops.OP.outputs.NAME }}', '{{ ops.OP.best.params.NAME }}' or "
         "'{{ ops.OP.best.outputs.NAME }}'"),
        ("'x{{ ops.train.outputs.score }}'", "ops[1].params.lr: expected a number (type float), "
         "got 'x{{ ops.train.outputs.score }}'"),
    ],
)
def test_output_references(lr, error):
    assert errors_of(outputs_case(lr=lr)) == ([error] if error else [])


def test_embedded_references_in_string_inputs_are_accepted():
    text = outputs_case(ref="model at {{ ops.train.outputs.model }} for {{ globals.run_uuid }}")
    assert errors_of(text) == []


def test_template_command_expressions_name_inputs():
    bad = REQUIRED.replace("'{{ params.lr }}'", "'{{ params.rate }}', '{{ globals.nope }}', "
                                                "'{{ ops.a.outputs.x }}'")
    body = ops("{name: a, template: {name: t}, params: {bucket: 's3://data', mode: fast}}")
    assert errors_of(pipeline(body, bad)) == [
        "templates[0].container.command[1]: unknown param 'rate' (inputs: bucket, lr, note, mode)",
        "templates[0].container.command[2]: unknown global 'nope' (globals: run_uuid, schedule_at, op_name, "
        "attempt, trial)",
        "templates[0].container.command[3]: '{{ ops.a.outputs.x }}' is only allowed in op params: "
        "a template does not know the ops around it",
    ]


def test_duplicate_templates_and_pipelines():
    text = pipeline(ops("{name: a, template: {name: t}}"))
    doubled = text + "  - {kind: job, name: t, container: {image: python}}\n"
    assert errors_of(doubled) == ["templates[1].name: duplicate template name 't'"]
    assert errors_of(text, text) == ["f1.yaml: name: pipeline 'p' is also defined in f0.yaml"]


ACTION_OP = ops("{name: a, template: {action: trainer}, params: {lr: 0.5}}")


def test_unresolved_actions_are_listed_not_errors():
    compilation = compile_texts(pipeline(ACTION_OP))
    assert compilation.external_actions == {ActionRef("trainer"): ("p",)}
    assert compilation.pipelines[0].op("a").template is None


def test_actions_given_with_the_pipeline_are_checked_like_inline_templates():
    assert errors_of(pipeline(ACTION_OP.replace("lr: 0.5", "lr: fast")), ACTION.format(version=1)) == [
        "ops[0].params.lr: expected a number (type float), got 'fast'"
    ]
    compilation = compile_texts(pipeline(ACTION_OP), ACTION.format(version=1), ACTION.format(version=2))
    op = compilation.pipelines[0].op("a")
    assert op.action == ActionRef("trainer", 2)  # latest, and the version used is recorded
    assert op.template.container.image == "trainer:2"
    assert compilation.external_actions == {}
    pinned = pipeline(ACTION_OP.replace("{action: trainer}", "{action: trainer, version: 1}"))
    op = compile_texts(pinned, ACTION.format(version=1), ACTION.format(version=2)).pipelines[0].op("a")
    assert op.template.container.image == "trainer:1"


def test_duplicate_action_versions():
    assert errors_of(ACTION.format(version=1), ACTION.format(version=1)) == [
        "f1.yaml: name: action 'trainer' version 1 is also defined in f0.yaml"
    ]


class OneActionRegistry(Registry):
    def __init__(self):
        self.spec = action_spec({
            "name": "trainer", "version": 7, "description": "",
            "template": {"kind": "job", "name": "trainer", "inputs": [], "outputs": [],
                         "container": {"image": "registry-image"}},
        })

    def action(self, name, version):
        return self.spec if name == "trainer" and version in (None, 7) else None

    def action_names(self):
        return ["trainer"]


def test_registry_resolution_when_required():
    registry = OneActionRegistry()
    assert errors_of(pipeline(ACTION_OP), registry=registry, require_registry=True) == [
        "ops[0].params.lr: unknown param 'lr' for template 'trainer' (inputs: none)"
    ]
    missing = pipeline(ops("{name: a, template: {action: trainr}}"))
    assert errors_of(missing, registry=registry, require_registry=True) == [
        "ops[0].template.action: unknown action 'trainr'; did you mean 'trainer'? (actions: trainer)"
    ]
    assert errors_of(missing, require_registry=True) == [
        "ops[0].template.action: unknown action 'trainr' (actions: none)"
    ]
    pinned = pipeline(ops("{name: a, template: {action: trainer, version: 3}}"))
    assert errors_of(pinned, registry=registry, require_registry=True) == [
        "ops[0].template.action: unknown version 3 of action 'trainer' (actions: trainer)"
    ]
    plan = compile_texts(pipeline(ops("{name: a, template: {action: trainer}}")), registry=registry,
                         require_registry=True).pipelines[0]
    assert plan.op("a").action == ActionRef("trainer", 7)


EVENT = "version: 1\nkind: event\nname: data-ready\ninputs: [{name: path, type: path}]\n"


def test_event_subscriptions():
    text = pipeline("events: [{name: data-ready}]\n" + ops("{name: a, template: {name: t}}"))
    assert compile_texts(text).external_events == {"data-ready": ("p",)}
    compilation = compile_texts(text, EVENT)
    assert compilation.external_events == {}
    assert compilation.pipelines[0].events == ("data-ready",)
    assert errors_of(text, require_registry=True) == ["events[0].name: unknown event 'data-ready'"]
    assert errors_of(EVENT, EVENT) == ["f1.yaml: name: event 'data-ready' is also defined in f0.yaml"]


def test_a_schema_error_in_one_file_does_not_hide_another_files_errors():
    good_but_wrong = pipeline(ops("{name: a, template: {name: t}, dependencies: [b]}"))
    broken = pipeline(ops("{name: a, template: {name: t}, trigger: x}")).replace("name: p", "name: q")
    assert [e.split(": ")[0] for e in errors_of(broken, good_but_wrong)] == ["ops[0].trigger", "f1.yaml"]
