"""`{{ ... }}` expressions in params, commands and args.

Three namespaces exist: `params.<input>`, `globals.<name>` and `ops.<op>...`,
the last in three parts: `ops.<op>.outputs.<output>`, and for a matrix op
with a metric `ops.<op>.best.params.<param>` and `ops.<op>.best.outputs.<output>`
(its best trial's). Parsing is pure; substitution happens when an op run is
submitted.

An expression may end with filters, `{{ params.bucket | shell_quote }}`: each
turns the value's text into another text (FILTERS), so a filtered expression
is always a string, even when it is the whole string.
"""

from __future__ import annotations

import json
import re
import shlex
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

# Each input also reaches the container as an environment variable (docs/spec.md): the
# way to use a value in a shell script without the shell reading it as code.
ENV_PREFIX = "POLYFLOW_PARAM_"
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def env_var_name(input_name: str) -> str:
    """`POLYFLOW_PARAM_<NAME>`: upper case, every non-alphanumeric as `_`."""
    return ENV_PREFIX + _NOT_ALNUM.sub("_", input_name).upper()


# What a filter does to the value's text. shell_quote makes it one word of a POSIX shell,
# whatever it holds (`x; rm -rf /` stays an argument), as shlex.quote does.
FILTERS = {"shell_quote": shlex.quote}


@dataclass(frozen=True)
class Reference:
    namespace: str  # "params", "globals" or "ops"
    name: str  # the input, global, output or (best.params) param name
    op: str | None = None  # for "ops": the upstream op
    whole: bool = False  # the expression is the entire string and has no filter: it keeps the value's type
    part: str = "outputs"  # for "ops": one of PARTS
    filters: tuple[str, ...] = ()  # names in FILTERS, applied left to right

    def __str__(self) -> str:
        if self.namespace == "ops":
            return f"ops.{self.op}.{self.part}.{self.name}"
        return f"{self.namespace}.{self.name}"

    def apply_filters(self, value: object) -> object:
        """The value as a filtered expression renders it: text, once any filter ran."""
        if not self.filters:
            return value
        text = _as_text(value)
        for name in self.filters:
            text = FILTERS[name](text)
        return text


class ExpressionError(ValueError):
    """An expression that is none of the known forms."""


def parse_expression(expression: str, whole: bool = False) -> Reference:
    if "|" in expression:
        target, *names = (part.strip() for part in expression.split("|"))
        for name in names:
            if name not in FILTERS:
                raise ExpressionError(f"cannot read '{{{{ {expression} }}}}': unknown filter {name!r} "
                                      f"(filters: {', '.join(FILTERS)})")
        ref = parse_expression(target)
        return Reference(ref.namespace, ref.name, op=ref.op, part=ref.part, filters=tuple(names))
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
        return _EXPRESSION.sub(lambda m: _rendered_text(parse_expression(m.group(1)), lookup), value)
    if isinstance(value, Mapping):
        return {key: render(item, lookup) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, lookup) for item in value]
    return value


def _rendered_text(ref: Reference, lookup) -> str:
    return _as_text(ref.apply_filters(lookup(ref)))


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
