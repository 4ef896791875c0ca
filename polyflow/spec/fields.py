"""Strict marshmallow fields whose errors name the value that was given.

YAML is loose about types (`yes`, `1.0`, `"3"`); a pipeline spec must not be,
so these fields never coerce: a string is not a number and a number is not a
string.

The fast path: marshmallow spends tens of microseconds on each nested object
(an op of a 10,000-op pipeline) in its generic machinery. Each field here can
also give a `fast_checker`, a plain function that returns what the field
would load for a value it accepts and raises Slow for anything else; a
schema's fields and checks make a `schema_loader` that does the same for a
whole object. Lists and nested objects try it first and, when it declines,
load the value through marshmallow as before. The fast path only ever accepts:
every error, and every message, is marshmallow's and the schemas'.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping

from marshmallow import ValidationError, fields, missing
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA

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

    def fast_checker(self) -> Checker:
        allow_empty = self.allow_empty

        def check(value):
            if value.__class__ is str and (value or allow_empty):
                return value
            raise Slow

        return check


class Name(Str):
    """A DNS-1123 label: names become parts of pod and image names."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        error = dns1123_label_error(value)
        if error:
            raise ValidationError(error)
        return value

    def fast_checker(self) -> Checker:
        match = DNS1123_LABEL.match

        def check(value):
            if value.__class__ is str and len(value) <= 63 and match(value):
                return value
            raise Slow

        return check


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

    def fast_checker(self) -> Checker:
        match = IDENTIFIER.match

        def check(value):
            if value.__class__ is str and match(value):
                return value
            raise Slow

        return check


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

    def fast_checker(self) -> Checker:
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum

        def check(value):
            if value.__class__ is int and low <= value <= high:  # bool is a subclass, not int itself
                return value
            raise Slow

        return check


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

    def fast_checker(self) -> Checker:
        above = -math.inf if self.above is None else self.above
        high = math.inf if self.maximum is None else self.maximum
        isfinite = math.isfinite

        def check(value):
            if (value.__class__ is int or value.__class__ is float) and isfinite(value) and above < value <= high:
                return value
            raise Slow

        return check


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

    def fast_checker(self) -> Checker:
        def check(value):
            if value is True or value is False:
                return value
            raise Slow

        return check


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

    def fast_checker(self) -> Checker:
        if not all(isinstance(choice, str) for choice in self.choices):
            return None
        choices, allow_empty = frozenset(self.choices), self.allow_empty

        def check(value):
            if value.__class__ is str and value in choices and (value or allow_empty):
                return value
            raise Slow

        return check


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

    def fast_checker(self) -> Checker:
        allow_empty, low, high = self.allow_empty, self.MIN_YEAR, self.MAX_YEAR
        parse = dt.datetime.fromisoformat

        def check(value):
            if value.__class__ is str and (value or allow_empty):
                try:
                    parsed = parse(value)
                except ValueError:
                    raise Slow from None
                if low <= parsed.year <= high:
                    return parsed
            raise Slow

        return check


class Raw(fields.Field):
    """Any value, as given (param values, defaults, Kubernetes affinity)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return value

    def fast_checker(self) -> Checker:
        def check(value):
            if value is None:  # marshmallow's "may not be null"
                raise Slow
            return value

        return check


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

    def fast_checker(self) -> Checker:
        check_key, check_value = field_checker(self.key_field), field_checker(self.value_field)
        if check_key is None or check_value is None:
            return None

        def check(value):
            if not isinstance(value, Mapping):
                raise Slow
            return {check_key(key): check_value(item) for key, item in value.items()}

        return check


class StrMap(MappingField):
    def __init__(self, **kwargs):
        super().__init__(values=Str(allow_empty=True), **kwargs)


class List(fields.List):
    _fast_inner: Checker | object = missing  # the inner field's checker, once known

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list | tuple):
            raise ValidationError(f"expected a list, got {describe(value)}")
        if FAST_PATH and not kwargs:  # kwargs: a partial load, which the fast path does not know
            check = self._fast_inner
            if check is missing:
                check = self._fast_inner = field_checker(self.inner)
            if check is not None:
                try:
                    return [check(item) for item in value]
                except Slow:
                    pass  # marshmallow loads every item again, and words the errors
        return super()._deserialize(value, attr, data, **kwargs)

    def fast_checker(self) -> Checker:
        check_item = field_checker(self.inner)
        if check_item is None:
            return None

        def check(value):
            if not isinstance(value, list | tuple):
                raise Slow
            return [check_item(item) for item in value]

        return check


class StrList(List):
    def __init__(self, inner: fields.Field | None = None, **kwargs):
        super().__init__(inner or Str(), **kwargs)


class Nested(fields.Nested):
    _fast: Checker | object = missing

    def _deserialize(self, value, attr, data, partial=None, **kwargs):
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected a mapping, got {describe(value)}")
        if FAST_PATH and partial is None:
            load = self._fast
            if load is missing:
                load = self._fast = self.fast_checker()
            if load is not None:
                try:
                    return load(value)
                except Slow:
                    pass
        return super()._deserialize(value, attr, data, partial=partial, **kwargs)

    def fast_checker(self) -> Checker:
        nested = self.nested
        if not isinstance(nested, type) or self.only is not None or self.exclude or self.many \
                or self.unknown is not None:
            return None
        return schema_loader(nested)


class Quantity(fields.Field):
    """A Kubernetes resource quantity (`500m`, `2`, `512Mi`), kept as a string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValidationError(f"expected a quantity such as 2, '500m' or '1Gi', got {describe(value)}")
        text = str(value)
        if not QUANTITY.match(text):
            raise ValidationError(f"{value!r} is not a Kubernetes quantity such as 2, '500m' or '1Gi'")
        return text

    def fast_checker(self) -> Checker:
        match = QUANTITY.match

        def check(value):
            if value.__class__ is int or value.__class__ is float or value.__class__ is str:
                text = str(value)
                if match(text):
                    return text
            raise Slow

        return check


# --- the fast path ---------------------------------------------------------------------

# Off in the tests that compare both paths.
FAST_PATH = True

Checker = Callable[[object], object] | None


class Slow(Exception):
    """The fast path declines a value; marshmallow's path loads it (and words its errors)."""


def _owner(cls: type, name: str) -> type | None:
    return next((klass for klass in cls.__mro__ if name in vars(klass)), None)


def field_checker(field: fields.Field) -> Checker:
    """A function that returns what `field` loads from a value it accepts, and raises Slow
    for any other value (null, a wrong type, a value out of bounds); None when the field has
    no fast path.

    A field has one when its class defines `fast_checker` where it defines `_deserialize`
    (a subclass that loads differently gets none until it says how), with no validators,
    processors or renaming of marshmallow's.
    """
    cls = type(field)
    if _owner(cls, "fast_checker") is None or _owner(cls, "fast_checker") is not _owner(cls, "_deserialize"):
        return None
    if field.validators or getattr(field, "pre_load", None) or getattr(field, "post_load", None):
        return None
    if field.data_key is not None or field.attribute is not None:
        return None
    return field.fast_checker()


# Per schema class: the schema_loader, or None when the schema has no fast path.
_SCHEMA_LOADERS: dict[type, Checker] = {}


def schema_loader(schema_class: type) -> Checker:
    """A function that returns what `schema_class().load(value)` returns for a value it
    accepts, and raises Slow for any other: a key that is no field, a required field
    missing, a field's value its checker declines, a schema check that fails. Defaults fill
    absent fields and the result's keys are in the order of the fields, as marshmallow's.

    Schema checks (`validates_schema`) run on the result as marshmallow runs them; a
    schema names in `fast_path_skips` the checks the fast path makes itself (unknown keys).
    None when a field or a hook has no fast path.
    """
    if schema_class in _SCHEMA_LOADERS:
        return _SCHEMA_LOADERS[schema_class]
    _SCHEMA_LOADERS[schema_class] = None  # a schema nested in itself: no fast path
    try:
        loader = _compile_schema(schema_class)
    except Exception:  # a marshmallow whose internals differ: the usual path
        loader = None
    _SCHEMA_LOADERS[schema_class] = loader
    return loader


def _compile_schema(schema_class: type) -> Checker:
    schema = schema_class()
    hooks = schema._hooks
    if schema.many or any(hooks.get(name) for name in (PRE_LOAD, POST_LOAD, VALIDATES)):
        return None
    skips = set(getattr(schema, "fast_path_skips", ()))
    checks = []
    for name, _many, options in hooks.get(VALIDATES_SCHEMA, ()):
        if name not in skips:
            checks.append((getattr(schema, name), bool(options.get("pass_original"))))
    unknown = schema.unknown
    table = []
    for name, field in schema.load_fields.items():
        if field.data_key is not None or field.attribute is not None or "." in name:
            return None
        table.append((name, field_checker(field), field.required, field.load_default))
    known = frozenset(schema.load_fields)
    table = tuple(table)

    def load(value):
        if not isinstance(value, Mapping):
            raise Slow
        for key in value:
            if key not in known:
                raise Slow
        result = {}
        for name, check, required, default in table:
            given = value.get(name, missing)
            if given is missing:
                if required:
                    raise Slow
                if default is not missing:
                    result[name] = default() if callable(default) else default
            elif check is None:
                raise Slow
            else:
                result[name] = check(given)
        try:
            for check_schema, pass_original in checks:
                if pass_original:
                    check_schema(result, value, partial=None, many=False, unknown=unknown)
                else:
                    check_schema(result, partial=None, many=False, unknown=unknown)
        except ValidationError:
            raise Slow from None
        return result

    return load
