"""Reading a document body (pipelines, actions, events) into what the services apply.

Three bodies say the same thing: YAML text (`application/x-yaml`,
`application/yaml` or `text/yaml`), JSON `{"content": "<yaml or json text>"}`,
and a JSON document (an object with a `kind`). The text of the first two is
kept as the document's `content`, as submitted; a JSON document is kept as its
JSON, indented.
"""

from __future__ import annotations

import json

from ..exceptions import InvalidInput
from ..services.apply import parse_body
from ..spec import RawDocument
from .parsers import YAMLText

SOURCE = "body"


def documents_from_body(data) -> tuple[list[RawDocument], dict[str, str]]:
    """(raw documents, {source: content}) for apply_documents and apply_owner_documents."""
    if isinstance(data, YAMLText):
        return _from_text(str(data))
    if isinstance(data, dict) and "kind" in data:
        return [RawDocument(SOURCE, data)], {SOURCE: json.dumps(data, indent=2, ensure_ascii=False)}
    if isinstance(data, dict) and set(data) == {"content"}:
        if not isinstance(data["content"], str):
            raise InvalidInput("content must be the text of the document",
                               [{"source": SOURCE, "path": "content", "message": "expected a string"}])
        return _from_text(data["content"])
    raise InvalidInput('the body must be a YAML document, {"content": "<yaml>"}, or a JSON document with a kind')


def _from_text(text: str) -> tuple[list[RawDocument], dict[str, str]]:
    raws = parse_body(text, SOURCE)
    return raws, ({raws[0].source: text} if len(raws) == 1 else {})
