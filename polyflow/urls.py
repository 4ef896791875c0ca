"""Polyflow's URLs, for a host project to mount with ``include("polyflow.urls")``."""

from django.urls import include, path

from polyflow import views

app_name = "polyflow"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("api/v1/", include("polyflow.api.urls")),
    path("ui/", include("polyflow.ui.urls")),
]
