"""Compile-time checks of an op's matrix against its template (DESIGN section 9).

The schema checked each field alone; here the spaces and a literal mapping's
items meet the template's inputs, the op's params and the limit on trials,
and metrics meet the template's outputs. References (a mapping's `values`,
`best.*`) are checked by the compiler with the other references.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..matrix.kinds import Problem, item_problems, kind_of
from ..matrix.spaces import type_problems
from .errors import choices_text, suggest
from .params import unknown_input
from .plan import IOSpec, MatrixSpec, TemplateSpec
from .references import ExpressionError, Reference, references_in, walk_strings

# Templates whose runs report metrics while they run (a tracked experiment), so that a
# metric need not be a declared output.
METRIC_REPORTING_KINDS = frozenset({"experiment"})
NUMERIC_TYPES = frozenset({"int", "float", "any"})


def matrix_problems(matrix: MatrixSpec, template: TemplateSpec | None, params: Mapping,
                    max_trials: int) -> list[Problem]:
    """Every problem of the matrix; `params` are the op's params as written."""
    problems = list(kind_of(matrix).problems(matrix, max_trials))
    problems.extend(_expressions(matrix))
    if template is not None:
        problems.extend(_spaces(matrix, template, params))
        problems.extend(_items(matrix, template, params))
        problems.extend(_metrics(matrix, template))
    return sorted(problems, key=lambda problem: _position(matrix, problem[0]))


# The order of a matrix's fields in messages, as they are usually written.
_FIELDS = ("kind", "concurrency", "params", "values", "num_runs", "seed", "metric", "early_stopping")


def _position(matrix: MatrixSpec, path: tuple) -> tuple:
    """Where a problem is, to report a matrix's problems top to bottom (a stable sort keeps
    the order of the checks at one place): by field, then by param or item."""
    if not path:
        return ()
    field = _FIELDS.index(path[0]) if path[0] in _FIELDS else len(_FIELDS)
    if path[0] == "params" and len(path) > 1:
        return field, list(matrix.params).index(path[1]) if path[1] in matrix.params else -1
    return (field, *(part for part in path[1:2] if isinstance(part, int)))


def _plain_values(matrix: MatrixSpec) -> Iterator[tuple[tuple, object]]:
    for name, space in matrix.params.items():
        yield ("params", name, "value"), space.value
    if isinstance(matrix.values, tuple):
        yield ("values",), matrix.values


_NO_EXPRESSIONS = ("a matrix holds plain values, not expressions ('{{ ... }}'): put expressions in params "
                   "('{{ globals.trial }}' is the trial's index)")


def _expressions(matrix: MatrixSpec) -> list[Problem]:
    """A matrix holds plain values: its trials' params are not rendered again, and an
    expression there would reach the container as written."""
    problems = []
    for path, value in _plain_values(matrix):
        for inner, text in walk_strings(value):
            try:
                found = any(True for _ in references_in(text))
            except ExpressionError:
                found = True
            if found:
                problems.append((path + inner, _NO_EXPRESSIONS))
    return problems


def _twice(name: str) -> str:
    return f"{name!r} is also given in params: give it there or in the matrix, not both"


def _spaces(matrix: MatrixSpec, template: TemplateSpec, params: Mapping) -> list[Problem]:
    problems = []
    for name, space in matrix.params.items():
        io = template.input(name)
        if io is None:
            problems.append((("params", name), unknown_input(name, (io.name for io in template.inputs),
                                                             f"template {template.name!r}")))
        elif name in params:
            problems.append((("params", name), _twice(name)))
        else:
            problems.extend((("params", name, "value") + inner, message) for inner, message in type_problems(space, io))
    return problems


def _items(matrix: MatrixSpec, template: TemplateSpec, params: Mapping) -> list[Problem]:
    """A literal mapping's items: the same checks as a mapping read at run time, with paths."""
    if not isinstance(matrix.values, tuple):
        return []
    inputs = {io.name: io for io in template.inputs}
    owner = f"template {template.name!r}"
    problems, reported = [], set()
    for index, item in enumerate(matrix.values):
        if not isinstance(item, Mapping):
            continue  # the kind reported it
        problems.extend((("values", index, key), message) for key, message in item_problems(item, inputs, owner))
        for key in item:
            if key in params and key not in reported:  # once, at its first item
                reported.add(key)
                problems.append((("values", index, key), _twice(key)))
    return problems


def metric_problem(name: str, template: TemplateSpec) -> str | None:
    """Why `name` cannot rank the trials of `template`, or None."""
    if name == "step":
        return "'step' is the step of metric records, not a metric"
    if template.kind in METRIC_REPORTING_KINDS:
        return None
    output = template.output(name)
    if output is None:
        names = [io.name for io in template.outputs]
        return (f"{name!r} is no output of template {template.name!r}{suggest(name, names)} "
                f"(outputs: {choices_text(names)}): a job's trials are ranked by a numeric output it "
                "declares (an experiment's by any metric it reports)")
    if output.type not in NUMERIC_TYPES or output.is_list:
        kind = f"list of {output.type}" if output.is_list else output.type
        return f"output {name!r} of template {template.name!r} has type {kind}: a metric is an int, float or any"
    return None


def _metrics(matrix: MatrixSpec, template: TemplateSpec) -> list[Problem]:
    named = [(("metric", "name"), matrix.metric.name)] if matrix.metric else []
    named += [(("early_stopping", index, "metric"), policy.metric)
              for index, policy in enumerate(matrix.early_stopping) if policy.metric is not None]
    return [(path, problem) for path, name in named if (problem := metric_problem(name, template))]


def mapping_output_problem(ref: Reference, output: IOSpec, per_trial: bool) -> str | None:
    """Why the output a mapping's values reference cannot be a list of param mappings, or None.
    `per_trial`: the output is a group's, the list of its trials' values."""
    if _lists_mappings(output, per_trial):
        return None
    return (f"output {ref.name!r} of op {ref.op!r} has type {_type_text(output, per_trial)}: a mapping's values "
            "must be a list of param mappings (an output of type list, dict with is_list, or any)")


def _lists_mappings(output: IOSpec, per_trial: bool) -> bool:
    if per_trial:
        return not output.is_list and output.type in ("dict", "any")
    if output.is_list:
        return output.type in ("dict", "any")
    return output.type in ("list", "any")


def _type_text(output: IOSpec, per_trial: bool) -> str:
    text = f"list of {output.type}" if output.is_list else output.type
    return f"list of {text} (one per trial)" if per_trial else text


def lacking(matrix: MatrixSpec | None, name: str) -> str:
    """Which items of a literal mapping lack a required input."""
    if matrix is None or not isinstance(matrix.values, tuple):
        return ""
    items = [str(index) for index, item in enumerate(matrix.values) if isinstance(item, Mapping) and name not in item]
    which = f"items {choices_text(items)} of the matrix's values lack" if len(items) > 1 else \
        f"item {items[0]} of the matrix's values lacks"
    return f" ({which} it)"
