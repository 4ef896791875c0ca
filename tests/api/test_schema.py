"""The OpenAPI schema (drf-spectacular) and Swagger UI (served from drf-spectacular-sidecar)."""

import re

import pytest
import requests
from django.test import override_settings
from drf_spectacular.drainage import GENERATOR_STATS, reset_generator_stats
from drf_spectacular.validation import validate_schema

from tests.api.test_permissions import ENDPOINTS


@pytest.fixture
def schema(client):
    reset_generator_stats()
    response = client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    assert not GENERATOR_STATS, "drf-spectacular warned while generating the schema"
    return response.json()


def test_schema_is_valid_openapi_3(schema):
    validate_schema(schema)
    assert schema["info"]["title"] == "Polyflow API"


P, RUN = "{owner}/{project}/", "{owner}/{project}/runs/{uuid}/"
EXPECTED = {
    "": {"get"},
    "token/": {"post"},
    "runs/": {"get"},
    "{owner}/projects/": {"get", "post"},
    P: {"get", "patch", "delete"},
    P + "members/": {"get", "post"},
    P + "members/{user}/": {"get", "patch", "delete"},
    P + "contexts/": {"post"},
    P + "pipelines/": {"get", "post"},
    P + "pipelines/{name}/": {"get", "put", "delete"},
    P + "pipelines/{name}/pause/": {"post"},
    P + "pipelines/{name}/resume/": {"post"},
    P + "pipelines/{name}/runs/": {"get", "post"},
    P + "pipelines/{name}/backfill/": {"post"},
    P + "pipelines/{name}/grid/": {"get"},
    P + "pipelines/{name}/export/": {"get"},
    P + "pipelines/{name}/specs/": {"get"},
    P + "runs/": {"get"},
    RUN: {"get"},
    RUN + "stop/": {"post"},
    RUN + "retry/": {"post"},
    RUN + "statuses/": {"get"},
    RUN + "op-statuses/": {"get"},
    RUN + "ops/{op}/": {"get"},
    RUN + "ops/{op}/statuses/": {"get"},
    RUN + "ops/{op}/stop/": {"post"},
    RUN + "ops/{op}/retry/": {"post"},
    RUN + "ops/{op}/mark/": {"post"},
    RUN + "ops/{op}/logs/": {"get"},
    RUN + "ops/{op}/metrics/": {"get"},
    RUN + "ops/{op}/trials/{index}/": {"get"},
    RUN + "ops/{op}/trials/{index}/metrics/": {"get"},
    RUN + "ops/{op}/trials/{index}/logs/": {"get"},
    RUN + "artifacts/": {"get"},
    RUN + "ops/{op}/artifacts/": {"get"},
    RUN + "ops/{op}/artifacts/{name}/download/": {"get"},
    RUN + "ops/{op}/trials/{index}/artifacts/": {"get"},
    RUN + "ops/{op}/trials/{index}/artifacts/{name}/download/": {"get"},
    "{owner}/actions/": {"get", "post"},
    "{owner}/actions/{name}/": {"get"},
    "{owner}/events/": {"get", "post"},
    "{owner}/events/{name}/fire/": {"post"},
}


def test_every_endpoint_is_described(schema):
    described = {path: set(operations) for path, operations in schema["paths"].items()}
    assert described == {"/api/v1/" + path: methods for path, methods in EXPECTED.items()}
    # And the permission matrix covers every one of them.
    covered = {(method.lower(), path) for method, path, *_ in ENDPOINTS}
    # {owner}/projects/ is tested apart, and so are the index (public: tests/api/test_marks_backfill_grid.py),
    # the token endpoint and the runs of every project (per user: tests/api/test_search_and_tokens.py).
    assert len(covered) == sum(map(len, EXPECTED.values())) - 5


def test_document_bodies_and_errors_are_described(schema):
    create = schema["paths"]["/api/v1/{owner}/{project}/pipelines/"]["post"]
    assert set(create["requestBody"]["content"]) == {"application/json", "application/x-yaml", "application/yaml",
                                                     "text/yaml"}
    assert {"201", "400", "401", "403", "404", "409", "415"} <= set(create["responses"])
    assert create["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    listing = schema["paths"]["/api/v1/{owner}/{project}/runs/"]["get"]
    assert {parameter["name"] for parameter in listing["parameters"]} >= {
        "pipeline", "status", "created_after", "created_before", "ordering", "page", "page_size"}
    assert schema["components"]["schemas"]["PaginatedRunList"]["properties"].keys() >= {
        "count", "next", "previous", "results"}
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}


def test_swagger_ui_is_served_without_a_cdn(live_server):
    page = requests.get(live_server.url + "/api/v1/docs/", timeout=10)
    assert page.status_code == 200
    assert "/api/v1/schema/" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(asset.startswith("/static/drf_spectacular_sidecar/") for asset in assets), assets
    for asset in assets:
        assert requests.get(live_server.url + asset, timeout=10).status_code == 200, asset


def test_schema_and_docs_need_no_credentials(live_server):
    response = requests.get(live_server.url + "/api/v1/schema/", timeout=10)
    assert response.status_code == 200
    assert response.text.startswith("openapi: 3")


# As the standalone settings have it: WhiteNoise serves the apps' static directories.
@override_settings(WHITENOISE_USE_FINDERS=True)
def test_the_standalone_project_serves_the_static_files_itself(client):
    """No web server in front of the standalone project: Swagger UI's files come from the installed package."""
    response = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)
    assert client.get("/static/../settings.py").status_code in (400, 404)  # no way out of the static dirs
