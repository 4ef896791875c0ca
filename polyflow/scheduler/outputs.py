"""The one parser of what an op publishes as outputs, shared by every backend (pure).

A backend hands over what the op wrote, as it wrote it: the text of the
outputs file (local) or of the termination message (Kubernetes), or a mapping
already decoded (a test backend). What cannot be stored or was not declared is
refused here, whichever backend ran the op, so a diverged loss (`NaN`), a NUL
character or a megabyte of JSON fails that op with reason `invalid_outputs`
instead of failing the database write of every run in the same tick.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..spec.errors import choices_text, format_path
from ..spec.plan import IOSpec
from ..spec.storable import unstorable_value
from ..spec.types import value_error

# What the outputs document may weigh; Kubernetes caps termination messages at 4 KiB anyway.
MAX_OUTPUTS_BYTES = 1024 * 1024
WHERE = "the outputs ($POLYFLOW_OUTPUTS_FILE)"


@dataclass(frozen=True)
class ParsedOutputs:
    outputs: dict = field(default_factory=dict)
    error: str | None = None  # why the outputs are refused; then `outputs` is empty


def _refuse(message: str) -> ParsedOutputs:
    return ParsedOutputs({}, message)


def _not_a_number(name: str):
    raise ValueError(f"{name} is not a JSON number (a diverged metric?)")


def decode(published: str | bytes | Mapping | None, limit: int = MAX_OUTPUTS_BYTES) -> ParsedOutputs:
    """The JSON object an op published, with no check against its declaration yet."""
    if published is None:
        return ParsedOutputs()
    if isinstance(published, Mapping):
        value = dict(published)
    else:
        size = len(published.encode("utf-8", "surrogatepass") if isinstance(published, str) else published)
        if size > limit:
            return _refuse(f"{WHERE} hold {size} bytes, more than the limit of {limit}")
        if isinstance(published, bytes):
            try:
                published = published.decode("utf-8")
            except UnicodeDecodeError as error:
                return _refuse(f"{WHERE} are not UTF-8 text: {error}")
        text = published.strip()
        if not text:
            return ParsedOutputs()
        try:
            value = json.loads(text, parse_constant=_not_a_number)
        except RecursionError:
            return _refuse(f"{WHERE} are nested too deeply")
        except ValueError as error:
            return _refuse(f"{WHERE} are not valid JSON: {error}: {text[:200]!r}")
        if not isinstance(value, dict):
            return _refuse(f"{WHERE} must be a JSON object, not {_kind(value)}")
    problem = unstorable_value(value)
    if problem:
        path, message = problem
        where = f"output {format_path(path)!r}" if path else WHERE
        return _refuse(f"{where}: {message}")
    return ParsedOutputs(value)


def _kind(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def declaration_error(declared: Sequence[IOSpec], outputs: Mapping[str, object]) -> str | None:
    """Why outputs do not match the template's `outputs`, or None."""
    by_name = {io.name: io for io in declared}
    for name, value in outputs.items():
        io = by_name.get(name)
        if io is None:
            return f"undeclared output {name!r} (outputs: {choices_text(by_name)})"
        error = value_error(io.type, value, io.is_list, io.options)
        if error:
            return f"output {name!r}: {error}"
    return None


def parse_outputs(published: str | bytes | Mapping | None, declared: Sequence[IOSpec],
                  limit: int = MAX_OUTPUTS_BYTES) -> ParsedOutputs:
    """Decode, refuse what cannot be stored, and check against the declaration."""
    parsed = decode(published, limit)
    if parsed.error:
        return parsed
    error = declaration_error(declared, parsed.outputs)
    return _refuse(error) if error else parsed
