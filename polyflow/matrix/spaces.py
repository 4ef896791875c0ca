"""Param spaces (DESIGN section 9): the forms each kind accepts, its values and its draws.

One small object per kind, in SPACES. The spec normalises a space's `value`
with it when a document is loaded: every form (a list, an "a:b:c" string, a
mapping of the numbers' names) becomes the plain tuple a SpaceSpec holds, so
nothing later parses again. Trials are made from that tuple: `value_at`
enumerates a discrete space (what a grid takes) without listing it, `sample`
draws one value (what a random search does).

Bounds are the values themselves, never exponents: logspace "0.001:0.1:3" is
0.001, 0.01 and 0.1, and loguniform [0.001, 0.1] draws between those two
(docs/matrix.md says why this differs from numpy and Polyaxon's code).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

from ..spec.errors import describe
from ..spec.plan import IOSpec, SpaceSpec
from ..spec.types import io_value_error, reference_compatible
from .errors import MatrixError

# Floating-point slack when counting a range's steps or finding the multiples of q:
# (0.4 - 0.1) / 0.1 is 3.0000000000000004, and 0.1:0.4:0.1 has three values.
_SLACK = 1e-9
# exp() of more overflows a float: a lognormal draw is capped there rather than fail.
_MAX_EXPONENT = 700.0


def tidy(number: float) -> float:
    """A computed float without the noise of float arithmetic: 0.1 * 3 is
    0.30000000000000004, which users would see in their params. Twelve
    significant digits are more than a hyperparameter needs."""
    return float(f"{number:.12g}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parse(text: str) -> object:
    """One number of an "a:b:c" string: an integer when it reads as one, else the text."""
    for number in (int, float):
        try:
            return number(text.strip())
        except ValueError:
            pass
    return text


class Space:
    """One kind of space. `value` arguments are the normalised tuples."""

    kind = ""
    discrete = False  # enumerable: a grid takes it

    def normalise(self, raw: object) -> tuple:
        """The plain tuple of a space value as written; raises MatrixError."""
        raise NotImplementedError

    def size(self, value: tuple) -> int:
        """How many values a discrete space has."""
        raise NotImplementedError

    def value_at(self, value: tuple, index: int) -> object:
        """A discrete space's value number `index`, computed, not listed: a range may be long."""
        raise NotImplementedError

    def values(self, value: tuple) -> list:
        return [self.value_at(value, index) for index in range(self.size(value))]

    def sample(self, value: tuple, rng: random.Random) -> object:
        return self.value_at(value, rng.randrange(self.size(value)))

    def options(self, value: tuple) -> Sequence | None:
        """The values themselves when they are arbitrary (a choice's), to check one by one
        against the input; None for numbers of the type `yields` says."""
        return None

    def yields(self, value: tuple) -> str:
        """The IO type of the numbers the space gives."""
        return "float"


class Choice(Space):
    kind = "choice"
    discrete = True

    def normalise(self, raw):
        if not isinstance(raw, list | tuple):
            raise MatrixError(f"expected a list of values, got {describe(raw)}")
        if not raw:
            raise MatrixError("a choice needs at least one value")
        return tuple(raw)

    def size(self, value):
        return len(value)

    def value_at(self, value, index):
        return value[index]

    def options(self, value):
        return value


class PChoice(Choice):
    """[value, probability] pairs: a grid takes every value, a random search draws by probability."""

    kind = "pchoice"

    def normalise(self, raw):
        if not isinstance(raw, list | tuple):
            raise MatrixError(f"expected a list of [value, probability] pairs, got {describe(raw)}")
        if not raw:
            raise MatrixError("a pchoice needs at least one [value, probability] pair")
        for index, pair in enumerate(raw):
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise MatrixError(f"expected a [value, probability] pair, got {describe(pair)}", (index,))
            if not _is_number(pair[1]) or not 0 < pair[1] <= 1:
                raise MatrixError(f"a probability is above 0 and at most 1, got {describe(pair[1])}", (index, 1))
        total = math.fsum(probability for _, probability in raw)
        if abs(total - 1) > 1e-6:
            raise MatrixError(f"the probabilities must sum to 1, got {tidy(total)}")
        return tuple((option, probability) for option, probability in raw)

    def value_at(self, value, index):
        return value[index][0]

    def sample(self, value, rng):
        weights = [probability for _, probability in value]
        return self.value_at(value, rng.choices(range(len(value)), weights=weights)[0])

    def options(self, value):
        return tuple(option for option, _ in value)


class _Numbers(Space):
    """A space given by a few numbers, in three forms: [1, 10, 2], "1:10:2" or
    {start: 1, stop: 10, step: 2} (the names are the kind's `names`)."""

    names: tuple[str, ...] = ()
    integers: frozenset[str] = frozenset()  # the names that must be integers

    def normalise(self, raw):
        numbers = self._read(raw)
        problem = self.problem(*numbers)
        if problem:
            raise MatrixError(problem)
        return numbers

    def problem(self, *numbers) -> str | None:
        """What is wrong with numbers of the right types, or None."""
        return None

    def _read(self, raw: object) -> tuple:
        names, paths = self.names, [()] * len(self.names)
        if isinstance(raw, str):
            numbers = [_parse(part) for part in raw.split(":")]
            if len(numbers) != len(names):
                raise MatrixError(f"expected '{':'.join(names)}' ({len(names)} numbers), got {describe(raw)}")
        elif isinstance(raw, Mapping):
            for key in raw:
                if key not in names:
                    raise MatrixError(f"unknown key {describe(key)} (keys: {', '.join(names)})", (str(key),))
            missing = [name for name in names if name not in raw]
            if missing:
                raise MatrixError(f"missing {', '.join(map(repr, missing))} (keys: {', '.join(names)})")
            numbers, paths = [raw[name] for name in names], [(name,) for name in names]
        elif isinstance(raw, list | tuple):
            if len(raw) != len(names):
                raise MatrixError(f"expected {len(names)} numbers [{', '.join(names)}], got {len(raw)}")
            numbers, paths = list(raw), [(index,) for index in range(len(names))]
        else:
            raise MatrixError(f"expected [{', '.join(names)}], '{':'.join(names)}' or a mapping of "
                              f"{', '.join(names)}, got {describe(raw)}")
        for name, number, path in zip(names, numbers, paths, strict=True):
            if name in self.integers and not _is_int(number):
                raise MatrixError(f"{name}: expected an integer, got {describe(number)}", path)
            if not _is_number(number):
                raise MatrixError(f"{name}: expected a number, got {describe(number)}", path)
        return tuple(numbers)


def _ordered(lower: str, upper: str, low: float, high: float) -> str | None:
    return None if high > low else f"{upper} must be above {lower}, got {lower} {low} and {upper} {high}"


def _positive(name: str, number: float, hint: str = "") -> str | None:
    return None if number > 0 else f"{name} must be positive, got {number}{hint}"


# Logspace and loguniform users coming from numpy or hyperopt write exponents; a
# non-positive bound is the usual sign of it.
_NOT_EXPONENTS = ": give the values themselves, not exponents (0.001:0.1:3 is 0.001, 0.01, 0.1)"


class Range(_Numbers):
    """start, start + step, ... below stop (stop excluded, as Python's and numpy's ranges)."""

    kind = "range"
    discrete = True
    names = ("start", "stop", "step")

    def problem(self, start, stop, step):
        problem = _positive("step", step) or _ordered("start", "stop", start, stop)
        if problem is None and not math.isfinite((stop - start) / step):
            problem = f"step {step} is too small for a range from {start} to {stop}"
        return problem

    def size(self, value):
        start, stop, step = value
        if all(map(_is_int, value)):
            return -((start - stop) // step)  # exact: ceil((stop - start) / step)
        return math.ceil((stop - start) / step - _SLACK)

    def value_at(self, value, index):
        start, _, step = value
        return start + index * step if self.yields(value) == "int" else tidy(start + index * step)

    def yields(self, value):
        return "int" if _is_int(value[0]) and _is_int(value[2]) else "float"


class Linspace(_Numbers):
    """num values evenly spaced from start to stop, both included."""

    kind = "linspace"
    discrete = True
    names = ("start", "stop", "num")
    integers = frozenset({"num"})

    def problem(self, start, stop, num):
        return _positive("num", num) or _ordered("start", "stop", start, stop)

    def size(self, value):
        return value[2]

    def value_at(self, value, index):
        start, stop, num = value
        if index == num - 1 and num > 1:
            return float(stop)  # exactly the bound given, whatever the rounding
        return tidy(self._point(start, stop, index / (num - 1) if num > 1 else 0.0))

    def _point(self, start: float, stop: float, fraction: float) -> float:
        return start + (stop - start) * fraction


class Geomspace(Linspace):
    """num values from start to stop, both included, in a geometric progression."""

    kind = "geomspace"

    def problem(self, start, stop, num):
        return _positive("start", start, self._hint) or super().problem(start, stop, num)

    _hint = ""

    def _point(self, start, stop, fraction):
        return start * (stop / start) ** fraction


class Logspace(Geomspace):
    """num values from start to stop evenly spaced on a log scale: the same points as geomspace."""

    kind = "logspace"
    _hint = _NOT_EXPONENTS


class Uniform(_Numbers):
    kind = "uniform"
    names = ("low", "high")

    def problem(self, low, high, *rest):
        return _ordered("low", "high", low, high)

    def draw(self, value: tuple, rng: random.Random) -> float:
        return rng.uniform(value[0], value[1])

    def sample(self, value, rng):
        # uniform() may round onto or past `high`; the bounds are part of the contract.
        return min(max(self.draw(value, rng), value[0]), value[1])


class LogUniform(Uniform):
    """Values whose logarithm is uniform between log(low) and log(high)."""

    kind = "loguniform"

    def problem(self, low, high, *rest):
        return _positive("low", low, _NOT_EXPONENTS) or super().problem(low, high)

    def draw(self, value, rng):
        return math.exp(rng.uniform(math.log(value[0]), math.log(value[1])))


class Normal(_Numbers):
    kind = "normal"
    names = ("loc", "scale")  # mean and standard deviation

    def problem(self, loc, scale, *rest):
        return _positive("scale", scale)

    def draw(self, value: tuple, rng: random.Random) -> float:
        return rng.normalvariate(value[0], value[1])

    def sample(self, value, rng):
        return self.draw(value, rng)


class LogNormal(Normal):
    """exp of a normal draw: loc and scale are the mean and deviation of the logarithm."""

    kind = "lognormal"

    def draw(self, value, rng):
        return math.exp(min(super().draw(value, rng), _MAX_EXPONENT))


def _multiples(q: float, low: float, high: float) -> tuple[int, int]:
    """The first and last k with k * q between low and high."""
    return math.ceil(low / q - _SLACK), math.floor(high / q + _SLACK)


class _Quantised:
    """A distribution's draws rounded to a multiple of q (hyperopt's q-spaces); a
    bounded one's stay on the multiples between its bounds. Mixed in before the
    distribution it rounds: `q` is the last number."""

    bounded = False

    def problem(self, *numbers):
        *rest, q = numbers
        problem = _positive("q", q) or super().problem(*rest)
        if problem is None and self.bounded:
            first, last = _multiples(q, rest[0], rest[1])
            if first > last:
                problem = f"no multiple of q {q} lies between low {rest[0]} and high {rest[1]}"
        return problem

    def sample(self, value, rng):
        q = value[-1]
        k = round(self.draw(value, rng) / q)
        if self.bounded:
            first, last = _multiples(q, value[0], value[1])
            k = min(max(k, first), last)
        return k * q if _is_int(q) else tidy(k * q)

    def yields(self, value):
        return "int" if _is_int(value[-1]) else "float"


class QUniform(_Quantised, Uniform):
    kind = "quniform"
    names = ("low", "high", "q")
    bounded = True


class QLogUniform(_Quantised, LogUniform):
    kind = "qloguniform"
    names = ("low", "high", "q")
    bounded = True


class QNormal(_Quantised, Normal):
    kind = "qnormal"
    names = ("loc", "scale", "q")


class QLogNormal(_Quantised, LogNormal):
    kind = "qlognormal"
    names = ("loc", "scale", "q")


SPACES: Mapping[str, Space] = {
    space.kind: space
    for space in (
        Choice(), PChoice(), Range(), Linspace(), Logspace(), Geomspace(),
        Uniform(), QUniform(), LogUniform(), QLogUniform(),
        Normal(), QNormal(), LogNormal(), QLogNormal(),
    )
}


def space_of(kind: str) -> Space:
    """The space kind of that name; a plan from another version may name one this one lacks."""
    space = SPACES.get(kind)
    if space is None:
        raise MatrixError(f"unknown space kind {kind!r} (space kinds: {', '.join(SPACES)})")
    return space


def type_problems(space: SpaceSpec, io: IOSpec) -> list[tuple[tuple, str]]:
    """What of a space does not fit the input it gives values to: (path below the
    space's value, message) pairs, none when every value fits."""
    kind = space_of(space.kind)
    options = kind.options(space.value)
    if options is not None:
        return [((index,), error) for index, option in enumerate(options) if (error := io_value_error(io, option))]
    if io.is_list:
        return [((), f"input {io.name!r} takes a list: give its space as a choice of lists")]
    if io.options is not None:
        return [((), f"input {io.name!r} has options: give its space as a choice of them")]
    given = kind.yields(space.value)
    if reference_compatible(given, io.type):
        return []
    hint = (" (integers come from a range with an integer start and step, a q-space with an integer q, "
            "or a choice)") if io.type == "int" else ""
    return [((), f"{space.kind} gives {given} values, but input {io.name!r} expects {io.type}{hint}")]
