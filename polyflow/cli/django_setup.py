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


@contextlib.contextmanager
def database_errors():
    """Show a database that cannot be reached or used as one line, not a traceback."""
    from django.db import DatabaseError

    try:
        yield
    except DatabaseError as error:
        raise click.ClickException(f"database error: {str(error).strip()}") from None


def setup_database() -> None:
    """`setup_django()`, then make sure the database has Polyflow's tables.

    With the standalone project, a database with no Polyflow tables yet is set
    up first (as `polyflow manage migrate` would), so that a first command on a
    fresh POLYFLOW_HOME works; a database with some Polyflow migrations missing
    is never migrated behind the user's back: the command fails and says so.
    """
    standalone = os.environ.get("DJANGO_SETTINGS_MODULE", STANDALONE_SETTINGS) == STANDALONE_SETTINGS
    setup_django()
    with database_errors():
        _ensure_database(standalone)


def _ensure_database(standalone: bool) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    targets = [node for node in executor.loader.graph.leaf_nodes() if node[0] == "polyflow"]
    pending = executor.migration_plan(targets)
    if not pending:
        return
    fresh = not any(app == "polyflow" for app, _ in executor.loader.applied_migrations)
    if fresh and standalone:
        call_command("migrate", verbosity=0, interactive=False)
        return
    count = len(pending)
    raise click.ClickException(
        f"the database is missing {count} migration{'s' if count != 1 else ''}: run `polyflow manage migrate` "
        "(or your project's `manage.py migrate`) first"
    )


@contextlib.contextmanager
def command_errors():
    """A service's refusal (not found, a conflict) or a database error as `Error: message`, exit status 1."""
    from polyflow.exceptions import PolyflowError

    with database_errors():
        try:
            yield
        except PolyflowError as error:
            raise click.ClickException(error.message) from None
