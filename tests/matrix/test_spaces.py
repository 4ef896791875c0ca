"""Param spaces: the forms each kind reads, its values, its draws and its fit to an input (polyflow.matrix.spaces)."""

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyflow.matrix.errors import MatrixError
from polyflow.matrix.spaces import SPACES, space_of, tidy, type_problems
from polyflow.spec.plan import DISCRETE_SPACES, IOSpec, SpaceSpec


def normalise(kind, raw):
    return SPACES[kind].normalise(raw)


def values(kind, raw):
    return SPACES[kind].values(normalise(kind, raw))


def test_an_unknown_space_kind_is_an_error():
    with pytest.raises(MatrixError, match=r"^unknown space kind 'sobol' \(space kinds: choice, pchoice, range"):
        space_of("sobol")


def test_the_registry_knows_every_kind_and_which_are_discrete():
    assert len(SPACES) == 14
    assert {kind for kind, space in SPACES.items() if space.discrete} == DISCRETE_SPACES
    assert all(space.kind == kind for kind, space in SPACES.items())


@pytest.mark.parametrize(
    "kind, raw, value",
    [
        ("choice", [2, 4, 8], (2, 4, 8)),
        ("choice", ["relu", {"a": 1}, [1, 2], None], ("relu", {"a": 1}, [1, 2], None)),
        ("pchoice", [["relu", 0.2], ["tanh", 0.8]], (("relu", 0.2), ("tanh", 0.8))),
        ("pchoice", [[1, 1]], ((1, 1),)),
        ("range", [1, 10, 2], (1, 10, 2)),
        ("range", "1:10:2", (1, 10, 2)),
        ("range", " 0.5 : 2 : 0.5 ", (0.5, 2, 0.5)),
        ("range", {"start": 1, "stop": 10, "step": 2}, (1, 10, 2)),
        ("linspace", "0:1:5", (0, 1, 5)),
        ("linspace", [0.1, 0.5, 3], (0.1, 0.5, 3)),
        ("logspace", "0.001:0.1:3", (0.001, 0.1, 3)),
        ("logspace", "1e-3:1e-1:3", (0.001, 0.1, 3)),
        ("geomspace", {"start": 1, "stop": 1000, "num": 4}, (1, 1000, 4)),
        ("uniform", [0.1, 0.5], (0.1, 0.5)),
        ("uniform", "0:1", (0, 1)),
        ("uniform", {"low": -1, "high": 1}, (-1, 1)),
        ("quniform", [0, 10, 2], (0, 10, 2)),
        ("loguniform", [0.001, 0.1], (0.001, 0.1)),
        ("qloguniform", "1:100:5", (1, 100, 5)),
        ("normal", [0, 1], (0, 1)),
        ("normal", {"loc": 0, "scale": 0.5}, (0, 0.5)),
        ("qnormal", [0, 1, 0.5], (0, 1, 0.5)),
        ("lognormal", [0, 1], (0, 1)),
        ("qlognormal", [0, 1, 1], (0, 1, 1)),
    ],
)
def test_every_form_becomes_a_plain_tuple(kind, raw, value):
    assert normalise(kind, raw) == value


@pytest.mark.parametrize(
    "kind, raw, message, path",
    [
        ("choice", "2,4", "expected a list of values, got '2,4'", ()),
        ("choice", [], "a choice needs at least one value", ()),
        ("pchoice", {"a": 1}, "expected a list of [value, probability] pairs, got a mapping", ()),
        ("pchoice", [], "a pchoice needs at least one [value, probability] pair", ()),
        ("pchoice", [["a", 0.5], "b"], "expected a [value, probability] pair, got 'b'", (1,)),
        ("pchoice", [["a", 0.5], ["b", 0.5, 1]], "expected a [value, probability] pair, got a list", (1,)),
        ("pchoice", [["a", 0], ["b", 1]], "a probability is above 0 and at most 1, got 0", (0, 1)),
        ("pchoice", [["a", True]], "a probability is above 0 and at most 1, got true", (0, 1)),
        ("pchoice", [["a", "0.5"], ["b", 0.5]], "a probability is above 0 and at most 1, got '0.5'", (0, 1)),
        ("pchoice", [["a", 0.5], ["b", 0.6]], "the probabilities must sum to 1, got 1.1", ()),
        ("range", 3, "expected [start, stop, step], 'start:stop:step' or a mapping of start, stop, step, got 3", ()),
        ("range", "1:10", "expected 'start:stop:step' (3 numbers), got '1:10'", ()),
        ("range", [1, 10], "expected 3 numbers [start, stop, step], got 2", ()),
        ("range", "1:ten:1", "stop: expected a number, got 'ten'", ()),
        ("range", [1, "10", 1], "stop: expected a number, got '10'", (1,)),
        ("range", [1, True, 1], "stop: expected a number, got true", (1,)),
        ("range", [1, float("inf"), 1], "stop: expected a number, got inf", (1,)),
        ("range", "1:nan:1", "stop: expected a number, got nan", ()),
        ("range", {"start": 1, "stop": 2, "stp": 1}, "unknown key 'stp' (keys: start, stop, step)", ("stp",)),
        ("range", {"start": 1}, "missing 'stop', 'step' (keys: start, stop, step)", ()),
        ("range", [1, 10, 0], "step must be positive, got 0", ()),
        ("range", [1, 10, -1], "step must be positive, got -1", ()),
        ("range", [10, 1, 1], "stop must be above start, got start 10 and stop 1", ()),
        ("range", [0, 1e308, 1e-308], "step 1e-308 is too small for a range from 0 to 1e+308", ()),
        ("linspace", [0, 1, 2.0], "num: expected an integer, got 2.0", (2,)),
        ("linspace", "0:1:2.5", "num: expected an integer, got 2.5", ()),
        ("linspace", [0, 1, 0], "num must be positive, got 0", ()),
        ("linspace", [1, 1, 3], "stop must be above start, got start 1 and stop 1", ()),
        ("geomspace", [0, 1, 3], "start must be positive, got 0", ()),
        ("logspace", "-3:-1:3", "start must be positive, got -3: give the values themselves, not exponents "
                                "(0.001:0.1:3 is 0.001, 0.01, 0.1)", ()),
        ("logspace", "0.001:0.1:3:10", "expected 'start:stop:num' (3 numbers), got '0.001:0.1:3:10'", ()),
        ("uniform", [0.5, 0.1], "high must be above low, got low 0.5 and high 0.1", ()),
        ("uniform", {"min": 0, "max": 1}, "unknown key 'min' (keys: low, high)", ("min",)),
        ("loguniform", [-5, -1], "low must be positive, got -5: give the values themselves, not exponents "
                                 "(0.001:0.1:3 is 0.001, 0.01, 0.1)", ()),
        ("quniform", [0, 10, 0], "q must be positive, got 0", ()),
        ("quniform", [0.1, 0.2, 1], "no multiple of q 1 lies between low 0.1 and high 0.2", ()),
        ("qloguniform", [0, 10, 1], "low must be positive, got 0: give the values themselves, not exponents "
                                    "(0.001:0.1:3 is 0.001, 0.01, 0.1)", ()),
        ("normal", [0, 0], "scale must be positive, got 0", ()),
        ("normal", [0, 1, 0.5], "expected 2 numbers [loc, scale], got 3", ()),
        ("qnormal", [0, 1, -1], "q must be positive, got -1", ()),
        ("lognormal", [0, -1], "scale must be positive, got -1", ()),
    ],
)
def test_bad_values_say_what_is_wrong(kind, raw, message, path):
    with pytest.raises(MatrixError) as caught:
        normalise(kind, raw)
    assert (str(caught.value), caught.value.path) == (message, path)


@pytest.mark.parametrize(
    "kind, raw, expected",
    [
        ("choice", [2, 4, 8], [2, 4, 8]),
        ("pchoice", [["relu", 0.2], ["tanh", 0.8]], ["relu", "tanh"]),
        ("range", "1:10:3", [1, 4, 7]),
        ("range", "1:10:1", [1, 2, 3, 4, 5, 6, 7, 8, 9]),
        ("range", "0.1:0.4:0.1", [0.1, 0.2, 0.3]),  # not 0.30000000000000004, nor a fourth value
        ("range", "0:1:0.25", [0, 0.25, 0.5, 0.75]),
        ("range", [0, 10.5, 5], [0, 5, 10]),
        ("linspace", "0:1:5", [0.0, 0.25, 0.5, 0.75, 1.0]),
        ("linspace", "0.1:0.3:3", [0.1, 0.2, 0.3]),
        ("linspace", "2:3:1", [2.0]),
        ("logspace", "0.001:0.1:3", [0.001, 0.01, 0.1]),
        ("logspace", "1:16:5", [1.0, 2.0, 4.0, 8.0, 16.0]),
        ("geomspace", "1:1000:4", [1.0, 10.0, 100.0, 1000.0]),
    ],
)
def test_discrete_values(kind, raw, expected):
    assert values(kind, raw) == expected
    assert SPACES[kind].size(normalise(kind, raw)) == len(expected)


def test_a_long_range_is_counted_not_listed():
    space = SPACES["range"]
    value = normalise("range", [0, 10**12, 1])
    assert space.size(value) == 10**12
    assert space.value_at(value, 10**12 - 1) == 10**12 - 1


def test_tidy_drops_float_noise_only():
    assert tidy(0.1 * 3) == 0.3
    assert tidy(1e-12 * 3) == 3e-12
    assert tidy(123456.789) == 123456.789


# Strategies for valid spaces of each kind, as the normalised tuples.
small = st.integers(-1000, 1000)
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def int_ranges(draw):
    """At most 12 values: grids of three spaces stay small enough to list."""
    start, step = draw(small), draw(st.integers(1, 50))
    return start, start + step * draw(st.integers(1, 12)) - draw(st.integers(0, step - 1)), step


@st.composite
def bounds(draw, low=finite):
    a = draw(low)
    b = draw(low.filter(lambda b: abs(b - a) > 1e-6 * max(1.0, abs(a))))
    return (min(a, b), max(a, b))


@st.composite
def spaces(draw, discrete_only=False):
    kinds = sorted(DISCRETE_SPACES if discrete_only else SPACES)
    kind = draw(st.sampled_from(kinds))
    if kind == "choice":
        value = tuple(draw(st.lists(st.one_of(small, st.text(max_size=3)), min_size=1, max_size=5)))
    elif kind == "pchoice":
        options = draw(st.lists(small, min_size=1, max_size=4, unique=True))
        value = tuple((option, 1 / len(options)) for option in options)
    elif kind == "range":
        value = draw(int_ranges())
    elif kind in ("linspace", "logspace", "geomspace"):
        low, high = draw(bounds(positive if kind != "linspace" else finite))
        value = (low, high, draw(st.integers(1, 10)))
    elif kind in ("uniform", "loguniform"):
        value = draw(bounds(positive if kind == "loguniform" else finite))
    elif kind in ("quniform", "qloguniform"):
        q = draw(st.sampled_from([1, 2, 5, 0.1, 0.25]))
        low = draw(st.integers(1, 100)) * q if kind == "qloguniform" else draw(st.integers(-100, 100)) * q
        value = (low, low + draw(st.integers(1, 100)) * q, q)
    elif kind in ("normal", "lognormal"):
        value = (draw(st.floats(-5, 5)), draw(st.floats(0.01, 3)))
    else:
        value = (draw(st.floats(-5, 5)), draw(st.floats(0.01, 3)), draw(st.sampled_from([1, 2, 0.5, 0.1])))
    return SpaceSpec(kind, SPACES[kind].normalise(value))


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _multiple(number: float, q: float) -> bool:
    return _close(number / q, round(number / q))


def inside(space: SpaceSpec, number) -> bool:
    """Whether a value belongs to its space, read off the space's definition (not the code's)."""
    kind, value = space.kind, space.value
    if kind == "choice":
        return number in value
    if kind == "pchoice":
        return number in [option for option, _ in value]
    if kind == "range":
        start, stop, step = value
        return start <= number < stop and (number - start) % step == 0
    if kind in ("linspace", "logspace", "geomspace"):
        return value[0] - 1e-9 * abs(value[0]) <= number <= value[1] + 1e-9 * abs(value[1])
    low, high = value[0], value[1]
    if kind in ("uniform", "loguniform"):
        return low <= number <= high
    if kind in ("quniform", "qloguniform"):
        return low - 1e-9 <= number <= high + 1e-9 and _multiple(number, value[2])
    if kind in ("qnormal", "qlognormal"):
        return _multiple(number, value[2]) and (kind == "qnormal" or number >= 0)
    return kind == "normal" or number > 0


@given(spaces(discrete_only=True))
def test_discrete_values_are_in_their_space_and_as_many_as_its_size(space):
    listed = SPACES[space.kind].values(space.value)
    assert len(listed) == SPACES[space.kind].size(space.value)
    assert all(inside(space, number) for number in listed)


@given(spaces(), st.integers(0, 2**32))
def test_draws_are_inside_their_space_and_repeat_with_the_seed(space, seed):
    kind = SPACES[space.kind]
    first = [kind.sample(space.value, random.Random(seed)) for _ in range(5)]
    assert first == [kind.sample(space.value, random.Random(seed)) for _ in range(5)]
    assert all(inside(space, number) for number in first), first


@given(spaces())
def test_integers_come_out_as_integers(space):
    number = SPACES[space.kind].sample(space.value, random.Random(0))
    if SPACES[space.kind].options(space.value) is None:
        assert isinstance(number, int) == (SPACES[space.kind].yields(space.value) == "int")


def test_pchoice_draws_follow_the_probabilities():
    value = normalise("pchoice", [["a", 0.9], ["b", 0.1]])
    rng = random.Random(1)
    draws = [SPACES["pchoice"].sample(value, rng) for _ in range(2000)]
    assert 1700 < draws.count("a") < 1900


def io(name="x", type="float", **kwargs):
    return IOSpec(name, type, **kwargs)


@pytest.mark.parametrize(
    "space, declared, problems",
    [
        (SpaceSpec("choice", (2, 4)), io(type="int"), []),
        (SpaceSpec("choice", (2, "a", 4.5)), io(type="int"), [
            ((1,), "expected an integer (type int), got 'a'"),
            ((2,), "expected an integer (type int), got 4.5"),
        ]),
        (SpaceSpec("pchoice", (("fast", 0.5), ("slow", 0.5))), io(type="str", options=("fast", "full")),
         [((1,), "'slow' is not one of the options ('fast', 'full')")]),
        (SpaceSpec("choice", ((1, 2), (3,))), io(type="int", is_list=True), []),
        (SpaceSpec("choice", (None, 1)), io(type="int", is_optional=True), []),  # null fits an optional input
        (SpaceSpec("choice", (None, 1)), io(type="int"), [((0,), "expected an integer (type int), got null")]),
        (SpaceSpec("range", (1, 10, 1)), io(type="int"), []),
        (SpaceSpec("range", (1, 10, 1)), io(type="float"), []),
        (SpaceSpec("range", (1, 10, 1)), io(type="any"), []),
        (SpaceSpec("range", (0, 1, 0.5)), io(type="int"), [((), (
            "range gives float values, but input 'x' expects int (integers come from a range with an integer "
            "start and step, a q-space with an integer q, or a choice)"))]),
        (SpaceSpec("linspace", (1, 5, 5)), io(type="str"), [((), "linspace gives float values, but input 'x' "
                                                                 "expects str")]),
        (SpaceSpec("quniform", (0, 10, 1)), io(type="int"), []),
        (SpaceSpec("qnormal", (0, 10, 0.5)), io(type="float"), []),
        (SpaceSpec("uniform", (0, 1)), io(type="int", is_list=True),
         [((), "input 'x' takes a list: give its space as a choice of lists")]),
        (SpaceSpec("range", (1, 4, 1)), io(type="int", options=(1, 2, 3)),
         [((), "input 'x' has options: give its space as a choice of them")]),
    ],
)
def test_type_problems(space, declared, problems):
    assert type_problems(space, declared) == problems
