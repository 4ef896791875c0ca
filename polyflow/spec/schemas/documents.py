"""The three document kinds and loading one raw document by its kind."""

from __future__ import annotations

from collections.abc import Mapping

from marshmallow import ValidationError

from .. import fields as f
from ..errors import choices_text, describe
from .base import StrictSchema, schema_for_kind, shared
from .pipeline import PipelineSchema
from .template import IOSchema, TemplateSchema

SPEC_VERSIONS = (1,)
# Action versions are stored in an integer column: at most what every database's holds.
MAX_ACTION_VERSION = 2**31 - 1


class ActionSchema(StrictSchema):
    what = "action"

    version = f.Int(minimum=1, maximum=MAX_ACTION_VERSION)
    kind = f.Str(required=True)
    name = f.Name(required=True)
    description = f.Str(allow_empty=True)
    template = f.Nested(TemplateSchema, required=True)


class EventSchema(StrictSchema):
    what = "event"

    version = f.Raw(required=True)
    kind = f.Str(required=True)
    name = f.Name(required=True)
    description = f.Str(allow_empty=True)
    inputs = f.List(f.Nested(IOSchema))


DOCUMENT_SCHEMAS = {"pipeline": PipelineSchema, "action": ActionSchema, "event": EventSchema}


def load_document(data: object) -> dict:
    """Validate one document; raises marshmallow's ValidationError with every error.

    For an action, `version` is the action's own version (the spec language's
    version is implied: actions are registry entries, versioned by integer).
    """
    if not isinstance(data, Mapping):
        raise ValidationError(f"expected a mapping with 'version' and 'kind', got {describe(data)}")
    schema = shared(schema_for_kind(data, DOCUMENT_SCHEMAS))
    kind = data["kind"]
    errors = {}
    if kind != "action" and "version" in data and data["version"] not in SPEC_VERSIONS:
        errors["version"] = [
            f"unsupported spec version {describe(data['version'])} "
            f"(supported: {choices_text(map(str, SPEC_VERSIONS))})"
        ]
    try:
        document = schema.load(data)
    except ValidationError as error:
        errors.update(error.messages)
    if errors:
        raise ValidationError(errors)
    return document
