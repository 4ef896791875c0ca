"""Checking plain values against declared inputs: run params given at trigger
time and event payloads. (Params in documents, which may hold references, are
checked by the compiler.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import choices_text, describe, suggest
from .plan import IOSpec
from .references import ExpressionError, references_in, walk_strings
from .types import value_error


def input_errors(
    inputs: Sequence[IOSpec],
    values: object,
    owner: str,
    require_required: bool = False,
) -> list[tuple[str, str]]:
    """(name, message) for each problem of `values` against `inputs`.

    `owner` names what declares the inputs in messages ("template 'train'").
    With `require_required`, inputs without default that are not optional must
    be present (an empty name marks that error).
    """
    if not isinstance(values, Mapping):
        return [("", f"expected a mapping of input names to values, got {describe(values)}")]
    declared = {io.name: io for io in inputs}
    errors = []
    for name, value in values.items():
        io = declared.get(name)
        if io is None:
            errors.append((str(name), f"unknown input {name!r} of {owner}{suggest(name, declared)} "
                                      f"(inputs: {choices_text(declared)})"))
            continue
        if _has_expression(value):
            errors.append((name, "expressions ('{{ ... }}') are only allowed in the pipeline's documents"))
            continue
        if value is None and io.is_optional:
            continue
        error = value_error(io.type, value, io.is_list, io.options)
        if error:
            errors.append((name, error))
    if require_required:
        errors.extend(("", f"missing required input {io.name!r} of {owner}")
                      for io in inputs if io.required and io.name not in values)
    return errors


def _has_expression(value: object) -> bool:
    for _, text in walk_strings(value):
        try:
            if any(True for _ in references_in(text)):
                return True
        except ExpressionError:
            return True
    return False
