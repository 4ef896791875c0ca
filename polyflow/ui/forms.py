"""The trigger form of the pipeline page, built from the pipeline's inputs: one fieldset per op
whose template has inputs, one typed field per input (its default, or the op's own value of it,
filled in; options as a select; booleans as a checkbox). Pure: a Plan in, field descriptions out.

The page's script sends only the fields that were changed, as `{"params": {op: {input: value}}}`
to the trigger API, and shows each of the API's errors (`errors[].path`, e.g.
`params.train.lr`) under the field of that path (`data-path`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..spec import Plan
from ..spec.errors import format_path

# An input's type -> the <input type> that edits it, and how the script reads its value.
_NUMBERS = {"int": "integer", "float": "number"}
_TEMPLATE = "{{"


@dataclass
class Field:
    op: str
    name: str
    type: str  # the input's type
    widget: str  # "checkbox", "select", "number", "text", "json"
    value: str  # as the widget shows it
    checked: bool
    options: list[tuple[str, str]]  # (JSON of the value, label) for a select
    required: bool
    description: str
    path: str  # the API's error path of this field: params.<op>.<input>
    kind: str  # how the script turns the widget's value into JSON: "bool", "integer", "number", "string", "json"
    step: str = ""
    fixed: bool = False  # the op's value is an expression ({{ ops.x.outputs.y }}): shown, replaced if edited

    @property
    def id(self) -> str:
        return f"param-{self.op}-{self.name}"


@dataclass
class OpFields:
    op: str
    template: str
    fields: list[Field]


def _shown(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value)


def input_fields(owner: str, inputs, values, path: tuple) -> list[Field]:
    """One typed field per input (IOSpec) of `owner` (an op, or an event), filled with `values`
    (the op's params) or the input's default; `path` prefixes the API's error paths."""
    fields = []
    for io in inputs:
        has_value = io.name in values
        value = values[io.name] if has_value else (io.default if io.has_default else None)
        fixed = isinstance(value, str) and _TEMPLATE in value
        kind = "json" if io.is_list or io.type in ("dict", "any") else (
            "bool" if io.type == "bool" else _NUMBERS.get(io.type, "string"))
        if io.options and not io.is_list:
            widget = "select"
        elif kind == "bool" and not fixed:
            widget = "checkbox"
        elif kind in ("integer", "number") and not fixed:
            widget = "number"
        elif kind == "json":
            widget = "json"
        else:
            widget = "text"
        options = [(json.dumps(option), _shown(option)) for option in io.options] if widget == "select" else []
        fields.append(Field(
            op=owner, name=io.name, type=("list of " + io.type) if io.is_list else io.type, widget=widget,
            value=json.dumps(value) if widget == "select" else _shown(value),
            checked=value is True, options=options,
            required=io.required and not has_value, description=io.description,
            path=format_path(path + (io.name,)), kind=kind,
            step="1" if kind == "integer" else "any", fixed=fixed,
        ))
    return fields


def trigger_fields(plan: Plan) -> list[OpFields]:
    """A fieldset per op whose template has inputs, each input filled with what a run would get."""
    return [OpFields(op.name, op.template_name or (op.action.name if op.action else ""),
                     input_fields(op.name, op.template.inputs, op.params, ("params", op.name)))
            for op in plan.ops if op.template is not None and op.template.inputs]


def event_fields(event) -> list[Field]:
    """The fire form of an event: a field per input of its payload (errors at `payload.<input>`)."""
    from ..spec.plan import _io

    return input_fields(event.name, [_io(item) for item in event.inputs or ()], {}, ("payload",))
