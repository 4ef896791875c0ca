"""Polyflow's URLs, for a host project to mount with ``include("polyflow.urls")``."""

from django.urls import include, path

from polyflow import views
from polyflow.telemetry import views as telemetry_views

app_name = "polyflow"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", telemetry_views.readyz, name="readyz"),
    path("metrics", telemetry_views.metrics, name="metrics"),
    path("api/v1/", include("polyflow.api.urls")),
    path("ui/", include("polyflow.ui.urls")),
]
