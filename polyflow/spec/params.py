"""Checking plain values against declared inputs: run params given at trigger
time and event payloads. (Params in documents, which may hold references, are
checked by the compiler.)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .errors import choices_text, describe, format_path, suggest
from .limits import Limits
from .plan import IOSpec
from .references import ExpressionError, references_in, walk_strings
from .storable import unstorable_value
from .types import io_value_error


def input_errors(
    inputs: Sequence[IOSpec],
    values: object,
    owner: str,
    require_required: bool = False,
    limits: Limits | None = None,
) -> list[tuple[str, str]]:
    """(name, message) for each problem of `values` against `inputs`.

    `owner` names what declares the inputs in messages ("template 'train'").
    With `require_required`, inputs without default that are not optional must
    be present (an empty name marks that error). With `limits`, a value nested
    too deeply or holding too long a string is refused before it is checked.
    """
    if not isinstance(values, Mapping):
        return [("", f"expected a mapping of input names to values, got {describe(values)}")]
    declared = {io.name: io for io in inputs}
    errors = []
    for name, value in values.items():
        if limits is not None and (problem := unstorable_value(value, limits.nesting, limits.string_length)):
            inner = format_path(problem[0])
            errors.append((str(name), f"{inner}: {problem[1]}" if inner else problem[1]))
            continue
        if name in declared and _has_expression(value):
            errors.append((name, "expressions ('{{ ... }}') are only allowed in the pipeline's documents"))
            continue
        error = input_error(declared, name, value, owner)
        if error:
            errors.append((str(name), error))
    if require_required:
        errors.extend(("", f"missing required input {io.name!r} of {owner}")
                      for io in inputs if io.required and io.name not in values)
    return errors


def input_error(declared: Mapping[str, IOSpec], name: object, value: object, owner: str = "") -> str | None:
    """Why `name: value` does not fit the declared inputs (no such input, or a value that
    does not fit it), or None. `owner` names what declares them ("template 'train'")."""
    io = declared.get(name)
    return unknown_input(name, declared, owner) if io is None else io_value_error(io, value)


def unknown_input(name: object, inputs: Iterable[str], owner: str = "") -> str:
    names = list(inputs)
    of = f" of {owner}" if owner else ""
    return f"unknown input {name!r}{of}{suggest(name, names)} (inputs: {choices_text(names)})"


def _has_expression(value: object) -> bool:
    for _, text in walk_strings(value):
        try:
            if any(True for _ in references_in(text)):
                return True
        except ExpressionError:
            return True
    return False
