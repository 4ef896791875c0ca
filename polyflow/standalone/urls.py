from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

# Static files (the admin's, Swagger UI's for api/v1/docs/, the dashboard's) are
# not routed here: WhiteNoise's middleware answers them before any URL is
# resolved (polyflow/standalone/settings.py). A host project serves its own.
urlpatterns = [
    # The site's root is the dashboard (`polyflow server`'s banner names it).
    path("", RedirectView.as_view(pattern_name="polyflow:ui:projects", permanent=False), name="home"),
    path("admin/", admin.site.urls),
    path("", include("polyflow.urls")),
]
