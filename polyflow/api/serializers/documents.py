"""The schema of bodies that carry a document (pipelines, actions, events):
YAML text, `{"content": "<yaml>"}`, or a JSON document. The bodies are read by
api/documents.py; serializers cannot describe "text or object", so the schema
is given as OpenAPI directly."""

from ..parsers import YAML_MEDIA_TYPES

CONTENT_BODY = {
    "type": "object",
    "description": "the YAML or JSON text of the document",
    "required": ["content"],
    "properties": {"content": {"type": "string"}},
    "additionalProperties": False,
}


def document_schema(kind: str) -> dict:
    # What the body must be before the spec language reads it: one mapping of that kind,
    # with a name. Anything else is a 400; a document of this shape, or a `content` text,
    # that the spec language refuses (a missing op, a bad reference, no YAML) is a 422.
    return {"type": "object", "description": f"a `kind: {kind}` document (docs/spec.md)",
            "required": ["kind", "name"], "additionalProperties": True,
            "properties": {"kind": {"type": "string", "enum": [kind]}, "name": {"type": "string"}}}


def document_request(kind: str) -> dict:
    json_body = {"description": 'Either `{"content": "<the YAML or JSON text of the document>"}`, or the '
                                "document itself as a JSON object.",
                 "anyOf": [CONTENT_BODY, document_schema(kind)]}
    return {"application/json": json_body, **{media_type: document_schema(kind) for media_type in YAML_MEDIA_TYPES}}

