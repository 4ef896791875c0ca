"""The dashboard's pages, mounted at ui/ by polyflow.urls (names: "polyflow:ui:<name>")."""

from django.urls import path, re_path

from ..api.urls import SegmentConverter  # noqa: F401 - registers the "seg" path converter
from . import views

app_name = "ui"

P = "<seg:owner>/<seg:project>/"

urlpatterns = [
    path("", views.projects, name="projects"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("runs/", views.all_runs, name="all-runs"),
    # Owner-level pages come before {owner}/{project}/, as in the API: their names are reserved.
    path("<seg:owner>/actions/", views.actions, name="actions"),
    path("<seg:owner>/actions/<seg:name>/", views.action, name="action"),
    path("<seg:owner>/events/", views.events, name="events"),
    path("<seg:owner>/events/<seg:name>/", views.event, name="event"),
    path(P, views.project, name="project"),
    path(P + "runs/", views.project_runs, name="runs"),
    path(P + "pipelines/<seg:name>/", views.pipeline, name="pipeline"),
    path(P + "pipelines/<seg:name>/history/", views.pipeline_history, name="pipeline-history"),
    path(P + "runs/<uuid:uuid>/", views.run, name="run"),
    path(P + "runs/<uuid:uuid>/live/", views.run_live, name="run-live"),
    path(P + "runs/<uuid:uuid>/ops/<seg:op>/", views.run_op, name="run-op"),
    re_path(r"^(?P<rest>.*)$", views.not_found, name="not-found"),  # the dashboard's own 404 page
]
