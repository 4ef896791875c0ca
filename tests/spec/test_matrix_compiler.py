"""Matrix ops through the compiler: spaces against inputs, limits, mappings, metrics, references
to groups, and what the plan holds (polyflow.spec.compiler, polyflow.spec.matrix_checks)."""

import textwrap
from pathlib import Path

import pytest

from polyflow.spec.limits import Limits
from polyflow.spec.plan import EarlyStoppingSpec, MatrixSpec, MetricSpec, SpaceSpec

from .matrix_support import TEMPLATES, grid_op, matrix_errors, ops
from .support import compile_texts, errors_of, pipeline

DESIGN = Path(__file__).resolve().parents[3] / "shared" / "DESIGN.md"

LISTER = "name: list\ntemplate: {name: lister}"
TUNE = grid_op("""\
kind: grid
params:
  lr: {kind: logspace, value: '0.001:0.1:3'}
  depth: {kind: choice, value: [2, 4]}
metric: {name: accuracy}
""")


def plan_of(*items: str, **kwargs):
    [plan] = compile_texts(pipeline(ops(*items), TEMPLATES), **kwargs).pipelines
    return plan


# DESIGN section 9's example (read from DESIGN.md when it is beside this clone), in a
# pipeline with the upstream op and templates it names. As written it mixes kinds (its
# comments say which fields are random's): as a random search everything in it is valid.
EXAMPLE = """\
- name: tune
  template: {action: deep-wide-model}
  matrix:
    kind: grid            # grid | random | mapping (hyperband, bayes: later kinds)
    concurrency: 2        # trials running at once
    params:
      lr: {kind: logspace, value: "0.001:0.1:3"}     # or [start, stop, num]
      depth: {kind: choice, value: [2, 4, 8]}
      dropout: {kind: uniform, value: [0.1, 0.5]}     # random only
    num_runs: 10          # random
    seed: 7               # random
    metric: {name: accuracy, optimization: maximize}
    early_stopping:
      - {kind: metric_early_stopping, metric: accuracy, value: 0.95, optimization: maximize}
      - {kind: failure_early_stopping, percent: 50}
- name: shard
  template: {name: process}
  matrix: {kind: mapping, values: "{{ ops.list-shards.outputs.shards }}"}  # or a literal list of param mappings
"""


def design_example() -> str:
    if DESIGN.is_file():
        section = DESIGN.read_text().split("## 9.")[1]
        block = section.split("```yaml\n")[1].split("```")[0]
        assert block == EXAMPLE  # the copy here is DESIGN's, word for word
    return EXAMPLE


def design_pipeline(kind: str) -> str:
    ops_ = textwrap.indent(design_example().replace("kind: grid ", f"kind: {kind} ", 1), "  ")
    return ("version: 1\nkind: pipeline\nname: design\nops:\n  - name: list-shards\n    template: {name: lister}\n"
            + ops_ + "templates:\n"
            "  - {kind: job, name: lister, container: {image: python}, outputs: [{name: shards, type: list}]}\n"
            "  - {kind: job, name: process, container: {image: python}, inputs: [{name: shard, type: str}]}\n")


ACTION = """\
kind: action
name: deep-wide-model
template:
  kind: experiment
  name: deep-wide-model
  inputs: [{name: lr, type: float}, {name: depth, type: int}, {name: dropout, type: float, default: 0.2}]
  container: {image: 'deep-wide:1'}
"""


def test_design_section_9_example_compiles_as_a_random_search():
    [plan] = compile_texts(design_pipeline("random")).pipelines
    tune, shard = plan.op("tune"), plan.op("shard")
    assert tune.matrix == MatrixSpec(
        kind="random",
        params={"lr": SpaceSpec("logspace", (0.001, 0.1, 3)), "depth": SpaceSpec("choice", (2, 4, 8)),
                "dropout": SpaceSpec("uniform", (0.1, 0.5))},
        num_runs=10, seed=7, concurrency=2, metric=MetricSpec("accuracy", "maximize"),
        early_stopping=(EarlyStoppingSpec("metric_early_stopping", metric="accuracy", value=0.95),
                        EarlyStoppingSpec("failure_early_stopping", percent=50)),
    )
    assert shard.matrix == MatrixSpec("mapping", values="{{ ops.list-shards.outputs.shards }}")
    assert shard.dependencies == ("list-shards",)
    # With the action given, its inputs are checked too; an experiment may rank by any metric.
    [plan] = compile_texts(design_pipeline("random"), ACTION).pipelines
    assert plan.op("tune").params == {}  # every input comes from the matrix


def test_design_section_9_example_as_a_grid():
    # As written, the grid refuses what is random's, and says so.
    assert errors_of(design_pipeline("grid")) == [
        "ops[1].matrix.num_runs: a grid matrix takes no 'num_runs' (kind random does)",
        "ops[1].matrix.seed: a grid matrix takes no 'seed' (kind random does)",
    ]
    grid = design_pipeline("grid").replace("num_runs: 10", "").replace("seed: 7", "")
    assert errors_of(grid) == [
        "ops[1].matrix.params.dropout: uniform is a continuous space: a grid takes only discrete spaces (choice, "
        "geomspace, linspace, logspace, pchoice, range); kind random draws from it"]
    [plan] = compile_texts(grid.replace("dropout: {kind: uniform, value: [0.1, 0.5]}", ""), ACTION).pipelines
    assert plan.op("tune").matrix.kind == "grid"
    assert plan.op("tune").params == {"dropout": 0.2}


def test_the_plan_holds_the_normalised_matrix_and_the_fixed_params():
    plan = plan_of(TUNE)
    tune = plan.op("tune")
    assert tune.matrix.params == {"lr": SpaceSpec("logspace", (0.001, 0.1, 3)), "depth": SpaceSpec("choice", (2, 4))}
    assert list(tune.matrix.params) == ["lr", "depth"]
    # Defaults fill the inputs no space gives; the spaces' inputs stay out of params.
    assert tune.params == {"dropout": 0.1, "act": "relu", "layers": (8,)}
    policies = plan_of(grid_op("kind: grid\nparams: {lr: {kind: choice, value: [1]}}\n"
                               "early_stopping: [{kind: median_early_stopping, metric: accuracy}]")).op("tune")
    assert policies.matrix.early_stopping == (EarlyStoppingSpec("median_early_stopping", metric="accuracy",
                                                                optimization="maximize", min_samples=3, min_steps=0),)


@pytest.mark.parametrize(
    "matrix, errors",
    [
        ("kind: grid\nparams: {lr: {kind: choice, value: [0.1]}, rate: {kind: choice, value: [1]}}",
         ["ops[0].matrix.params.rate: unknown input 'rate' of template 'train' (inputs: lr, depth, dropout, act, "
          "layers)"]),
        ("kind: grid\nparams: {lr: {kind: choice, value: [0.1]}, dropuot: {kind: choice, value: [1]}}",
         ["ops[0].matrix.params.dropuot: unknown input 'dropuot' of template 'train'; did you mean 'dropout'? "
          "(inputs: lr, depth, dropout, act, layers)"]),
        ("kind: grid\nparams:\n  lr: {kind: choice, value: [0.1, '0.2', true]}\n"
         "  depth: {kind: linspace, value: '1:4:4'}\n  act: {kind: choice, value: [relu, gelu]}\n"
         "  layers: {kind: choice, value: [[8, 4], 8]}\n  dropout: {kind: range, value: '0:0.5:0.1'}", [
             "ops[0].matrix.params.lr.value[1]: expected a number (type float), got '0.2'",
             "ops[0].matrix.params.lr.value[2]: expected a number (type float), got true",
             "ops[0].matrix.params.depth.value: linspace gives float values, but input 'depth' expects int "
             "(integers come from a range with an integer start and step, a q-space with an integer q, or a "
             "choice)",
             "ops[0].matrix.params.act.value[1]: 'gelu' is not one of the options ('relu', 'tanh')",
             "ops[0].matrix.params.layers.value[1]: expected a list of int, got 8",
         ]),
        ("kind: random\nnum_runs: 2\nparams:\n  depth: {kind: quniform, value: [1, 10, 1]}\n"
         "  lr: {kind: qloguniform, value: [0.001, 1, 0.001]}\n  act: {kind: uniform, value: [0, 1]}", [
             "ops[0].matrix.params.act.value: input 'act' has options: give its space as a choice of them"]),
        ("kind: grid\nparams: {}", ["ops[0].params: missing required input 'lr' of template 'train'",
                                    "ops[0].matrix.params: a grid search needs at least one param space"]),
        ("kind: random\nnum_runs: 1\nparams: {}", ["ops[0].params: missing required input 'lr' of template 'train'",
                                                   "ops[0].matrix.params: a random search needs at least one "
                                                   "param space"]),
        ("kind: grid\nparams:\n  lr: {kind: choice, value: [0.1]}\n  dropout: {kind: uniform, value: [0.1, 0.5]}",
         ["ops[0].matrix.params.dropout: uniform is a continuous space: a grid takes only discrete spaces (choice, "
          "geomspace, linspace, logspace, pchoice, range); kind random draws from it"]),
        ("kind: grid\nparams:\n  lr: {kind: choice, value: [0.1, 0.2, 0.3]}\n  depth: {kind: range, value: '0:4:1'}\n"
         "  dropout: {kind: linspace, value: '0:0.5:100'}",
         ["ops[0].matrix: the grid has 3 x 4 x 100 = 1200 trials, above the limit of 1000 (POLYFLOW['MAX_TRIALS'])"]),
        ("kind: random\nnum_runs: 1001\nparams: {lr: {kind: uniform, value: [0, 1]}}",
         ["ops[0].matrix.num_runs: 1001 trials, above the limit of 1000 (POLYFLOW['MAX_TRIALS'])"]),
        ("kind: grid\nparams:\n  lr: {kind: choice, value: ['{{ globals.run_uuid }}', {a: ['{{ x']}]}", [
            "ops[0].matrix.params.lr.value[0]: a matrix holds plain values, not expressions ('{{ ... }}'): put "
            "expressions in params ('{{ globals.trial }}' is the trial's index)",
            "ops[0].matrix.params.lr.value[1].a[0]: a matrix holds plain values, not expressions ('{{ ... }}'): put "
            "expressions in params ('{{ globals.trial }}' is the trial's index)",
            "ops[0].matrix.params.lr.value[0]: expected a number (type float), got '{{ globals.run_uuid }}'",
            "ops[0].matrix.params.lr.value[1]: expected a number (type float), got a mapping",
        ]),
    ],
)
def test_spaces_against_the_template(matrix, errors):
    assert matrix_errors(grid_op(matrix)) == errors


def test_a_param_given_twice():
    assert matrix_errors(grid_op("kind: grid\nparams: {lr: {kind: choice, value: [0.1]}}",
                                 extra="params: {lr: 0.5}\n")) == [
        "ops[0].matrix.params.lr: 'lr' is also given in params: give it there or in the matrix, not both"]


def test_the_limit_is_a_parameter():
    matrix = grid_op("kind: grid\nparams: {lr: {kind: choice, value: [0.1, 0.2, 0.3]}}")
    assert matrix_errors(matrix, limits=Limits(trials=3)) == []
    assert matrix_errors(matrix, limits=Limits(trials=2)) == [
        "ops[0].matrix: the grid has 3 trials, above the limit of 2 (POLYFLOW['MAX_TRIALS'])"]


def test_a_required_input_is_given_by_a_space():
    assert matrix_errors(grid_op("kind: grid\nparams: {depth: {kind: choice, value: [1]}}")) == [
        "ops[0].params: missing required input 'lr' of template 'train'"]
    assert matrix_errors(grid_op("kind: grid\nparams: {lr: {kind: choice, value: [1]}}")) == []


SHARD = "name: shard\ntemplate: {name: process}\nmatrix:\n  kind: mapping\n  values: "


@pytest.mark.parametrize(
    "values, errors",
    [
        ("[{shard: a}, {shard: b, bucket: c}]", []),
        ("[]", []),
        ("[{shard: a}, {bucket: c}, {bucket: d}]", [
            "ops[0].params: missing required input 'shard' of template 'process' (items 1, 2 of the matrix's values "
            "lack it)"]),
        ("[{shard: a}, {bucket: c}]", [
            "ops[0].params: missing required input 'shard' of template 'process' (item 1 of the matrix's values "
            "lacks it)"]),
        ("[{shard: a}, 3, [b]]", [
            "ops[0].matrix.values[1]: expected a mapping of input names to values, got 3",
            "ops[0].matrix.values[2]: expected a mapping of input names to values, got a list",
        ]),
        ("[{shard: 1, shrad: a, bucket: null}]", [
            "ops[0].matrix.values[0].shard: expected a string (type str), got 1",
            "ops[0].matrix.values[0].shrad: unknown input 'shrad' of template 'process'; did you mean 'shard'? "
            "(inputs: shard, bucket)",
            "ops[0].matrix.values[0].bucket: expected a string (type str), got null",
        ]),
        ("[{shard: '{{ globals.op_name }}'}]", [
            "ops[0].matrix.values[0].shard: a matrix holds plain values, not expressions ('{{ ... }}'): put "
            "expressions in params ('{{ globals.trial }}' is the trial's index)"]),
        ("{shard: a}", ["ops[0].matrix.values: expected a list of param mappings or '{{ ops.OP.outputs.NAME }}', "
                        "got a mapping"]),
        ("7", ["ops[0].matrix.values: expected a list of param mappings or '{{ ops.OP.outputs.NAME }}', got 7"]),
    ],
)
def test_literal_mappings(values, errors):
    assert matrix_errors(SHARD + values) == errors


def test_a_literal_mapping_key_given_in_params_too():
    assert matrix_errors(SHARD + "[{shard: a}, {shard: b, bucket: c}, {bucket: d, shard: e}]\nparams: {bucket: x}"
                         ) == ["ops[0].matrix.values[1].bucket: 'bucket' is also given in params: give it there or in "
                               "the matrix, not both"]


def test_a_literal_mapping_against_the_limit():
    assert matrix_errors(SHARD + "[{shard: a}, {shard: b}, {shard: c}]", limits=Limits(trials=2)) == [
        "ops[0].matrix.values: 3 items, above the limit of 2 (POLYFLOW['MAX_TRIALS'])"]


def mapping_over(reference: str, *upstream: str) -> list[str]:
    return matrix_errors(*(upstream or (LISTER,)), SHARD + f"'{reference}'")


@pytest.mark.parametrize(
    "reference, errors",
    [
        ("{{ ops.list.outputs.shards }}", []),  # type list
        ("{{ ops.list.outputs.parts }}", []),  # dict, is_list
        ("{{ ops.list.outputs.anything }}", []),  # any
        ("{{ ops.list.outputs.names }}", [
            "ops[1].matrix.values: output 'names' of op 'list' has type list of str: a mapping's values must be a "
            "list of param mappings (an output of type list, dict with is_list, or any)"]),
        ("{{ ops.list.outputs.count }}", [
            "ops[1].matrix.values: output 'count' of op 'list' has type int: a mapping's values must be a list of "
            "param mappings (an output of type list, dict with is_list, or any)"]),
        ("{{ ops.list.outputs.cnt }}", ["ops[1].matrix.values: op 'list' has no output 'cnt'; did you mean "
                                        "'count'? (outputs: shards, count, parts, names, anything)"]),
        ("{{ ops.lst.outputs.shards }}", ["ops[1].matrix.values: unknown op 'lst'; did you mean 'list'? "
                                          "(ops: list, shard)"]),
        ("{{ ops.shard.outputs.rows }}", ["ops[1].matrix.values: op 'shard' cannot use its own output 'rows'"]),
        ("shards", ["ops[1].matrix.values: expected a list of param mappings or one '{{ ops.OP.outputs.NAME }}', "
                    "got 'shards'"]),
        ("{{ ops.list.outputs.shards }}x", [
            "ops[1].matrix.values: expected a list of param mappings or one '{{ ops.OP.outputs.NAME }}', "
            "got '{{ ops.list.outputs.shards }}x'"]),
        ("{{ globals.run_uuid }}", [
            "ops[1].matrix.values: expected a list of param mappings or one '{{ ops.OP.outputs.NAME }}', "
            "got '{{ globals.run_uuid }}'"]),
        ("{{ ops.list.best.outputs.shards }}", [
            "ops[1].matrix.values: expected a list of param mappings or one '{{ ops.OP.outputs.NAME }}', "
            "got '{{ ops.list.best.outputs.shards }}'"]),
        ("{{ ops.list.shards }}", [
            "ops[1].matrix.values: cannot read '{{ ops.list.shards }}': expected '{{ params.NAME }}', "
            "'{{ globals.NAME }}', '{{ ops.OP.outputs.NAME }}', '{{ ops.OP.best.params.NAME }}' or "
            "'{{ ops.OP.best.outputs.NAME }}'"]),
    ],
)
def test_mappings_by_reference(reference, errors):
    assert mapping_over(reference) == errors


def test_a_mapping_by_reference_depends_on_its_upstream_and_leaves_the_items_to_run_time():
    plan = plan_of(LISTER, SHARD + "'{{ ops.list.outputs.shards }}'")
    assert plan.op("shard").dependencies == ("list",)
    assert plan.op("shard").params == {"bucket": "b"}  # shard comes from the items, checked when they are known
    assert plan.order == ("list", "shard")


def test_a_mapping_over_the_outputs_of_a_group():
    # A group's output is the list of its trials' values: each must be a mapping.
    group = grid_op("kind: grid\nparams: {lr: {kind: choice, value: [1]}}", name="tune")
    assert mapping_over("{{ ops.tune.outputs.info }}", group) == []
    assert mapping_over("{{ ops.tune.outputs.scores }}", group) == [
        "ops[1].matrix.values: output 'scores' of op 'tune' has type list of list of float (one per trial): a "
        "mapping's values must be a list of param mappings (an output of type list, dict with is_list, or any)"]
    assert mapping_over("{{ ops.tune.outputs.steps }}", group) == [
        "ops[1].matrix.values: output 'steps' of op 'tune' has type list of int (one per trial): a mapping's values "
        "must be a list of param mappings (an output of type list, dict with is_list, or any)"]


@pytest.mark.parametrize(
    "metric, errors",
    [
        ("{name: accuracy}", []),
        ("{name: steps, optimization: minimize}", []),
        ("{name: acuracy}", ["ops[0].matrix.metric.name: 'acuracy' is no output of template 'train'; did you mean "
                             "'accuracy'? (outputs: accuracy, steps, model, scores, info): a job's trials are ranked "
                             "by a numeric output it declares (an experiment's by any metric it reports)"]),
        ("{name: model}", ["ops[0].matrix.metric.name: output 'model' of template 'train' has type s3_path: a metric "
                           "is an int, float or any"]),
        ("{name: scores}", ["ops[0].matrix.metric.name: output 'scores' of template 'train' has type list of float: "
                            "a metric is an int, float or any"]),
        ("{name: step}", ["ops[0].matrix.metric.name: 'step' is the step of metric records, not a metric"]),
    ],
)
def test_a_metric_is_a_numeric_output_of_a_job(metric, errors):
    assert matrix_errors(grid_op(f"kind: grid\nparams: {{lr: {{kind: choice, value: [1]}}}}\nmetric: {metric}")
                         ) == errors


def test_an_experiment_ranks_by_any_metric_it_reports():
    exp = "kind: grid\nparams: {lr: {kind: choice, value: [1]}}\nmetric: {name: val_loss}\n"
    assert matrix_errors(grid_op(exp, template="exp")) == []
    assert matrix_errors(grid_op(exp.replace("val_loss", "step"), template="exp")) == [
        "ops[0].matrix.metric.name: 'step' is the step of metric records, not a metric"]


def test_policies_metrics_follow_the_same_rule():
    policies = ("kind: grid\nparams: {lr: {kind: choice, value: [1]}}\nearly_stopping:\n"
                "  - {kind: metric_early_stopping, metric: accuracy, value: 0.9}\n"
                "  - {kind: failure_early_stopping, percent: 20}\n"
                "  - {kind: median_early_stopping, metric: los}\n")
    assert matrix_errors(grid_op(policies)) == [
        "ops[0].matrix.early_stopping[2].metric: 'los' is no output of template 'train' (outputs: accuracy, steps, "
        "model, scores, info): a job's trials are ranked by a numeric output it declares (an experiment's by any "
        "metric it reports)"]
    assert matrix_errors(grid_op(policies, template="exp")) == []


def sink(params: str) -> str:
    return f"name: use\ntemplate: {{name: sink}}\nparams: {params}"


@pytest.mark.parametrize(
    "params, errors",
    [
        ("{f: '{{ ops.tune.best.params.lr }}', x: '{{ ops.tune.best.outputs.model }}'}", []),
        ("{f: '{{ ops.tune.best.outputs.accuracy }}', l: '{{ ops.tune.outputs.accuracy }}'}", []),
        ("{fs: '{{ ops.tune.outputs.accuracy }}', x: '{{ ops.tune.outputs.model }}'}", []),
        ("{s: 'best lr {{ ops.tune.best.params.lr }} of {{ ops.tune.outputs.accuracy }}'}", []),
        ("{s: '{{ ops.tune.best.params.lr }}'}",
         ["ops[1].params.s: best param 'lr' of op 'tune' has type float, but input 's' expects str"]),
        ("{s: '{{ ops.tune.best.outputs.accuracy }}'}",
         ["ops[1].params.s: best output 'accuracy' of op 'tune' has type float, but input 's' expects str"]),
        ("{f: '{{ ops.tune.outputs.accuracy }}'}",
         ["ops[1].params.f: output 'accuracy' of op 'tune' is a list (one float per trial), but input 'f' expects "
          "float"]),
        ("{fs: '{{ ops.tune.outputs.model }}'}",
         ["ops[1].params.fs: output 'model' of op 'tune' is a list (one s3_path per trial), but input 'fs' expects "
          "a list of float"]),
        ("{f: '{{ ops.tune.best.params.lrate }}'}",
         ["ops[1].params.f: op 'tune' has no param 'lrate' (params: lr, depth, dropout, act, layers)"]),
        ("{f: '{{ ops.tune.best.params.dropuot }}'}",
         ["ops[1].params.f: op 'tune' has no param 'dropuot'; did you mean 'dropout'? (params: lr, depth, dropout, "
          "act, layers)"]),
        # The best trial's fixed params are its params too.
        ("{f: '{{ ops.tune.best.params.dropout }}'}", []),
        ("{f: '{{ ops.tune.best.outputs.acc }}'}",
         ["ops[1].params.f: op 'tune' has no output 'acc' (outputs: accuracy, steps, model, scores, info)"]),
        ("{f: '{{ ops.tun.best.outputs.accuracy }}'}",
         ["ops[1].params.f: unknown op 'tun'; did you mean 'tune'? (ops: tune, use)"]),
    ],
)
def test_references_to_a_group(params, errors):
    assert matrix_errors(TUNE, sink(params)) == errors


def test_best_needs_a_matrix_with_a_metric():
    plain = "name: tune\ntemplate: {name: train}\nparams: {lr: 0.1}"
    no_metric = grid_op("kind: grid\nparams: {lr: {kind: choice, value: [1]}}")
    best = sink("{f: '{{ ops.tune.best.outputs.accuracy }}'}")
    assert matrix_errors(plain, best) == [
        "ops[1].params.f: op 'tune' has no matrix: '{{ ops.tune.best.outputs.accuracy }}' needs a matrix op with a "
        "metric"]
    assert matrix_errors(no_metric, best) == [
        "ops[1].params.f: the matrix of op 'tune' has no metric: '{{ ops.tune.best.outputs.accuracy }}' needs one "
        "to rank its trials"]


def test_a_group_cannot_use_its_own_best_trial():
    assert matrix_errors(grid_op("kind: grid\nparams: {lr: {kind: choice, value: [1]}}\nmetric: {name: accuracy}",
                                 extra="params: {depth: '{{ ops.tune.best.params.depth }}'}\n")) == [
        "ops[0].params.depth: op 'tune' cannot use its own best trial"]


def test_references_to_a_group_add_the_dependency():
    plan = plan_of(TUNE, sink("{f: '{{ ops.tune.best.params.lr }}'}"))
    assert plan.op("use").dependencies == ("tune",)


def test_the_trial_global():
    assert matrix_errors(grid_op("kind: grid\nparams: {lr: {kind: choice, value: [1]}}",
                                 extra="params: {depth: '{{ globals.trial }}', act: '{{ globals.trial }}'}\n")) == [
        "ops[0].params.act: global 'trial' has type int, but input 'act' expects str"]


def test_the_example_of_the_matrix_docs_compiles():
    docs = Path(__file__).resolve().parents[2] / "docs" / "matrix.md"
    example = docs.read_text().split("```yaml\n")[1].split("```")[0]
    [plan] = compile_texts(example).pipelines
    assert plan.op("tune").matrix.kind == "random"
    assert plan.op("tune").params == {"epochs": 5}
    assert plan.op("export").dependencies == ("tune",)
    assert plan.op("process").dependencies == ("list-shards",)


def test_an_op_named_like_a_trial_of_a_matrix_op_is_refused():
    from polyflow.spec import SpecValidationError, check, parse_yaml

    text = """\
version: 1
kind: pipeline
name: p
ops:
  - name: tune
    template: {name: t}
    matrix: {kind: mapping, values: [{x: 1}]}
  - {name: tune-t3, template: {name: t}, params: {x: 2}}
templates:
  - {kind: job, name: t, inputs: [{name: x, type: int}], container: {image: busybox, command: ['true']}}
"""
    with pytest.raises(SpecValidationError) as raised:
        check(parse_yaml(text, "p.yaml"))
    assert [str(error) for error in raised.value.errors] == [
        "p.yaml: ops[1].name: op name 'tune-t3' is the name of a trial of matrix op 'tune': choose another name"]
