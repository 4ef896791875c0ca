import contextlib
import gc
import importlib
import os
import sys
import warnings

import click

STANDALONE_SETTINGS = "polyflow.standalone.settings"


def use_standalone_settings_by_default() -> None:
    """Point Django at the standalone project unless the caller chose a settings module.

    A host project's settings (DJANGO_SETTINGS_MODULE or `polyflow --settings`) are
    found from the current directory, as `manage.py` finds them from its own: the
    `polyflow` script's sys.path starts with its bin directory, not with the cwd.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", STANDALONE_SETTINGS)
    if not is_standalone():
        cwd = os.getcwd()
        if cwd not in sys.path and "" not in sys.path:
            sys.path.insert(0, cwd)


def import_settings_module() -> None:
    """Import the settings module now, so that one that cannot be is one line (exit 1), not a traceback."""
    from polyflow.extras import MissingExtra

    name = os.environ["DJANGO_SETTINGS_MODULE"]
    try:
        importlib.import_module(name)
    except MissingExtra as error:  # an ImportError too, that already says what to install
        raise click.ClickException(str(error)) from None
    except ImportError as error:
        where = ""
        top = name.split(".")[0]
        if isinstance(error, ModuleNotFoundError) and error.name == top:  # not found at all, not a part of it
            where = (f" (looked for from {os.getcwd()} and sys.path: run polyflow from the directory that holds "
                     f"{top}, as manage.py, or add that directory to PYTHONPATH)")
        raise click.ClickException(
            f"cannot import the settings module {name!r} (DJANGO_SETTINGS_MODULE or --settings): {error}{where}"
        ) from None
    except SyntaxError as error:
        raise click.ClickException(f"the settings module {name!r} is not valid Python: {error}") from None


def is_standalone() -> bool:
    """Whether the command uses the standalone project (not a host project's settings)."""
    return os.environ.get("DJANGO_SETTINGS_MODULE", STANDALONE_SETTINGS) == STANDALONE_SETTINGS


@contextlib.contextmanager
def configuration_errors_as_usage_errors():
    """Show a bad setting (``POLYFLOW_MAX_CONCURRENCY=abc``) as one line, not a traceback."""
    from django.core.exceptions import ImproperlyConfigured

    try:
        yield
    except ImproperlyConfigured as exc:
        raise click.ClickException(str(exc)) from exc


def setup_django(apps: list[str] | None = None) -> None:
    """Make Django ready for a command that uses the ORM.

    The standalone settings create ``POLYFLOW_HOME`` themselves when they need it
    (SQLite, the generated secret key), so the WSGI entry point and plain
    ``django-admin --settings=polyflow.standalone.settings`` work as well.

    `apps`: load only these of the standalone project's apps (a host project's
    settings are left as they are). Set in this process only, before Django
    reads them: the environment that ops and `polyflow manage` inherit still
    names the whole standalone project.
    """
    standalone = is_standalone()
    use_standalone_settings_by_default()
    import django
    from django.apps import apps as registry

    with configuration_errors_as_usage_errors():
        import_settings_module()
        if apps is not None and standalone and not registry.ready:
            from django.conf import settings

            settings.INSTALLED_APPS = apps
        django.setup()


@contextlib.contextmanager
def database_errors():
    """Show a database that cannot be reached or used as one line, not a traceback."""
    from django.db import DatabaseError

    try:
        yield
    except DatabaseError as error:
        raise click.ClickException(f"database error: {str(error).strip()}") from None


@contextlib.contextmanager
def start_up():
    """The cyclic garbage collector paused while a command starts, then spared what start-up made.

    Start-up imports modules and builds classes (Django's models above all):
    hundreds of thousands of objects, nearly all kept for the life of the
    process. Collecting while they are made finds nothing to free and costs a
    tenth of `polyflow run`'s start; so does the first collection after, which
    would go over all of them at once. They are frozen instead (gc.freeze: left
    out of every later collection), and the collector resumes for what the
    command makes next. Reference counting frees everything as usual. Nested
    blocks leave it to the outermost.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def setup_database() -> None:
    """`setup_django()`, then make sure the database has Polyflow's tables.

    With the standalone project, a database with no Polyflow tables yet is set
    up first (as `polyflow manage migrate` would), so that a first command on a
    fresh POLYFLOW_HOME works; a database with some Polyflow migrations missing
    is never migrated behind the user's back: the command fails and says so.

    The common cases are settled before Django is set up, with one query: a
    database that has every Polyflow migration, and an empty SQLite database
    of the standalone project, made in one step from the schema the migrations
    make (polyflow/standalone/schema.py). The standalone project then loads
    only LOCAL_APPS. Anything else (a fresh PostgreSQL database, migrations
    missing) goes through Django's migration machinery, with every app.
    """
    with start_up():
        _setup_database()


def _setup_database() -> None:
    from polyflow.standalone import schema

    standalone = is_standalone()
    use_standalone_settings_by_default()
    with configuration_errors_as_usage_errors():
        import_settings_module()
    from django.db import connection

    with configuration_errors_as_usage_errors(), database_errors(), warnings.catch_warnings():
        # Django warns of queries made before its app registry is ready (meant for
        # AppConfig.ready()); these are deliberate: they choose the apps to load.
        warnings.filterwarnings("ignore", "Accessing the database during app initialization", RuntimeWarning)
        ready = _has_every_polyflow_migration(connection) or (standalone and schema.create(connection))
    if ready:
        from polyflow.standalone.components import LOCAL_APPS

        setup_django(LOCAL_APPS)
        return
    setup_django()
    with database_errors():
        _ensure_database(standalone)


def _has_every_polyflow_migration(connection) -> bool:
    """Whether every migration file of Polyflow is recorded as applied (read without Django's
    app registry, which is not set up yet, nor its migration graph, which takes long to load)."""
    from django.conf import settings

    from polyflow.standalone.schema import RECORDS, migration_names

    module = settings.MIGRATION_MODULES.get("polyflow", "polyflow.migrations")  # None: no migrations
    with connection.cursor() as cursor:
        if RECORDS not in connection.introspection.table_names(cursor):
            return False
        cursor.execute(f"SELECT name FROM {RECORDS} WHERE app = %s", ["polyflow"])
        applied = {name for (name,) in cursor.fetchall()}
    return module is None or migration_names(module) <= applied


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
def input_refused(nothing_done: str):
    """A service's refusal of params or a payload as one `path: message` line per problem on
    stderr, then `nothing_done` ("nothing was triggered."), exit status 1; other refusals pass."""
    from polyflow.exceptions import PolyflowError

    try:
        yield
    except PolyflowError as error:
        if not error.errors:
            raise
        for item in error.errors:
            click.echo(": ".join(part for part in (item.get("path"), item.get("message")) if part), err=True)
        click.echo(nothing_done, err=True)
        raise SystemExit(1) from None


@contextlib.contextmanager
def command_errors():
    """A service's refusal (not found, a conflict) or a database error as `Error: message`, exit status 1."""
    from polyflow.exceptions import PolyflowError

    with database_errors():
        try:
            yield
        except PolyflowError as error:
            raise click.ClickException(error.message) from None
