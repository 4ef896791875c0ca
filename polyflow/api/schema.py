"""OpenAPI generation (drf-spectacular), kept to Polyflow's own views so that it
works the same inside a host project, whatever the host's settings say."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse

from .serializers.errors import ErrorSerializer

_ERRORS = {
    400: "invalid input: a body or query that is not what this schema says (`errors` says where)",
    401: "no credentials, or a token that is not valid",
    403: "visible, but your role does not allow this",
    404: "no such object, or not visible to you",
    406: "the Accept header asks for something other than JSON",
    409: "the object's state does not allow this now",
    413: "the body is too large",
    415: "a Content-Type this endpoint does not read",
    422: "a body of this schema's shape that the spec language or the pipeline refuses: a document that "
         "does not validate, params or a payload against the inputs, a value that cannot be stored "
         "(`errors` says where), or settings the server's backend lacks to run it (`missing_settings`)",
}
_ALWAYS = (400, 401, 403, 404, 406)
_WITH_BODY = (409, 413, 415, 422)
_UNSET = object()


def doc(*, summary: str = "", description: str = "", request=_UNSET, responses=None, parameters=(),
        operation_id: str = ""):
    """What a view method's operation looks like in the schema (read by AutoSchema below).

    A few of drf-spectacular's @extend_schema arguments, with their meaning.
    @extend_schema itself cannot be used here: on a view method it needs DRF's
    DEFAULT_SCHEMA_CLASS set to drf-spectacular's, a global setting that a host
    project may not have.
    `request=None` documents no body; `responses` maps status codes to serializers.
    """
    def decorate(method):
        method.api_doc = {"summary": summary, "description": description, "request": request,
                          "responses": responses or {}, "parameters": list(parameters),
                          "operation_id": operation_id}
        return method
    return decorate


class AutoSchema(SpectacularAutoSchema):
    """Reads @doc, names tags from the view's `schema_tags`, and documents the
    error shape for the 4xx that every operation may answer."""

    def _doc(self) -> dict:
        return getattr(getattr(self.view, self.method.lower(), None), "api_doc", {})

    def get_tags(self):
        return list(getattr(self.view, "schema_tags", ())) or super().get_tags()

    def get_summary(self):
        return self._doc().get("summary") or super().get_summary()

    def get_description(self):
        # Not the docstrings of base classes, which speak to developers.
        return self._doc().get("description") or ""

    def get_operation_id(self):
        return self._doc().get("operation_id") or super().get_operation_id()

    def get_override_parameters(self):
        return [*super().get_override_parameters(), *self._doc().get("parameters", ())]

    def get_request_serializer(self):
        request = self._doc().get("request", _UNSET)
        return super().get_request_serializer() if request is _UNSET else request

    def get_response_serializers(self):
        responses = self._doc().get("responses")
        if not responses:
            return super().get_response_serializers()
        codes = _ALWAYS + (_WITH_BODY if self.method in ("POST", "PUT", "PATCH", "DELETE") else ())
        errors = {code: OpenApiResponse(ErrorSerializer, description=_ERRORS[code]) for code in codes}
        return {**errors, **responses}


def only_polyflow(endpoints, **kwargs):
    """Preprocessing hook: the schema describes Polyflow's API, not the host's other views."""
    return [endpoint for endpoint in endpoints
            if getattr(endpoint[3], "cls", None) is not None
            and endpoint[3].cls.__module__.startswith("polyflow.api.")]


def what_the_api_enforces(result, generator, request, public):
    """Postprocessing hook: constraints the views enforce that the serializers cannot say.

    Request bodies take no field they do not declare (a 400 names it: views/base.py), and
    `page`/`page_size` are whole numbers of at least 1 (pagination.py).
    """
    for name, component in (result.get("components") or {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object" and "additionalProperties" not in component:
            component["additionalProperties"] = False
    for path in (result.get("paths") or {}).values():
        for operation in path.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") == "query" and parameter.get("name") in ("page", "page_size"):
                    parameter.setdefault("schema", {})["minimum"] = 1
            body = operation.get("requestBody")
            if body and any(_needs_content(media.get("schema") or {}) for media in body.get("content", {}).values()):
                body["required"] = True  # a document body: without one there is nothing to apply
    return result


def _needs_content(schema: dict) -> bool:
    return bool(schema.get("required") or schema.get("anyOf"))
