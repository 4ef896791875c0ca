"""The embedded database made in one step, from schema.json.

The first command of a fresh POLYFLOW_HOME (``polyflow run``, ``apply``,
``tick``, ``runs``, ``logs``) creates the standalone project's SQLite database
by executing schema.json: the tables, indexes and rows (content types,
permissions, the records of the migrations applied, SQLite's sequences) that
``migrate`` leaves in an empty database. That takes a few milliseconds, where
replaying the migrations of every app takes most of a second.

The migrations stay the reference. schema.json is captured from a database
they made::

    python -m polyflow.standalone.schema > polyflow/standalone/schema.json

and tests/test_migrations.py checks that it is up to date and that a
database made from it and a migrated one are the same. schema.json is used
only where it applies: an empty SQLite database, the standalone project's
INSTALLED_APPS, and the same migration files for every app as when it was
captured (a Django or DRF upgrade may bring new ones). Anywhere else the
migrations run, as ``polyflow manage migrate`` would.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import pkgutil
import sqlite3
import sys
import tempfile
from pathlib import Path

SCHEMA_FILE = Path(__file__).with_name("schema.json")
RECORDS = "django_migrations"
SEQUENCES = "sqlite_sequence"  # SQLite's own: its rows are written last, over the ones the inserts made
_ORDER = ("table", "index", "trigger", "view")  # a table before its indexes


def migration_names(module_name: str) -> set[str]:
    """The migrations of a migrations package, found as Django's loader finds them.

    Neither the package nor its parents are imported: importing
    django.contrib.admin (its forms, its templates) only to list its migrations
    would cost most of what making the database in one step saves. Empty when
    the package is not found (an app without migrations).
    """
    top, *rest = module_name.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return set()
    directories = [path for base in spec.submodule_search_locations
                   if os.path.isdir(path := os.path.join(base, *rest))]
    return {name for _, name, is_package in pkgutil.iter_modules(directories)
            if not is_package and name[0] not in "_~"}


def dump(path: str) -> dict:
    """What a SQLite database holds: its schema in creation order, and every row (the migration
    records without the time they were applied)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        objects = db.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                             "AND name NOT LIKE 'sqlite_%' ORDER BY rowid").fetchall()
        statements = [sql for kind in _ORDER for type_, _, sql in objects if type_ == kind]
        tables = [name for type_, name, _ in objects if type_ == "table"]
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [SEQUENCES]).fetchone():
            tables.append(SEQUENCES)  # last: see create
        rows = {}
        for table in tables:
            columns = [column for _, column, *_ in db.execute(f'PRAGMA table_info("{table}")')]
            if table == RECORDS:
                columns.remove("applied")
            values = db.execute(f'SELECT {_names(columns)} FROM "{table}" ORDER BY rowid').fetchall()
            if values:
                rows[table] = {"columns": columns, "values": [list(row) for row in values]}
    return {"statements": statements, "rows": rows}


def capture(path: str) -> dict:
    """schema.json's content, from a database just migrated with the running project's settings."""
    from django.apps import apps
    from django.conf import settings
    from django.db.migrations.loader import MigrationLoader

    modules = {}
    for config in apps.get_app_configs():
        module, _ = MigrationLoader.migrations_module(config.label)
        if module and migration_names(module):
            modules[config.label] = module
    return {"installed_apps": list(settings.INSTALLED_APPS), "migration_modules": modules, **dump(path)}


def _names(columns: list[str]) -> str:
    return ", ".join(f'"{column}"' for column in columns)


@functools.cache
def _schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def applies(installed_apps: list[str]) -> bool:
    """Whether schema.json is what the migrations on disk would make for these apps."""
    schema = _schema()
    if list(installed_apps) != schema["installed_apps"]:
        return False
    records = schema["rows"][RECORDS]
    app, name = records["columns"].index("app"), records["columns"].index("name")
    recorded: dict[str, set[str]] = {}
    for row in records["values"]:
        recorded.setdefault(row[app], set()).add(row[name])
    modules = schema["migration_modules"]
    return set(modules) == set(recorded) and all(
        migration_names(module) == recorded[label] for label, module in modules.items())


def create(connection) -> bool:
    """Make an empty SQLite database the standalone project's, as `migrate` would; whether it did.

    Nothing is done (False) unless schema.json applies and the database has no
    tables. One transaction: a failure leaves the database empty, and of two
    processes creating it at once (the standalone project's transactions take
    SQLite's write lock at BEGIN) the second finds the tables and leaves them.
    """
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    if connection.vendor != "sqlite" or not applies(settings.INSTALLED_APPS):
        return False
    schema = _schema()
    applied = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.introspection.table_names(cursor):
            return False
        for statement in schema["statements"]:
            cursor.execute(statement)
        for table, data in schema["rows"].items():
            columns, values = data["columns"], data["values"]
            if table == RECORDS:
                columns, values = [*columns, "applied"], [[*row, applied] for row in values]
            if table == SEQUENCES:
                cursor.execute(f'DELETE FROM "{SEQUENCES}"')
            cursor.executemany(f'INSERT INTO "{table}" ({_names(columns)}) '
                               f'VALUES ({", ".join(["%s"] * len(columns))})', values)
    return True


def main() -> None:
    """Migrate an empty SQLite database with the standalone project and print schema.json."""
    with tempfile.TemporaryDirectory(prefix="polyflow-schema-") as home:
        # The standalone project on SQLite in a directory of its own, whatever this shell has set.
        os.environ.pop("DATABASE_URL", None)
        os.environ.update(POLYFLOW_HOME=home, DJANGO_SETTINGS_MODULE="polyflow.standalone.settings")
        import django
        from django.conf import settings
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)
        schema = capture(settings.DATABASES["default"]["NAME"])
    json.dump(schema, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
