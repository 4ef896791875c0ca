from __future__ import annotations

from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.metadata import SimpleMetadata
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from ...access import Access
from ...selectors.projects import get_project
from ...spec.errors import choices_text, suggest
from ..classes import FromSettings
from ..errors import exception_handler, invalid_query
from ..pagination import Pagination
from ..parsers import StrictJSONParser
from ..schema import AutoSchema


class BasicMetadata(SimpleMetadata):
    """OPTIONS without the form descriptions (`actions`), which would build serializers our views never use."""

    def determine_actions(self, request, view):
        return {}


class ApiView(GenericAPIView):
    """What every endpoint shares. Set here rather than in REST_FRAMEWORK so that
    it holds inside a host project whatever the host's defaults are (a host whose
    DRF default is Basic alone must not turn valid tokens away); who may call the
    API comes from POLYFLOW's AUTHENTICATION_CLASSES and PERMISSION_CLASSES."""

    authentication_classes = FromSettings("AUTHENTICATION_CLASSES")
    permission_classes = FromSettings("PERMISSION_CLASSES")
    renderer_classes = [JSONRenderer]
    parser_classes = [StrictJSONParser]
    pagination_class = Pagination
    metadata_class = BasicMetadata
    schema = AutoSchema()

    def get_exception_handler(self):
        return exception_handler

    def project(self, need: Access = Access.READ):
        return get_project(self.request.user, self.kwargs["owner"], self.kwargs["project"], need=need)

    def query(self, serializer_class) -> dict:
        """The query string, validated; a 400 pointing into the query when it is not valid."""
        serializer = serializer_class(data=self.request.query_params)
        try:
            # DRF reads an empty query value as "not given" (`?pipeline=` would list every run):
            # an empty value is refused instead, as the schema says (minLength 1).
            empty = {name: "an empty value: give one, or leave the parameter out"
                     for name, field in serializer.fields.items()
                     if not getattr(field, "allow_blank", False) and "" in self.request.query_params.getlist(name)}
            if empty:
                raise serializers.ValidationError(empty)
            serializer.is_valid(raise_exception=True)
        except serializers.ValidationError as error:
            raise invalid_query(error) from None
        return serializer.validated_data

    def body(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        _refuse_unknown_fields(serializer, self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def paginated(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True, context={"request": self.request}).data)


def _refuse_unknown_fields(serializer, data) -> None:
    """A field the endpoint does not take is a 400 naming it, not silently dropped: `{"parms": ...}`
    would otherwise trigger a run with the default params."""
    if not isinstance(data, dict):
        return  # the serializer itself says what the body should be
    known = [name for name, field in serializer.fields.items() if not field.read_only]
    unknown = [name for name in data if name not in known]
    if unknown:
        raise serializers.ValidationError({
            str(name): f"unknown field {str(name)!r}{suggest(str(name), known)} (fields: {choices_text(known)})"
            for name in unknown})
