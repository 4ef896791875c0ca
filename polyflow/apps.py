from django.apps import AppConfig


class PolyflowConfig(AppConfig):
    name = "polyflow"
    verbose_name = "Polyflow"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.conf import settings

        from polyflow.conf import validate_settings

        # A misspelled or mistyped POLYFLOW key should stop the process at start,
        # not surface at the first scheduler tick.
        validate_settings(getattr(settings, "POLYFLOW", {}))
