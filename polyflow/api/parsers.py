"""Request body parsers.

YAML bodies are not parsed here: the raw text goes to the service, which
parses and validates it (with the spec's strict loader and its error messages)
and keeps it as the document's `content`. JSON bodies are parsed here, and
values that the database could not store are refused with a 400 before any
view sees them.
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser, JSONParser

from ..conf import polyflow_settings
from ..exceptions import Unprocessable
from ..spec.errors import format_path
from ..spec.limits import over_limit
from ..spec.storable import unstorable_value


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "the request body is too large"
    default_code = "too_large"


class YAMLText(str):
    """A body that arrived as YAML: text for the service to parse."""


def _read_body(stream) -> bytes:
    # The parsers read the raw stream, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check
    # (which guards request.body): Polyflow's own limit is applied here, never reading more.
    limit = polyflow_settings.MAX_REQUEST_BYTES
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(over_limit("the request body is too large", limit, "MAX_REQUEST_BYTES", "bytes"))
    return data


def _decode(data: bytes, parser_context) -> str:
    encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
    try:
        return data.decode(encoding)
    except LookupError:
        raise ParseError(f"unknown charset {encoding!r}") from None
    except UnicodeDecodeError as error:
        raise ParseError(f"the body is not valid {encoding}: {error.reason} at byte {error.start}") from None


class YAMLParser(BaseParser):
    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        return YAMLText(_decode(_read_body(stream), parser_context))


class XYAMLParser(YAMLParser):
    media_type = "application/x-yaml"


class TextYAMLParser(YAMLParser):
    media_type = "text/yaml"


YAML_PARSERS = [YAMLParser, XYAMLParser, TextYAMLParser]
YAML_MEDIA_TYPES = [parser.media_type for parser in YAML_PARSERS]


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _refuse_duplicates(pairs: list[tuple[str, object]]) -> dict:
    """An object that gives a key twice is refused: which of the two was meant is not known."""
    data = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"duplicate key {key!r} in an object")
        data[key] = value
    return data


class StrictJSONParser(JSONParser):
    """JSON that the database can store, or a 400 that says where it is not."""

    def parse(self, stream, media_type=None, parser_context=None):
        text = _decode(_read_body(stream), parser_context)
        try:
            data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_refuse_duplicates)
        except RecursionError:
            raise ParseError("JSON parse error: nested too deeply") from None
        except ValueError as error:  # JSONDecodeError, and int() refusing more than 4300 digits
            raise ParseError(f"JSON parse error: {error}") from None
        # Strings are bounded where they are read (a document's by the spec's checks, params by
        # the run's): `{"content": ...}` holds a whole document.
        problem = unstorable_value(data, polyflow_settings.MAX_NESTING)
        if problem:
            # Valid JSON of the schema's shape (no JSON Schema rules out a NUL or a lone
            # surrogate), that the database could not store or a limit refuses: a 422.
            path = format_path(problem[0])
            raise Unprocessable(f"{path}: {problem[1]}" if path else problem[1],
                                [{"source": "body", "path": path, "message": problem[1]}])
        return data


class BinaryStream:
    """A body that is not read here: the view streams it (a build context, up to its own limit)."""

    def __init__(self, stream):
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size) if self.stream is not None else b""


class OctetStreamParser(BaseParser):
    media_type = "application/octet-stream"

    def parse(self, stream, media_type=None, parser_context=None):
        return BinaryStream(stream)


class GzipParser(OctetStreamParser):
    media_type = "application/gzip"


BINARY_PARSERS = [OctetStreamParser, GzipParser]
