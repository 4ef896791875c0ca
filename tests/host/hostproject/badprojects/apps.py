from django.apps import AppConfig


class BadProjectsConfig(AppConfig):
    name = "badprojects"
    default_auto_field = "django.db.models.BigAutoField"
