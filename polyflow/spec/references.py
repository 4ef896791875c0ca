"""`{{ ... }}` expressions in params, commands and args.

Three namespaces exist: `params.<input>`, `globals.<name>` and `ops.<op>...`,
the last in three parts: `ops.<op>.outputs.<output>`, and for a matrix op
with a metric `ops.<op>.best.params.<param>` and `ops.<op>.best.outputs.<output>`
(its best trial's). Parsing is pure; substitution happens when an op run is
submitted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

# The values every op run knows, with the IO type of each. `trial` is a matrix
# trial's index (0, 1, ...), null for an op run that is no trial.
GLOBAL_TYPES = {"run_uuid": "str", "schedule_at": "datetime", "op_name": "str", "attempt": "int", "trial": "int"}
GLOBALS = tuple(GLOBAL_TYPES)

_EXPRESSION = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_PARAM = re.compile(rf"^params\.({_NAME})$")
_GLOBAL = re.compile(rf"^globals\.({_NAME})$")
# What of an op a reference reads: its outputs, or (a group's) best trial's params or outputs.
PARTS = ("outputs", "best.params", "best.outputs")
_OUTPUT = re.compile(rf"^ops\.({_NAME})\.(outputs|best\.params|best\.outputs)\.({_NAME})$")


@dataclass(frozen=True)
class Reference:
    namespace: str  # "params", "globals" or "ops"
    name: str  # the input, global, output or (best.params) param name
    op: str | None = None  # for "ops": the upstream op
    whole: bool = False  # the expression is the entire string
    part: str = "outputs"  # for "ops": one of PARTS

    def __str__(self) -> str:
        if self.namespace == "ops":
            return f"ops.{self.op}.{self.part}.{self.name}"
        return f"{self.namespace}.{self.name}"


class ExpressionError(ValueError):
    """An expression that is none of the known forms."""


def parse_expression(expression: str, whole: bool = False) -> Reference:
    if match := _OUTPUT.match(expression):
        return Reference("ops", match.group(3), op=match.group(1), whole=whole, part=match.group(2))
    if match := _PARAM.match(expression):
        return Reference("params", match.group(1), whole=whole)
    if match := _GLOBAL.match(expression):
        return Reference("globals", match.group(1), whole=whole)
    raise ExpressionError(
        f"cannot read '{{{{ {expression} }}}}': expected '{{{{ params.NAME }}}}', '{{{{ globals.NAME }}}}', "
        "'{{ ops.OP.outputs.NAME }}', '{{ ops.OP.best.params.NAME }}' or '{{ ops.OP.best.outputs.NAME }}'"
    )


def references_in(text: str) -> Iterator[Reference]:
    """Each expression of a string; raises ExpressionError for a malformed one.

    A `{{` that no `}}` closes is malformed too (`{{ params.lr }` would
    otherwise reach the container as it is).
    """
    if "{{" not in text:  # most strings: no expression, and nothing malformed
        return
    matches = list(_EXPRESSION.finditer(text))
    whole = len(matches) == 1 and matches[0].span() == (0, len(text))
    for match in matches:
        yield parse_expression(match.group(1), whole=whole)
    if "{{" in text:
        rest = text[matches[-1].end():] if matches else text
        if "{{" in rest:
            fragment = rest[rest.index("{{"):]
            fragment = fragment if len(fragment) <= 40 else fragment[:36] + "..."
            raise ExpressionError(f"cannot read '{fragment}': '{{{{' without a closing '}}}}'")


_SCALARS = frozenset({int, float, bool, type(None)})  # no strings inside: skips the abstract checks


def walk_strings(value: object, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """Every string inside a param value, with its path below the value."""
    if isinstance(value, str):
        yield path, value
    elif value.__class__ in _SCALARS:
        return
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from walk_strings(item, path + (str(key),))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from walk_strings(item, path + (index,))


def render(value: object, lookup) -> object:
    """Substitute every expression in `value` with `lookup(Reference)`.

    A string that is exactly one expression takes the referenced value with its
    own type (an int output stays an int); embedded expressions are formatted
    into the string.
    """
    if isinstance(value, str):
        refs = list(references_in(value))
        if len(refs) == 1 and refs[0].whole:
            return lookup(refs[0])
        return _EXPRESSION.sub(lambda m: _as_text(lookup(parse_expression(m.group(1)))), value)
    if isinstance(value, Mapping):
        return {key: render(item, lookup) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, lookup) for item in value]
    return value


def _as_text(value: object) -> str:
    """JSON's spelling for what is not a string or a number: true, false, null, [...], {...}."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, default=_plain)
    return str(value)


def _plain(value: object) -> object:
    # Values from a plan are frozen: read-only mappings that json does not know.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
