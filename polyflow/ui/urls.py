"""The dashboard's pages, mounted at ui/ by polyflow.urls (names: "polyflow:ui:<name>")."""

from django.urls import path

from ..api.urls import SegmentConverter  # noqa: F401 - registers the "seg" path converter
from . import views

app_name = "ui"

P = "<seg:owner>/<seg:project>/"

urlpatterns = [
    path("", views.projects, name="projects"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path(P, views.project, name="project"),
    path(P + "pipelines/<seg:name>/", views.pipeline, name="pipeline"),
    path(P + "runs/<uuid:uuid>/", views.run, name="run"),
    path(P + "runs/<uuid:uuid>/live/", views.run_live, name="run-live"),
]
