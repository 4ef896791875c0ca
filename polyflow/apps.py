from django.apps import AppConfig


class PolyflowConfig(AppConfig):
    name = "polyflow"
    verbose_name = "Polyflow"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.conf import settings

        # django.test.signals re-exports this same signal; importing it from core keeps
        # django.test out of production processes.
        from django.core.signals import setting_changed

        from polyflow import checks  # noqa: F401 - registers what a host project must give Polyflow
        from polyflow.conf import reload_polyflow_settings, validate_settings

        # A misspelled or mistyped POLYFLOW key should stop the process at start,
        # not surface at the first scheduler tick.
        validate_settings(getattr(settings, "POLYFLOW", {}))
        # override_settings(POLYFLOW=...) in tests: the cached values are read again.
        setting_changed.connect(reload_polyflow_settings, dispatch_uid="polyflow.conf.reload")
