"""The OpenAPI schema, Swagger UI, and the answer for paths that are no endpoint."""

from __future__ import annotations

from django.templatetags.static import static
from django.urls import reverse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from ... import __version__
from ...exceptions import NotFound
from ..classes import FromSettings
from ..errors import exception_handler
from ..schema import AutoSchema, doc


class IndexLinksSerializer(serializers.Serializer):
    schema = serializers.URLField(help_text="the OpenAPI schema (YAML; ?format=json for JSON)")
    docs = serializers.URLField(help_text="Swagger UI")
    projects = serializers.URLField(allow_null=True, help_text="your projects; null without credentials")


class IndexSerializer(serializers.Serializer):
    version = serializers.CharField(help_text="Polyflow's version")
    api = serializers.CharField(help_text="the API's version")
    user = serializers.CharField(allow_null=True, help_text="who you are; null without credentials")
    links = IndexLinksSerializer()

SCHEMA_SETTINGS = {
    "TITLE": "Polyflow API",
    "DESCRIPTION": "Container-native ML pipelines: projects, pipelines, runs, actions and events. "
                   "Errors have one shape: `{code, message, errors: [{source, path, message}]}`.",
    "VERSION": __version__,
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["polyflow.api.schema.only_polyflow"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "polyflow.api.schema.what_the_api_enforces"],
    # Two `status` fields with different choices: name their enums.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "polyflow.statuses.RunStatus.choices",
        "OpStatusEnum": "polyflow.statuses.OpStatus.choices",
    },
}


class SchemaView(SpectacularAPIView):
    """Public: the schema describes the API, not anybody's data."""

    authentication_classes = []
    permission_classes = [AllowAny]
    schema = None  # not in itself
    custom_settings = SCHEMA_SETTINGS

    def get_exception_handler(self):
        return exception_handler


class DocsView(SpectacularSwaggerView):
    authentication_classes = []
    permission_classes = [AllowAny]
    schema = None
    url_name = "polyflow:api-schema"
    title = "Polyflow API"

    # Swagger UI from the drf-spectacular-sidecar package, whatever the host's
    # SPECTACULAR_SETTINGS say: no CDN.
    @staticmethod
    def _swagger_ui_resource(filename):
        return static(f"drf_spectacular_sidecar/swagger-ui-dist/{filename}")

    @staticmethod
    def _swagger_ui_favicon():
        return static("drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png")

    def get_exception_handler(self):
        return exception_handler


class ApiIndex(APIView):
    """GET /api/v1/: where things are. Public, as the schema is; the caller's projects are named
    when the request carries credentials."""

    authentication_classes = FromSettings("AUTHENTICATION_CLASSES")
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    schema = AutoSchema()
    schema_tags = ["api"]

    def get_exception_handler(self):
        return exception_handler

    @doc(summary="The API's index: its version and where its schema, docs and your projects are",
         responses={200: IndexSerializer})
    def get(self, request):
        user = request.user
        signed_in = bool(user and user.is_authenticated)
        links = {
            "schema": request.build_absolute_uri(reverse("polyflow:api-schema")),
            "docs": request.build_absolute_uri(reverse("polyflow:api-docs")),
            "projects": request.build_absolute_uri(reverse("polyflow:api-projects",
                                                           kwargs={"owner": user.get_username()}))
            if signed_in else None,
        }
        return Response(IndexSerializer({"version": __version__, "api": "v1", "user": user.get_username()
                                         if signed_in else None, "links": links}).data)


class NoSuchEndpoint(APIView):
    """Any path under the API that matches no endpoint: a 404 in the API's error shape, not Django's HTML page."""

    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    schema = None

    def get_exception_handler(self):
        return exception_handler

    def answer(self, request, *args, **kwargs):
        hint = "" if request.path.endswith("/") else " (API paths end with '/')"
        raise NotFound(f"no API endpoint at {request.path}{hint}")

    get = post = put = patch = delete = head = options = answer
