"""A matrix's trials: the public entry points over the kinds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..spec.plan import IOSpec, MatrixSpec, thaw
from .errors import MatrixError
from .kinds import kind_of

# A bad upstream list may have a problem per item: the message names the first few.
_SHOWN = 5


def expand(
    matrix: MatrixSpec,
    values: Sequence[Mapping] | None = None,
    *,
    inputs: Mapping[str, IOSpec] | None = None,
    seed: int | None = None,
    params: Mapping[str, object] | None = None,
    max_trials: int | None = None,
) -> list[dict]:
    """The trials' param sets, in trial order.

    grid: every combination of the spaces' values, the params in declared order, the last
    varying fastest. random: num_runs draws from random.Random(matrix.seed, or `seed` when
    the matrix has none): the same seed gives the same trials. mapping: `values` (the list an
    upstream reference resolved to) or the matrix's literal values, one trial per item.

    With `inputs` (the template's, by name), a mapping's items are checked: every key an
    input, every value of the input's type; with `params` too (the op's fixed params), every
    required input given by one or the other. `max_trials` bounds the number of trials.
    Raises MatrixError saying what is wrong and with which item. Values are plain JSON data
    (lists and dicts, not the plan's frozen ones).
    """
    kind = kind_of(matrix)
    count = kind.size(matrix, values)  # None: a reference without its values, which trials() refuses
    if max_trials is not None and count is not None and count > max_trials:
        raise MatrixError(f"{count} trials, above the limit of {max_trials} (POLYFLOW['MAX_TRIALS'])")
    trials = kind.trials(matrix, values, seed)
    if inputs is not None:
        problems = kind.check_trials(trials, inputs, params)
        if problems:
            more = f"; ... ({len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
            raise MatrixError("; ".join(problems[:_SHOWN]) + more)
    return [thaw(trial) for trial in trials]


def size(matrix: MatrixSpec) -> int | None:
    """The number of trials when it is known before running (grid, random, literal mapping), else None."""
    return kind_of(matrix).size(matrix)
