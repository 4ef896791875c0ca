"""A host project that mounts Polyflow under a prefix of its own, for tests/ui/test_views.py."""

from django.urls import include, path

urlpatterns = [path("ml/", include("polyflow.urls"))]
