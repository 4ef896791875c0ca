import contextlib
import os

import click
from django.core.exceptions import ImproperlyConfigured

STANDALONE_SETTINGS = "polyflow.standalone.settings"


def use_standalone_settings_by_default() -> None:
    """Point Django at the standalone project unless the caller chose a settings module."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", STANDALONE_SETTINGS)


@contextlib.contextmanager
def configuration_errors_as_usage_errors():
    """Show a bad setting (``POLYFLOW_MAX_CONCURRENCY=abc``) as one line, not a traceback."""
    try:
        yield
    except ImproperlyConfigured as exc:
        raise click.ClickException(str(exc)) from exc


def setup_django() -> None:
    """Make Django ready for a command that uses the ORM.

    The standalone settings create ``POLYFLOW_HOME`` themselves when they need it
    (SQLite, the generated secret key), so the WSGI entry point and plain
    ``django-admin --settings=polyflow.standalone.settings`` work as well.
    """
    use_standalone_settings_by_default()
    import django

    with configuration_errors_as_usage_errors():
        django.setup()
