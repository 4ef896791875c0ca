"""The API's one error shape, for every 4xx:

    {"code": "not_found", "message": "run 'x' not found",
     "errors": [{"source": "body", "path": "ops[1].template.action", "message": "..."}]}

`code` is machine-readable, `message` is for people, `errors` lists each
problem of invalid input with where it is (empty for other errors).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from ..exceptions import InvalidInput, PolyflowError
from ..spec.errors import format_path
from .parsers import PayloadTooLarge

# DRF's key for errors of the object as a whole: the path of the object itself.
_WHOLE = {"non_field_errors", "detail"}


def error_body(code: str, message: str, errors=()) -> dict:
    return {"code": code, "message": message, "errors": list(errors)}


def flatten_validation(detail, source: str, prefix: tuple = ()) -> list[dict]:
    """DRF's nested ValidationError detail as [{"source", "path", "message"}]."""
    if isinstance(detail, Mapping):
        items = []
        for key, value in detail.items():
            part = () if key in _WHOLE else (key if isinstance(key, int) else str(key),)
            items.extend(flatten_validation(value, source, prefix + part))
        return items
    if isinstance(detail, list | tuple):
        items = []
        for index, value in enumerate(detail):
            # A list of messages belongs to its field; a list of objects (ListField
            # of serializers) is indexed.
            nested = isinstance(value, Mapping | list | tuple)
            items.extend(flatten_validation(value, source, prefix + ((index,) if nested else ())))
        return items
    return [{"source": source, "path": format_path(prefix), "message": str(detail)}]


def summary(errors: list[dict], what: str) -> str:
    if len(errors) == 1:
        error = errors[0]
        return f"{error['path']}: {error['message']}" if error["path"] else error["message"]
    return f"{len(errors)} errors in the {what}"


def invalid_query(error: serializers.ValidationError) -> InvalidInput:
    """A query-string serializer's errors as a 400 that points into the query."""
    errors = flatten_validation(error.detail, "query")
    return InvalidInput(summary(errors, "query string"), errors)


def exception_handler(exc, context):
    """DRF's handler (status codes, headers such as WWW-Authenticate, rollback), then our shape."""
    if isinstance(exc, PolyflowError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.errors), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        # DRF reads JSON bodies through request.body, which applies DATA_UPLOAD_MAX_MEMORY_SIZE.
        exc = PayloadTooLarge(f"the request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a 500, which no input should cause
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_validation(exc.detail, "body")
        response.data = error_body("invalid", summary(errors, "body"), errors)
    else:
        detail = exc.detail
        code = getattr(detail, "code", None) or exc.default_code
        response.data = error_body(str(code), str(detail))
    return response
