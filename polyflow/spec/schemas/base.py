from __future__ import annotations

import functools
from collections.abc import Mapping

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

from ..errors import choices_text, describe, suggest
from ..fields import Checker, Slow, schema_loader


@functools.cache
def shared(schema_class: type) -> Schema:
    """One instance of a schema for every load: making one copies all its fields (60 us for
    a pipeline's), and loading keeps no state in it."""
    return schema_class()


class StrictSchema(Schema):
    """Unknown keys are errors that name the key and the field it probably meant.

    marshmallow's own RAISE says only "Unknown field.", so unknown keys are
    excluded from loading and reported here instead, alongside field errors.
    """

    class Meta:
        unknown = EXCLUDE

    # What the object is called in messages ("op", "schedule of kind cron").
    what = "document"
    # The fast path of polyflow.spec.fields declines unknown keys itself.
    fast_path_skips = ("_reject_unknown_keys",)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _reject_unknown_keys(self, data, original, **kwargs):
        if not isinstance(original, Mapping):
            return
        known = [name for name, field in self.load_fields.items()]
        errors = {
            str(key): f"unknown field {key!r} in {self.what}{suggest(key, known)} "
            f"(fields: {choices_text(sorted(known))})"
            for key in original
            if key not in self.load_fields
        }
        if errors:
            raise ValidationError(errors)


def validates_always(fn):
    """A schema check that runs even when some fields failed, so that every error
    is reported at once. Such a check reads fields with `data.get`: a field that
    failed is absent."""
    return validates_schema(skip_on_field_errors=False)(fn)


def schema_for_kind(data: Mapping, schemas: Mapping[str, type], what: str = "kind") -> type:
    """The schema for `data["kind"]`, or a ValidationError at `kind` naming the kinds."""
    kind = data.get("kind")
    if isinstance(kind, str) and kind in schemas:
        return schemas[kind]
    if kind is None:
        message = "required field is missing"
    else:
        message = f"unknown {what} {describe(kind)}{suggest(kind, schemas)}"
    raise ValidationError({"kind": f"{message} (kinds: {choices_text(schemas)})"})


class KindField(fields.Field):
    """A mapping loaded with the schema of its `kind` (schedules, early-stopping policies):
    each kind accepts only the fields that mean something for it."""

    def __init__(self, schemas: Mapping[str, type], *, what: str = "kind", **kwargs):
        self.schemas = schemas
        self.what = what
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected a mapping, got {describe(value)}")
        schema = schema_for_kind(value, self.schemas, what=self.what)
        try:
            return shared(schema).load(value)
        except ValidationError as error:
            raise ValidationError(error.messages) from None

    def fast_checker(self) -> Checker:
        schemas = self.schemas

        def check(value):
            kind = value.get("kind") if isinstance(value, Mapping) else None
            if not (isinstance(kind, str) and kind in schemas):
                raise Slow
            load = schema_loader(schemas[kind])
            if load is None:
                raise Slow
            return load(value)

        return check
