"""Polyflow's values in Argo's words: params, globals and outputs as Argo template tags (pure).

The container of an op is built by Polyflow's own pod builder
(`backends/manifests.py`), from a Submission whose params and globals are
markers instead of values. Once the builder has put them in (and quoted them
for a shell where `| shell_quote` says so), each marker becomes the Argo tag
that gives the value at run time:

- a param: `{{inputs.parameters.NAME}}` for an int, float or bool (nothing to
  escape); any other `{{=sprig.replace('$', '$$', inputs.parameters['NAME'])}}`,
  so that Kubernetes' `$(VAR)` expansion leaves the value as it is, as Polyflow
  does (docs/spec.md, Values in commands); shell-quoted, inside single quotes
  with each `'` written `'"'"'`, as shlex.quote does;
- globals: run_uuid `{{workflow.uid}}`, schedule_at `{{workflow.scheduledTime}}`
  (a CronWorkflow's runs; empty otherwise), attempt `{{retries}}` + 1, trial
  the `polyflow-trial` input of a matrix op's template;
- `{{ ops.X.outputs.Y }}`: the op's outputs file is one output parameter,
  `polyflow-outputs`; Y is `jsonpath(...)` of it (as JSON for dict and list outputs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..spec.plan import IOSpec

MARK = "\x01"
# A marker holds a quote so that shlex.quote (the shell_quote filter) writes it in a way of its own:
# `'\x01N'"'"'\x01'`, told apart from a marker the template's author put in quotes.
_QUOTED_MARKER = re.compile("'" + MARK + r"(\d+)'\"'\"'" + MARK + "'")
_MARKER = re.compile(MARK + r"(\d+)'" + MARK)
_JSON_MARKER = re.compile(r'"\\u0001(\d+)\'\\u0001"')
_EMBEDDED_JSON_MARKER = re.compile(r"\\u0001(\d+)'\\u0001")
OUTPUTS_PARAMETER = "polyflow-outputs"
TRIAL_INPUT = "polyflow-trial"
# Types whose text cannot hold `$` or a quote: put in as they are.
_PLAIN_TYPES = frozenset({"int", "float", "bool"})
# Types whose text is JSON already (as_text writes dicts and lists as JSON).
_JSON_TYPES = frozenset({"int", "float", "bool", "dict", "list"})


def expr_string(text: str) -> str:
    """A string literal of Argo's expression language, in single quotes: the tag may land inside a
    JSON string (a dict-valued param), and Argo undoes one level of JSON escaping only."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Value:
    """How to write one value: as text (`plain`), as JSON (`as_json`), as a shell word (`quoted`)."""

    plain: str
    as_json: str
    quoted: str


def literal(text: str) -> Value:
    return Value(text, json.dumps(text), "'" + text.replace("'", "'\"'\"'") + "'")


def _expression_value(expression: str, escape_dollars: bool, json_text: bool) -> Value:
    # `expression` gives a string at run time.
    escaped = f"sprig.replace('$', '$$', {expression})" if escape_dollars else expression
    quoted = f"sprig.replace({expr_string(chr(39))}, {expr_string(chr(39) + chr(34) + chr(39) + chr(34) + chr(39))}, " \
             f"{expression})"
    if escape_dollars:
        quoted = f"sprig.replace('$', '$$', {quoted})"
    as_json = "{{=" + expression + "}}" if json_text else "{{=toJson(" + expression + ")}}"
    return Value("{{=" + escaped + "}}", as_json, "'{{=" + quoted + "}}'")


def input_value(io: IOSpec | None, name: str) -> Value:
    """A template input, inside the op's own template."""
    kind = io.type if io else "any"
    is_list = bool(io and io.is_list)
    if kind in _PLAIN_TYPES and not is_list:
        tag = f"{{{{inputs.parameters.{name}}}}}"
        return Value(tag, tag, tag)
    expression = f"inputs.parameters[{expr_string(name)}]"
    return _expression_value(expression, True, is_list or kind in _JSON_TYPES)


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(key: str) -> str:
    """The JSONPath of a key of the outputs object (a name may hold `-`)."""
    return f"$.{key}" if _IDENTIFIER.match(key) else f"$['{key}']"


def output_value(task: str, output: IOSpec | None, name: str) -> Value:
    """`{{ ops.TASK.outputs.NAME }}`, in a DAG task's arguments (no `$` to escape: the input
    that receives it is escaped where it is used)."""
    found = f"jsonpath(tasks[{expr_string(task)}].outputs.parameters[{expr_string(OUTPUTS_PARAMETER)}], " \
            f"{expr_string(json_path(name))})"
    structured = output is not None and (output.is_list or output.type in ("dict", "list"))
    expression = f"toJson({found})" if structured else f"string({found})"
    value = _expression_value(expression, False, structured)
    # In JSON (a dict-valued param) the value keeps its type, as a whole-value reference does in Polyflow.
    return Value(value.plain, "{{=toJson(" + found + ")}}", value.quoted)


class Markers:
    """Markers handed to the pod builder, and what each stands for."""

    def __init__(self) -> None:
        self._values: list[Value] = []

    def mark(self, value: Value) -> str:
        self._values.append(value)
        return f"{MARK}{len(self._values) - 1}'{MARK}"

    def fill(self, text: str) -> str:
        """Markers in a command, an argument or an env value, as Argo tags."""
        text = _QUOTED_MARKER.sub(lambda match: self._values[int(match.group(1))].quoted, text)
        return _MARKER.sub(lambda match: self._values[int(match.group(1))].plain, text)

    def fill_json(self, text: str) -> str:
        """Markers in JSON text: one that is a whole JSON string as a JSON-valued tag, one inside a
        longer string as its text (escaped for JSON)."""
        text = _JSON_MARKER.sub(lambda match: self._values[int(match.group(1))].as_json, text)
        return _EMBEDDED_JSON_MARKER.sub(lambda match: json.dumps(self._values[int(match.group(1))].plain)[1:-1],
                                         text)

    def fill_all(self, value: object, fill: Callable[[str], str] | None = None) -> object:
        fill = fill or self.fill
        if isinstance(value, str):
            return fill(value)
        if isinstance(value, dict):
            return {key: self.fill_all(item, fill) for key, item in value.items()}
        if isinstance(value, list):
            return [self.fill_all(item, fill) for item in value]
        return value
