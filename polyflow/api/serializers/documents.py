"""The schema of bodies that carry a document (pipelines, actions, events):
YAML text, `{"content": "<yaml>"}`, or a JSON document. The bodies are read by
api/documents.py; serializers cannot describe "text or object", so the schema
is given as OpenAPI directly."""

from ..parsers import YAML_MEDIA_TYPES

DOCUMENT_JSON_BODY = {
    "type": "object",
    "description": 'Either `{"content": "<the YAML or JSON text of the document>"}`, or the document itself '
                   'as a JSON object (with its `kind`).',
    "properties": {"content": {"type": "string"}},
    "additionalProperties": True,
}


def document_request(kind: str) -> dict:
    text = {"type": "string", "description": f"a YAML `kind: {kind}` document"}
    return {"application/json": DOCUMENT_JSON_BODY, **{media_type: text for media_type in YAML_MEDIA_TYPES}}

