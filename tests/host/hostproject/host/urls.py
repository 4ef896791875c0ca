from django.contrib import admin
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import include, path, re_path

from . import views

urlpatterns = [
    path("platform/whoami/", views.WhoAmI.as_view()),
    path("platform/admin/", admin.site.urls),
    # Polyflow under a prefix of the host's choosing: every URL it makes is reversed.
    path("platform/polyflow/", include("polyflow.urls")),
    # This test host serves its static files itself (as the standalone project does);
    # a real one serves `collectstatic`'s STATIC_ROOT from its web server or whitenoise.
    re_path(r"^platform/static/(?P<path>.*)$", serve_static, {"insecure": True}),
]
