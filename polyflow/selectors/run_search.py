"""Search of runs: by a prefix of their UUID and by the value of a param they were triggered with.

`OP.NAME=VALUE` is how the command line gives params (`--param train.lr=0.1`), so it is how they
are searched too: the value is read as JSON when it is JSON (0.1 a number, true a boolean), the
text itself otherwise, and compared with the value the run was given (its params overrides).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform

from ..exceptions import InvalidInput

_HEX = re.compile(r"[0-9a-f]+")
# Where a UUID's text puts its dashes: after 8, 12, 16 and 20 hex digits.
_DASHES = (8, 12, 16, 20)


@dataclass(frozen=True)
class ParamFilter:
    op: str
    name: str
    value: object


def parse_param_filter(text: str) -> ParamFilter:
    """`train.lr=0.1` as (train, lr, 0.1); InvalidInput naming the expected form otherwise."""
    key, equals, raw = text.partition("=")
    op, dot, name = key.partition(".")
    if not equals or not dot or not op or not name:
        raise InvalidInput(f"param {text!r}: expected OP.NAME=VALUE, e.g. train.lr=0.1",
                           [{"source": "query", "path": "param", "message": "expected OP.NAME=VALUE"}])
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if isinstance(value, dict | list):
        value = raw  # a param searched by a whole object or list is not supported: its text is
    return ParamFilter(op, name, value)


def uuid_digits(prefix: str) -> str:
    """The hex digits of a UUID prefix given with or without dashes; InvalidInput when it is not one
    (more than a UUID's 32 digits is a prefix of none: see with_uuid_prefix)."""
    digits = prefix.strip().lower().replace("-", "")
    if not digits or not _HEX.fullmatch(digits):
        raise InvalidInput(f"uuid {prefix!r}: expected the start of a run's UUID (hex digits, dashes optional)",
                           [{"source": "query", "path": "uuid", "message": "expected hex digits"}])
    return digits


def dashed(digits: str) -> str:
    """A prefix of a UUID's hex digits as the prefix of its text (PostgreSQL compares the text with
    dashes; elsewhere Django compares without them either way)."""
    parts, start = [], 0
    for end in _DASHES:
        if len(digits) <= end:
            break
        parts.append(digits[start:end])
        start = end
    parts.append(digits[start:])
    return "-".join(parts)


def with_uuid_prefix(runs: QuerySet, prefix: str) -> QuerySet:
    digits = uuid_digits(prefix)
    return runs.none() if len(digits) > 32 else runs.filter(uuid__startswith=dashed(digits))


def with_params(runs: QuerySet, filters: list[ParamFilter]) -> QuerySet:
    """Runs given every one of these param values (a key transform: the same SQL shape on
    PostgreSQL and SQLite, whatever the names hold)."""
    for number, found in enumerate(filters):
        alias = f"_param_{number}"
        runs = runs.alias(**{alias: KeyTransform(found.name, KeyTransform(found.op, "params"))}).filter(
            **{alias: found.value})
    return runs
