"""Matrix kinds (DESIGN section 9): what each takes, checks and turns into trials.

A registry of small objects, one per kind, so that hyperband and bayes come as
more entries: `fields` and `required` drive the spec's schema, `problems` the
compiler's checks that need the limit on trials, `trials` makes the param sets
in trial order.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence

from ..spec.errors import choices_text, describe
from ..spec.params import input_error
from ..spec.plan import DISCRETE_SPACES, IOSpec, MatrixSpec
from .errors import MatrixError
from .spaces import space_of

Problem = tuple[tuple, str]  # (path below the matrix, message)

_LIMIT = "(POLYFLOW['MAX_TRIALS'])"


class MatrixKind:
    name = ""
    # The matrix fields the kind takes besides `kind` and `concurrency`, and those it needs
    # (with the message when one is missing).
    fields: frozenset[str] = frozenset()
    required: Mapping[str, str] = {}

    def problems(self, matrix: MatrixSpec, max_trials: int) -> list[Problem]:
        """What the schema cannot see: checks against the limit on trials, and across fields."""
        return []

    def size(self, matrix: MatrixSpec, values: object = None) -> int | None:
        """How many trials `trials` makes; None when it is only known once the values are."""
        raise NotImplementedError

    def given(self, matrix: MatrixSpec) -> frozenset[str] | None:
        """The inputs every trial sets; None when only the values will tell."""
        return frozenset(matrix.params)

    def trials(self, matrix: MatrixSpec, values: object, seed: int | None) -> list[Mapping]:
        raise NotImplementedError

    def check_trials(self, trials: Sequence[Mapping], inputs: Mapping[str, IOSpec],
                     params: Mapping | None) -> list[str]:
        """Problems of trials whose values the spec could not check (a mapping's, read at run time)."""
        return []


class _Search(MatrixKind):
    """A kind that searches spaces of params."""

    def _spaces_problems(self, matrix: MatrixSpec) -> list[Problem]:
        if not matrix.params:
            return [(("params",), f"a {self.name} search needs at least one param space")]
        return []


class Grid(_Search):
    """Every combination of the spaces' values, in the order the params are declared, the last varying fastest."""

    name = "grid"
    fields = frozenset({"params", "metric", "early_stopping"})
    required = {"params": "a grid needs params: the spaces whose every combination it runs"}

    def problems(self, matrix, max_trials):
        problems = self._spaces_problems(matrix)
        for name, space in matrix.params.items():
            if not space.discrete:
                problems.append((("params", name), f"{space.kind} is a continuous space: a grid takes only discrete "
                                                   f"spaces ({', '.join(sorted(DISCRETE_SPACES))}); "
                                                   "kind random draws from it"))
        if problems:
            return problems
        sizes = self._sizes(matrix)
        total = math.prod(sizes)
        if total > max_trials:
            count = f"{' x '.join(map(str, sizes))} = {total}" if len(sizes) > 1 else str(total)
            problems.append(((), f"the grid has {count} trials, above the limit of {max_trials} {_LIMIT}"))
        return problems

    def _sizes(self, matrix: MatrixSpec) -> list[int]:
        return [space_of(space.kind).size(space.value) for space in matrix.params.values()]

    def size(self, matrix, values=None):
        return math.prod(self._sizes(matrix))

    def trials(self, matrix, values, seed):
        names = list(matrix.params)
        spaces = [space_of(space.kind).values(space.value) for space in matrix.params.values()]
        return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*spaces)]


class Random(_Search):
    """num_runs draws, each param from its space in declaration order, from one seeded generator."""

    name = "random"
    fields = frozenset({"params", "num_runs", "seed", "metric", "early_stopping"})
    required = {"params": "a random search needs params: the spaces it draws from",
                "num_runs": "a random search needs num_runs: how many trials to draw"}

    def problems(self, matrix, max_trials):
        problems = self._spaces_problems(matrix)
        if matrix.num_runs is not None and matrix.num_runs > max_trials:
            problems.append((("num_runs",), f"{matrix.num_runs} trials, above the limit of {max_trials} {_LIMIT}"))
        return problems

    def size(self, matrix, values=None):
        return matrix.num_runs

    def trials(self, matrix, values, seed):
        # random.Random's draws for a given seed are stable across Python versions
        # (random() and randrange(); normalvariate uses only random()).
        rng = random.Random(matrix.seed if matrix.seed is not None else seed)
        spaces = [(name, space_of(space.kind), space.value) for name, space in matrix.params.items()]
        return [{name: kind.sample(value, rng) for name, kind, value in spaces} for _ in range(matrix.num_runs)]


class MappingKind(MatrixKind):
    """One trial per item of a list of param mappings: literal, or an upstream output read at run time."""

    name = "mapping"
    fields = frozenset({"values"})
    required = {"values": "a mapping needs values: a list of param mappings, or '{{ ops.OP.outputs.NAME }}' "
                          "naming one"}

    def problems(self, matrix, max_trials):
        values = matrix.values
        if isinstance(values, str):
            return []  # a reference: the compiler checks it against the ops
        if not isinstance(values, list | tuple):
            return [(("values",), "expected a list of param mappings or '{{ ops.OP.outputs.NAME }}', "
                                  f"got {describe(values)}")]
        problems: list[Problem] = [
            (("values", index), f"expected a mapping of input names to values, got {describe(item)}")
            for index, item in enumerate(values) if not isinstance(item, Mapping)
        ]
        if len(values) > max_trials:
            problems.append((("values",), f"{len(values)} items, above the limit of {max_trials} {_LIMIT}"))
        return problems

    def _items(self, matrix: MatrixSpec, values: object) -> Sequence[Mapping]:
        if values is None and isinstance(matrix.values, str):
            raise MatrixError(f"the values {matrix.values!r} are a reference: give the list it resolved to")
        items = matrix.values if values is None else values
        if not isinstance(items, list | tuple):
            raise MatrixError(f"expected a list of param mappings, got {describe(items)}")
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise MatrixError(f"item {index}: expected a mapping of input names to values, got {describe(item)}")
        return items

    def size(self, matrix, values=None):
        if values is None and isinstance(matrix.values, str):
            return None
        return len(self._items(matrix, values))

    def given(self, matrix):
        if not isinstance(matrix.values, list | tuple):
            return None
        keys = [frozenset(item) for item in matrix.values if isinstance(item, Mapping)]
        # Every item must give it. No item: no trial, so nothing is missing (None: nothing to check).
        return frozenset.intersection(*keys) if keys else None

    def trials(self, matrix, values, seed):
        return [dict(item) for item in self._items(matrix, values)]

    def check_trials(self, trials, inputs, params):
        problems = []
        for index, item in enumerate(trials):
            for key, message in item_problems(item, inputs):
                problems.append(f"item {index}, {key!r}: {message}" if key in inputs else f"item {index}: {message}")
            if params is not None:
                problems.extend(f"item {index}: missing required input {io.name!r}" for io in inputs.values()
                                if io.required and io.name not in item and io.name not in params)
        return problems


def item_problems(item: Mapping, inputs: Mapping[str, IOSpec], owner: str = "") -> list[tuple[str, str]]:
    """(key, message) for each key of a mapping's item that is no input or whose value does
    not fit the input; `owner` names the template in messages ("template 'process'")."""
    return [(str(key), error) for key, value in item.items() if (error := input_error(inputs, key, value, owner))]


KINDS: Mapping[str, MatrixKind] = {kind.name: kind for kind in (Grid(), Random(), MappingKind())}


def kind_of(matrix: MatrixSpec) -> MatrixKind:
    kind = KINDS.get(matrix.kind)
    if kind is None:
        raise MatrixError(f"unknown matrix kind {matrix.kind!r} (kinds: {choices_text(KINDS)})")
    return kind
