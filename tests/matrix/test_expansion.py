"""A matrix's trials: expand and size (polyflow.matrix.expansion)."""

import itertools
import json
import math
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyflow.matrix import MatrixError, expand, size
from polyflow.matrix.spaces import SPACES
from polyflow.spec.plan import IOSpec, MatrixSpec, SpaceSpec, freeze

from .test_spaces import inside, spaces

LR = SpaceSpec("logspace", (0.001, 0.1, 3))
DEPTH = SpaceSpec("choice", (2, 4, 8))


def test_a_grid_is_the_product_in_declared_order_the_last_fastest():
    matrix = MatrixSpec("grid", params=freeze({"lr": LR, "depth": DEPTH}))
    assert expand(matrix) == [
        {"lr": 0.001, "depth": 2}, {"lr": 0.001, "depth": 4}, {"lr": 0.001, "depth": 8},
        {"lr": 0.01, "depth": 2}, {"lr": 0.01, "depth": 4}, {"lr": 0.01, "depth": 8},
        {"lr": 0.1, "depth": 2}, {"lr": 0.1, "depth": 4}, {"lr": 0.1, "depth": 8},
    ]
    assert size(matrix) == 9


def test_a_random_search_draws_num_runs_reproducibly():
    matrix = MatrixSpec("random", params=freeze({"lr": SpaceSpec("uniform", (0.1, 0.5)), "depth": DEPTH}),
                        num_runs=4, seed=7)
    trials = expand(matrix)
    assert len(trials) == 4 == size(matrix)
    assert trials == expand(matrix) == expand(matrix, seed=99)  # the matrix's seed wins
    assert all(0.1 <= trial["lr"] <= 0.5 and trial["depth"] in (2, 4, 8) for trial in trials)
    unseeded = MatrixSpec("random", params=matrix.params, num_runs=4)
    assert expand(unseeded, seed=3) == expand(unseeded, seed=3) != expand(unseeded, seed=4)


def test_a_mapping_is_its_items_literal_or_given():
    literal = MatrixSpec("mapping", values=freeze([{"shard": "a"}, {"shard": "b"}]))
    assert expand(literal) == [{"shard": "a"}, {"shard": "b"}]
    assert size(literal) == 2
    by_reference = MatrixSpec("mapping", values="{{ ops.list.outputs.shards }}")
    assert size(by_reference) is None
    assert expand(by_reference, [{"shard": "x"}]) == [{"shard": "x"}]
    assert expand(by_reference, []) == []


def test_trials_are_plain_json_data():
    matrix = MatrixSpec("grid", params=freeze({"conf": SpaceSpec("choice", freeze([{"a": [1, 2]}]))}))
    assert isinstance(matrix.params["conf"].value[0], MappingProxyType)
    trials = expand(matrix)
    assert trials == [{"conf": {"a": [1, 2]}}]
    assert json.loads(json.dumps(trials)) == trials


INPUTS = {"shard": IOSpec("shard", "str"), "n": IOSpec("n", "int", has_default=True, default=1)}
REFERENCE = MatrixSpec("mapping", values="{{ ops.list.outputs.shards }}")


@pytest.mark.parametrize(
    "values, message",
    [
        ("abc", "expected a list of param mappings, got 'abc'"),
        ({"shard": "a"}, "expected a list of param mappings, got a mapping"),
        ([{"shard": "a"}, "b"], "item 1: expected a mapping of input names to values, got 'b'"),
        ([{"shard": "a"}, {"shard": "b", "x": 1}], "item 1: unknown input 'x' (inputs: shard, n)"),
        ([{"shard": 1}, {"shard": "b", "n": "2"}],
         "item 0, 'shard': expected a string (type str), got 1; item 1, 'n': expected an integer (type int), got '2'"),
    ],
)
def test_a_mapping_checks_its_items_against_the_inputs(values, message):
    with pytest.raises(MatrixError) as caught:
        expand(REFERENCE, values, inputs=INPUTS)
    assert str(caught.value) == message


def test_many_bad_items_are_named_by_the_first_few():
    with pytest.raises(MatrixError) as caught:
        expand(REFERENCE, [{"shard": index} for index in range(8)], inputs=INPUTS)
    assert str(caught.value).endswith("item 4, 'shard': expected a string (type str), got 4; ... (3 more)")


def test_with_the_ops_params_every_required_input_is_given_by_one_or_the_other():
    inputs = {**INPUTS, "bucket": IOSpec("bucket", "str")}
    assert expand(REFERENCE, [{"shard": "a"}], inputs=inputs, params={"bucket": "b", "n": 1}) == [{"shard": "a"}]
    with pytest.raises(MatrixError, match=r"^item 1: missing required input 'shard'$"):
        expand(REFERENCE, [{"shard": "a"}, {"n": 2}], inputs=inputs, params={"bucket": "b", "n": 1})
    # Without the params, which inputs the op gives is unknown: not checked.
    assert expand(REFERENCE, [{"n": 2}], inputs=inputs) == [{"n": 2}]


def test_an_unresolved_reference_cannot_make_trials():
    with pytest.raises(MatrixError, match="are a reference: give the list it resolved to"):
        expand(REFERENCE, max_trials=10)


def test_the_limit_on_trials():
    items = [{"shard": str(index)} for index in range(5)]
    assert len(expand(REFERENCE, items, max_trials=5)) == 5
    with pytest.raises(MatrixError, match=r"^5 trials, above the limit of 4 \(POLYFLOW\['MAX_TRIALS'\]\)$"):
        expand(REFERENCE, items, max_trials=4)
    huge = MatrixSpec("grid", params=freeze({"a": SpaceSpec("range", (0, 10**9, 1))}))
    with pytest.raises(MatrixError, match="^1000000000 trials"):
        expand(huge, max_trials=1000)  # refused before anything is listed


grids = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), spaces(discrete_only=True), min_size=1, max_size=3)


@given(grids)
def test_a_grid_yields_exactly_the_product_of_its_spaces(params):
    matrix = MatrixSpec("grid", params=freeze(params))
    trials = expand(matrix)
    listed = [SPACES[space.kind].values(space.value) for space in params.values()]
    assert len(trials) == math.prod(map(len, listed)) == size(matrix)
    assert [tuple(trial.values()) for trial in trials] == list(itertools.product(*listed))
    assert all(list(trial) == list(params) for trial in trials)


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), spaces(), min_size=1, max_size=3),
       st.integers(1, 30), st.integers(0, 2**31 - 1))
def test_a_seeded_random_search_repeats_and_stays_inside_every_space(params, num_runs, seed):
    matrix = MatrixSpec("random", params=freeze(params), num_runs=num_runs, seed=seed)
    trials = expand(matrix)
    assert trials == expand(matrix)
    assert len(trials) == num_runs == size(matrix)
    assert all(inside(params[name], number) for trial in trials for name, number in trial.items())


@given(st.lists(st.fixed_dictionaries({"shard": st.text(max_size=5)}, optional={"n": st.integers()}), max_size=10))
def test_a_mapping_of_valid_items_is_those_items(items):
    assert expand(REFERENCE, items, inputs=INPUTS, params={"n": 1}) == items


@given(st.lists(st.dictionaries(st.sampled_from(["shard", "n", "other"]), st.one_of(st.text(), st.integers())),
                min_size=1, max_size=5))
def test_a_mapping_refuses_any_item_that_does_not_fit(items):
    def fits(item):
        return (set(item) <= {"shard", "n"} and isinstance(item.get("shard", ""), str)
                and isinstance(item.get("n", 0), int))
    try:
        expand(REFERENCE, items, inputs=INPUTS)
    except MatrixError as error:
        first = next(index for index, item in enumerate(items) if not fits(item))
        assert str(error).startswith(f"item {first}")
    else:
        assert all(map(fits, items))
