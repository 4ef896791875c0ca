"""The types of template inputs and outputs, and checking values against them.

Pure functions: used at validate/apply time on params and defaults, and at run
time on the outputs an op publishes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .errors import choices_text, describe

if TYPE_CHECKING:
    from .plan import IOSpec

IO_TYPES = (
    "str", "int", "float", "bool", "dict", "list", "uri", "path",
    "s3_path", "gcs_path", "azure_path", "image", "date", "datetime", "any",
)

# Types whose values are strings: a reference of one of them may feed a `str` input.
STRING_TYPES = frozenset(
    {"str", "uri", "path", "s3_path", "gcs_path", "azure_path", "image", "date", "datetime"}
)

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
_S3 = re.compile(r"^s3a?://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$")
_GCS = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/\S*)?$")
_AZURE = re.compile(r"^(wasbs?|abfss?|az)://\S+$")
# A Docker image reference: [registry[:port]/]name[/name...][:tag][@digest].
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@[a-z0-9]+:[a-f0-9]{32,})?$"
)


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_float(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parses(parser, value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parser(value)
    except ValueError:
        return False
    return True


_CHECKS = {
    "str": (_is_str, "a string"),
    "int": (_is_int, "an integer"),
    "float": (_is_float, "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "dict": (lambda v: isinstance(v, Mapping), "a mapping"),
    "list": (lambda v: isinstance(v, list | tuple), "a list"),
    "uri": (lambda v: _is_str(v) and bool(_URI.match(v)), "a URI such as 'https://host/path'"),
    "path": (lambda v: _is_str(v) and v != "", "a path"),
    "s3_path": (lambda v: _is_str(v) and bool(_S3.match(v)), "an S3 path such as 's3://bucket/key'"),
    "gcs_path": (lambda v: _is_str(v) and bool(_GCS.match(v)), "a GCS path such as 'gs://bucket/key'"),
    "azure_path": (
        lambda v: _is_str(v) and bool(_AZURE.match(v)),
        "an Azure path such as 'wasbs://container@account.blob.core.windows.net/key'",
    ),
    "image": (lambda v: _is_str(v) and bool(_IMAGE.match(v)), "an image such as 'python:3.11-slim'"),
    "date": (lambda v: _parses(dt.date.fromisoformat, v), "an ISO 8601 date such as '2019-06-24'"),
    "datetime": (
        lambda v: _parses(dt.datetime.fromisoformat, v),
        "an ISO 8601 date-time such as '2019-06-24T21:20:07+00:00'",
    ),
    "any": (lambda v: True, "any value"),
}
assert set(_CHECKS) == set(IO_TYPES)


def type_error(io_type: str, value: object) -> str | None:
    """Why `value` is not of `io_type`, or None when it is."""
    check, expected = _CHECKS[io_type]
    if check(value):
        return None
    return f"expected {expected} (type {io_type}), got {describe(value)}"


def value_error(
    io_type: str,
    value: object,
    is_list: bool = False,
    options: Sequence[object] | None = None,
) -> str | None:
    """Why `value` does not fit an input or output declaration, or None."""
    if is_list:
        if not isinstance(value, list | tuple):
            return f"expected a list of {io_type}, got {describe(value)}"
        for index, item in enumerate(value):
            error = value_error(io_type, item, options=options)
            if error:
                return f"item {index}: {error}"
        return None
    error = type_error(io_type, value)
    if error:
        return error
    if options is not None and not any(_same(value, option) for option in options):
        return f"{describe(value)} is not one of the options ({choices_text(map(describe, options))})"
    return None


def io_value_error(io: IOSpec, value: object) -> str | None:
    """Why a plain value does not fit a declared input, or None; null fits an optional one."""
    if value is None and io.is_optional:
        return None
    return value_error(io.type, value, io.is_list, io.options)


def _same(value: object, option: object) -> bool:
    """Equality for options: true is not 1, and a list equals the same tuple.

    Options are frozen into tuples in a plan while values come from YAML lists;
    Python's `True == 1` would let a bool pass for a numeric option.
    """
    if isinstance(value, bool) or isinstance(option, bool):
        return isinstance(value, bool) and isinstance(option, bool) and value == option
    if isinstance(value, list | tuple) and isinstance(option, list | tuple):
        return len(value) == len(option) and all(map(_same, value, option))
    if isinstance(value, Mapping) and isinstance(option, Mapping):
        return value.keys() == option.keys() and all(_same(value[key], option[key]) for key in value)
    return value == option


def reference_compatible(output_type: str, input_type: str) -> bool:
    """May an output of `output_type` feed an input of `input_type`?"""
    if output_type == input_type or "any" in (output_type, input_type):
        return True
    if input_type == "float" and output_type == "int":
        return True
    return input_type == "str" and output_type in STRING_TYPES
