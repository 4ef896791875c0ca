"""Strict marshmallow fields whose errors name the value that was given.

YAML is loose about types (`yes`, `1.0`, `"3"`); a pipeline spec must not be,
so these fields never coerce: a string is not a number and a number is not a
string.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping

from marshmallow import ValidationError, fields

from .errors import choices_text, describe, suggest

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
# Kubernetes resource quantities: 500m, 2, 1.5, 512Mi, 1G, 1e3.
QUANTITY = re.compile(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$")


def dns1123_label_error(value: str) -> str | None:
    if len(value) > 63:
        return f"{value!r} is too long for a name ({len(value)} characters, at most 63)"
    if not DNS1123_LABEL.match(value):
        return (
            f"{value!r} is not a valid name: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return None


class Str(fields.Field):
    def __init__(self, *, allow_empty: bool = False, **kwargs):
        self.allow_empty = allow_empty
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError(f"expected a string, got {describe(value)}")
        if not value and not self.allow_empty:
            raise ValidationError("must not be empty")
        return value


class Name(Str):
    """A DNS-1123 label: names become parts of pod and image names."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        error = dns1123_label_error(value)
        if error:
            raise ValidationError(error)
        return value


class Identifier(Str):
    """Input and output names: they become env var suffixes and JSON keys."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not IDENTIFIER.match(value):
            raise ValidationError(
                f"{value!r} is not a valid name: use letters, digits, '_' and '-', "
                "starting with a letter or '_'"
            )
        return value


class Int(fields.Field):
    def __init__(self, *, minimum: int | None = None, maximum: int | None = None, **kwargs):
        self.minimum = minimum
        self.maximum = maximum
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"expected an integer, got {describe(value)}")
        if self.minimum is not None and value < self.minimum:
            bound = "positive" if self.minimum == 1 else f"at least {self.minimum}"
            raise ValidationError(f"must be {bound}, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise ValidationError(f"must be at most {self.maximum}, got {describe(value)}")
        return value


class Number(fields.Field):
    """An integer or a float, finite (true is no number; `.inf` cannot be stored)."""

    def __init__(self, *, above: float | None = None, maximum: float | None = None, **kwargs):
        self.above = above  # an exclusive lower bound: percentages above 0
        self.maximum = maximum
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValidationError(f"expected a number, got {describe(value)}")
        if self.above is not None and value <= self.above:
            raise ValidationError(f"must be above {self.above:g}, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise ValidationError(f"must be at most {self.maximum:g}, got {value}")
        return value


# Durations beyond ten years are mistakes, and far larger ones would overflow
# the date arithmetic of the scheduler.
MAX_SECONDS = 10 * 365 * 86400
# Counts and limits are stored in 32-bit integer columns.
MAX_COUNT = 2**31 - 1


class Seconds(Int):
    def __init__(self, *, minimum: int = 0, **kwargs):
        super().__init__(minimum=minimum, maximum=MAX_SECONDS, **kwargs)


class Count(Int):
    def __init__(self, *, minimum: int = 0, maximum: int = MAX_COUNT, **kwargs):
        super().__init__(minimum=minimum, maximum=maximum, **kwargs)


class Bool(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError(f"expected true or false, got {describe(value)}")
        return value


class Choice(Str):
    def __init__(self, choices, *, what: str = "value", **kwargs):
        self.choices = tuple(choices)
        self.what = what
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if value not in self.choices:
            raise ValidationError(
                f"unknown {self.what} {value!r}{suggest(value, self.choices)} "
                f"({self.what}s: {choices_text(self.choices)})"
            )
        return value


class DateTime(Str):
    """An ISO 8601 date-time; naive values are kept naive for the schedule to place."""

    # A day inside Python's years 1 to 9999 on either side, so that moving the
    # time to UTC (or to the schedule's zone) never leaves the range: the
    # database would store such a time and then fail to read it back.
    MIN_YEAR, MAX_YEAR = 2, 9998

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                f"{value!r} is not an ISO 8601 date-time such as '2019-06-24T21:20:07+00:00'"
            ) from None
        if not self.MIN_YEAR <= parsed.year <= self.MAX_YEAR:
            raise ValidationError(f"{value!r} is out of range: years {self.MIN_YEAR} to {self.MAX_YEAR}")
        return parsed


class Raw(fields.Field):
    """Any value, as given (param values, defaults, Kubernetes affinity)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return value


class MappingField(fields.Field):
    """A mapping whose keys (and optionally values) are checked one by one."""

    def __init__(self, *, keys: fields.Field | None = None, values: fields.Field | None = None, **kw):
        self.key_field = keys or Str()
        self.value_field = values or Raw()
        super().__init__(**kw)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected a mapping, got {describe(value)}")
        result, errors = {}, {}
        for key, item in value.items():
            try:
                key = self.key_field.deserialize(key)
                result[key] = self.value_field.deserialize(item)
            except ValidationError as error:
                errors[str(key)] = error.messages
        if errors:
            raise ValidationError(errors)
        return result


class StrMap(MappingField):
    def __init__(self, **kwargs):
        super().__init__(values=Str(allow_empty=True), **kwargs)


class List(fields.List):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list | tuple):
            raise ValidationError(f"expected a list, got {describe(value)}")
        return super()._deserialize(value, attr, data, **kwargs)


class StrList(List):
    def __init__(self, inner: fields.Field | None = None, **kwargs):
        super().__init__(inner or Str(), **kwargs)


class Nested(fields.Nested):
    def _deserialize(self, value, attr, data, partial=None, **kwargs):
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected a mapping, got {describe(value)}")
        return super()._deserialize(value, attr, data, partial=partial, **kwargs)


class Quantity(fields.Field):
    """A Kubernetes resource quantity (`500m`, `2`, `512Mi`), kept as a string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValidationError(f"expected a quantity such as 2, '500m' or '1Gi', got {describe(value)}")
        text = str(value)
        if not QUANTITY.match(text):
            raise ValidationError(f"{value!r} is not a Kubernetes quantity such as 2, '500m' or '1Gi'")
        return text
