from django.contrib import admin
from django.urls import include, path

# Static files (the admin's, Swagger UI's for api/v1/docs/, the dashboard's) are
# not routed here: WhiteNoise's middleware answers them before any URL is
# resolved (polyflow/standalone/settings.py). A host project serves its own.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("polyflow.urls")),
]
