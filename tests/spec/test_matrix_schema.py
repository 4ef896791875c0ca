"""The `matrix` of an op as its schema reads it: fields per kind, spaces, metric, early stopping
(polyflow.spec.schemas.matrix)."""

import pytest

from polyflow.matrix.early_stopping import POLICIES
from polyflow.spec.schemas.matrix import POLICY_SCHEMAS

from .matrix_support import grid_op, matrix_errors

FIELDS = "concurrency, early_stopping, kind, metric, num_runs, params, seed, values"
LR = "params:\n  lr: {kind: choice, value: [0.1]}\n"


@pytest.mark.parametrize(
    "matrix, errors",
    [
        ("grid", ["ops[0].matrix: expected a mapping, got 'grid'"]),
        ("{concurrency: 2}", ["ops[0].matrix.kind: required field is missing"]),
        ("{kind: hyperband}", ["ops[0].matrix.kind: unknown matrix kind 'hyperband' "
                               "(matrix kinds: grid, random, mapping)"]),
        ("{kind: gird}", ["ops[0].matrix.kind: unknown matrix kind 'gird'; did you mean 'grid'? "
                          "(matrix kinds: grid, random, mapping)"]),
        ("{kind: grid, parms: {}}", [
            f"ops[0].matrix.parms: unknown field 'parms' in matrix; did you mean 'params'? (fields: {FIELDS})",
            "ops[0].matrix.params: a grid needs params: the spaces whose every combination it runs",
        ]),
        ("{kind: random, params: {lr: {kind: uniform, value: [0, 1]}}}",
         ["ops[0].matrix.num_runs: a random search needs num_runs: how many trials to draw"]),
        ("{kind: random, num_runs: 3}",
         ["ops[0].matrix.params: a random search needs params: the spaces it draws from"]),
        ("{kind: mapping}", ["ops[0].matrix.values: a mapping needs values: a list of param mappings, or "
                             "'{{ ops.OP.outputs.NAME }}' naming one"]),
        ("{kind: grid, num_runs: 3, seed: 1, values: [], params: {lr: {kind: choice, value: [0.1]}}}", [
            "ops[0].matrix.num_runs: a grid matrix takes no 'num_runs' (kind random does)",
            "ops[0].matrix.seed: a grid matrix takes no 'seed' (kind random does)",
            "ops[0].matrix.values: a grid matrix takes no 'values' (kind mapping does)",
        ]),
        ("{kind: mapping, values: [], params: {}, metric: {name: rows}, early_stopping: []}", [
            "ops[0].matrix.params: a mapping matrix takes no 'params' (kinds grid, random do)",
            "ops[0].matrix.metric: a mapping matrix takes no 'metric' (kinds grid, random do)",
            "ops[0].matrix.early_stopping: a mapping matrix takes no 'early_stopping' (kinds grid, random do)",
        ]),
        ("{kind: random, num_runs: 0, seed: -1, concurrency: 0, params: {lr: {kind: uniform, value: [0, 1]}}}", [
            "ops[0].matrix.num_runs: must be positive, got 0",
            "ops[0].matrix.seed: must be at least 0, got -1",
            "ops[0].matrix.concurrency: must be positive, got 0",
        ]),
        ("{kind: random, num_runs: '3', params: {lr: {kind: uniform, value: [0, 1]}}}",
         ["ops[0].matrix.num_runs: expected an integer, got '3'"]),
        ("{kind: mapping, values: null}", ["ops[0].matrix.values: must not be null"]),
    ],
)
def test_fields_of_each_kind(matrix, errors):
    assert matrix_errors(f"name: tune\ntemplate: {{name: train}}\nmatrix: {matrix}") == errors


@pytest.mark.parametrize(
    "params, errors",
    [
        ("[lr]", ["ops[0].matrix.params: expected a mapping, got a list"]),
        ("{1lr: {kind: choice, value: [1]}}", ["ops[0].matrix.params['1lr']: '1lr' is not a valid name: use letters, "
                                                "digits, '_' and '-', starting with a letter or '_'"]),
        ("{lr: [0.1, 0.2]}", ["ops[0].matrix.params.lr: expected a mapping {kind, value}, got a list"]),
        ("{lr: {kind: choice}}", ["ops[0].matrix.params.lr.value: required field is missing"]),
        ("{lr: {value: [1]}}", ["ops[0].matrix.params.lr.kind: required field is missing"]),
        ("{lr: {kind: choise, value: [1]}}", [
            "ops[0].matrix.params.lr.kind: unknown space kind 'choise'; did you mean 'choice'? (space kinds: choice, "
            "pchoice, range, linspace, logspace, geomspace, uniform, quniform, loguniform, qloguniform, normal, "
            "qnormal, lognormal, qlognormal)"]),
        ("{lr: {kind: choice, value: [1], values: [2]}}", [
            "ops[0].matrix.params.lr.values: unknown field 'values' in param space; did you mean 'value'? "
            "(fields: kind, value)"]),
        ("{lr: {kind: choice, value: []}}", ["ops[0].matrix.params.lr.value: a choice needs at least one value"]),
        ("{lr: {kind: choice, value: null}}", ["ops[0].matrix.params.lr.value: must not be null"]),
        ("{act: {kind: pchoice, value: [[relu, 0.5], [tanh, 1.5]]}}", [
            "ops[0].matrix.params.act.value[1][1]: a probability is above 0 and at most 1, got 1.5"]),
        ("{lr: {kind: logspace, value: '0.001:0.1'}}", [
            "ops[0].matrix.params.lr.value: expected 'start:stop:num' (3 numbers), got '0.001:0.1'"]),
        ("{lr: {kind: linspace, value: [0, 1, 2.5]}}", ["ops[0].matrix.params.lr.value[2]: num: expected an integer, "
                                                       "got 2.5"]),
        ("{lr: {kind: range, value: {start: 0, stop: 1, stp: 0.1}}}", [
            "ops[0].matrix.params.lr.value.stp: unknown key 'stp' (keys: start, stop, step)"]),
        ("{lr: {kind: loguniform, value: [-3, -1]}, dropout: {kind: normal, value: [0, 0]}}", [
            "ops[0].matrix.params.lr.value: low must be positive, got -3: give the values themselves, not exponents "
            "(0.001:0.1:3 is 0.001, 0.01, 0.1)",
            "ops[0].matrix.params.dropout.value: scale must be positive, got 0",
        ]),
    ],
)
def test_param_spaces(params, errors):
    assert matrix_errors(f"name: tune\ntemplate: {{name: train}}\nmatrix: {{kind: random, num_runs: 2, "
                         f"params: {params}}}") == errors


@pytest.mark.parametrize(
    "metric, errors",
    [
        ("{name: accuracy}", []),
        ("{name: loss, optimization: minimize}", []),
        ("accuracy", ["ops[0].matrix.metric: expected a mapping, got 'accuracy'"]),
        ("{optimization: maximize}", ["ops[0].matrix.metric.name: required field is missing"]),
        ("{name: accuracy, optimization: maximise}", [
            "ops[0].matrix.metric.optimization: unknown optimization 'maximise'; did you mean 'maximize'? "
            "(optimizations: maximize, minimize)"]),
        ("{name: accuracy, goal: max}", ["ops[0].matrix.metric.goal: unknown field 'goal' in metric "
                                         "(fields: name, optimization)"]),
        ("{name: 'val acc'}", ["ops[0].matrix.metric.name: 'val acc' is not a valid name: use letters, digits, '_' "
                               "and '-', starting with a letter or '_'"]),
    ],
)
def test_metric(metric, errors):
    assert matrix_errors(grid_op(f"kind: grid\n{LR}metric: {metric}", template="exp")) == errors


@pytest.mark.parametrize(
    "policies, errors",
    [
        ("[{kind: metric_early_stopping, metric: accuracy, value: 0.9}, {kind: failure_early_stopping, percent: 100},"
         " {kind: median_early_stopping, metric: loss, optimization: minimize, min_samples: 1, min_steps: 0}]", []),
        ("{kind: failure_early_stopping, percent: 50}",
         ["ops[0].matrix.early_stopping: expected a list, got a mapping"]),
        ("[failure]", ["ops[0].matrix.early_stopping[0]: expected a mapping, got 'failure'"]),
        ("[{percent: 50}]", ["ops[0].matrix.early_stopping[0].kind: required field is missing (kinds: "
                             "metric_early_stopping, failure_early_stopping, median_early_stopping)"]),
        ("[{kind: failure_stopping, percent: 50}]", [
            "ops[0].matrix.early_stopping[0].kind: unknown early-stopping policy 'failure_stopping'; did you mean "
            "'failure_early_stopping'? (kinds: metric_early_stopping, failure_early_stopping, median_early_stopping)"]),
        ("[{kind: metric_early_stopping, metric: accuracy}]", [
            "ops[0].matrix.early_stopping[0].value: required field is missing"]),
        ("[{kind: metric_early_stopping, value: 0.9}]", [
            "ops[0].matrix.early_stopping[0].metric: required field is missing"]),
        ("[{kind: metric_early_stopping, metric: accuracy, value: '0.9', optimization: up}]", [
            "ops[0].matrix.early_stopping[0].value: expected a number, got '0.9'",
            "ops[0].matrix.early_stopping[0].optimization: unknown optimization 'up' (optimizations: maximize, "
            "minimize)"]),
        ("[{kind: metric_early_stopping, metric: accuracy, value: .inf}]", [
            "ops[0].matrix.early_stopping[0].value: inf is not a finite number"]),
        ("[{kind: failure_early_stopping}]", ["ops[0].matrix.early_stopping[0].percent: required field is missing"]),
        ("[{kind: failure_early_stopping, percent: 0}, {kind: failure_early_stopping, percent: 100.5}]", [
            "ops[0].matrix.early_stopping[0].percent: must be above 0, got 0",
            "ops[0].matrix.early_stopping[1].percent: must be at most 100, got 100.5"]),
        ("[{kind: failure_early_stopping, percent: 50, metric: accuracy}]", [
            "ops[0].matrix.early_stopping[0].metric: unknown field 'metric' in failure_early_stopping policy "
            "(fields: kind, percent)"]),
        ("[{kind: median_early_stopping, metric: accuracy, min_samples: 0, min_steps: -1}]", [
            "ops[0].matrix.early_stopping[0].min_samples: must be positive, got 0",
            "ops[0].matrix.early_stopping[0].min_steps: must be at least 0, got -1"]),
        ("[{kind: median_early_stopping, metric: accuracy, value: 0.9}]", [
            "ops[0].matrix.early_stopping[0].value: unknown field 'value' in median_early_stopping policy (fields: "
            "kind, metric, min_samples, min_steps, optimization)"]),
    ],
)
def test_early_stopping(policies, errors):
    assert matrix_errors(grid_op(f"kind: grid\n{LR}early_stopping: {policies}", template="exp")) == errors


def test_every_policy_has_a_schema():
    assert set(POLICY_SCHEMAS) == set(POLICIES)
