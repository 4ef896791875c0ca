from django.contrib import admin
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import include, path, re_path

urlpatterns = [
    path("admin/", admin.site.urls),
    # The standalone project is one process on one machine, with no web server
    # in front: it serves the few static files (the admin's, and Swagger UI's
    # from drf-spectacular-sidecar for api/v1/docs/) itself, from the installed
    # packages. A host project serves static files its own way.
    re_path(r"^static/(?P<path>.*)$", serve_static, {"insecure": True}),
    path("", include("polyflow.urls")),
]
