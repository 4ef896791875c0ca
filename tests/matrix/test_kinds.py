"""Matrix kinds: their fields, their checks against the limit, what their trials give (polyflow.matrix.kinds)."""

import pytest

from polyflow.matrix.errors import MatrixError
from polyflow.matrix.kinds import KINDS, item_problems, kind_of
from polyflow.spec.plan import IOSpec, MatrixSpec, SpaceSpec

CHOICE = SpaceSpec("choice", (1, 2, 3))
UNIFORM = SpaceSpec("uniform", (0, 1))


def grid(**params):
    return MatrixSpec("grid", params=params)


def test_the_registry():
    assert list(KINDS) == ["grid", "random", "mapping"]
    assert KINDS["grid"].fields == {"params", "metric", "early_stopping"}
    assert KINDS["random"].fields == {"params", "num_runs", "seed", "metric", "early_stopping"}
    assert KINDS["mapping"].fields == {"values"}
    assert set(KINDS["random"].required) == {"params", "num_runs"}


def test_an_unknown_kind_is_an_error():
    with pytest.raises(MatrixError, match=r"^unknown matrix kind 'hyperband' \(kinds: grid, random, mapping\)$"):
        kind_of(MatrixSpec("hyperband"))


@pytest.mark.parametrize(
    "matrix, problems",
    [
        (grid(a=CHOICE, b=SpaceSpec("range", (0, 4, 1))), []),
        (grid(), [(("params",), "a grid search needs at least one param space")]),
        (grid(a=CHOICE, dropout=UNIFORM), [(("params", "dropout"), (
            "uniform is a continuous space: a grid takes only discrete spaces (choice, geomspace, linspace, "
            "logspace, pchoice, range); kind random draws from it"))]),
        (grid(a=CHOICE, b=SpaceSpec("range", (0, 4, 1)), c=SpaceSpec("linspace", (0, 1, 100))),
         [((), "the grid has 3 x 4 x 100 = 1200 trials, above the limit of 1000 (POLYFLOW['MAX_TRIALS'])")]),
        (grid(a=SpaceSpec("range", (0, 1001, 1))),
         [((), "the grid has 1001 trials, above the limit of 1000 (POLYFLOW['MAX_TRIALS'])")]),
        (grid(a=SpaceSpec("range", (0, 1000, 1))), []),
        (MatrixSpec("random", params={"a": UNIFORM}, num_runs=1000), []),
        (MatrixSpec("random", params={"a": UNIFORM}, num_runs=1001),
         [(("num_runs",), "1001 trials, above the limit of 1000 (POLYFLOW['MAX_TRIALS'])")]),
        (MatrixSpec("random", num_runs=3), [(("params",), "a random search needs at least one param space")]),
        (MatrixSpec("mapping", values="{{ ops.a.outputs.b }}"), []),
        (MatrixSpec("mapping", values=({"a": 1}, 3)),
         [(("values", 1), "expected a mapping of input names to values, got 3")]),
        (MatrixSpec("mapping", values=5),
         [(("values",), "expected a list of param mappings or '{{ ops.OP.outputs.NAME }}', got 5")]),
        (MatrixSpec("mapping", values=tuple({"a": index} for index in range(1001))),
         [(("values",), "1001 items, above the limit of 1000 (POLYFLOW['MAX_TRIALS'])")]),
        (MatrixSpec("mapping", values=()), []),
    ],
)
def test_problems(matrix, problems):
    assert kind_of(matrix).problems(matrix, 1000) == problems


@pytest.mark.parametrize(
    "matrix, given",
    [
        (grid(a=CHOICE, b=CHOICE), {"a", "b"}),
        (MatrixSpec("random", params={"a": UNIFORM}, num_runs=2), {"a"}),
        (MatrixSpec("mapping", values=({"a": 1, "b": 2}, {"a": 3})), {"a"}),
        (MatrixSpec("mapping", values=()), None),
        (MatrixSpec("mapping", values="{{ ops.a.outputs.b }}"), None),
    ],
)
def test_the_inputs_every_trial_gives(matrix, given):
    assert kind_of(matrix).given(matrix) == given


INPUTS = {
    "shard": IOSpec("shard", "str"),
    "n": IOSpec("n", "int", is_optional=True),
    "mode": IOSpec("mode", "str", options=("fast", "full")),
}


@pytest.mark.parametrize(
    "item, problems",
    [
        ({"shard": "a", "n": 2, "mode": "fast"}, []),
        ({"shard": "a", "n": None}, []),  # an optional input may be null
        ({"shard": None}, [("shard", "expected a string (type str), got null")]),
        ({"shrad": "a"}, [("shrad", "unknown input 'shrad' of template 'process'; did you mean 'shard'? "
                                    "(inputs: shard, n, mode)")]),
        ({"n": "2", "mode": "slow"}, [("n", "expected an integer (type int), got '2'"),
                                      ("mode", "'slow' is not one of the options ('fast', 'full')")]),
    ],
)
def test_item_problems(item, problems):
    assert item_problems(item, INPUTS, "template 'process'") == problems
