import contextlib
import json
import sqlite3
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from polyflow.standalone import schema
from tests.conftest import polyflow, run_python


@pytest.mark.django_db
def test_migrations_match_the_models():
    out = StringIO()
    try:
        call_command("makemigrations", "polyflow", "--check", "--dry-run", stdout=out)
    except SystemExit:
        pytest.fail(
            "The models have changes without a migration; run "
            "`polyflow manage makemigrations polyflow`.\n" + out.getvalue()
        )


# The embedded database: made in one step from schema.json, the migrations stay the reference ---------


def _home(env, tmp_path, name: str) -> dict[str, str]:
    return {**env, "POLYFLOW_HOME": str(tmp_path / name)}


def _sqlite(env) -> str:
    return str(Path(env["POLYFLOW_HOME"]) / "polyflow.sqlite3")


def describe(path: str) -> dict:
    """A SQLite database's tables (columns with type, nullability, default and key; indexes with
    their columns and uniqueness; foreign keys), every schema object's SQL, and its rows."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = {}
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
            indexes = {name: (unique, origin, partial, [column for _, _, column in db.execute(
                           f'PRAGMA index_info("{name}")')])
                       for _, name, unique, origin, partial in db.execute(f'PRAGMA index_list("{table}")')}
            tables[table] = {
                "columns": db.execute(f'PRAGMA table_xinfo("{table}")').fetchall(),
                "indexes": indexes,
                "foreign_keys": sorted(db.execute(f'PRAGMA foreign_key_list("{table}")').fetchall()),
            }
        objects = sorted(db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall(),
                         key=lambda row: (row[0], row[1]))
    return {"tables": tables, "objects": objects, **schema.dump(path)}


def applied_times(path: str) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {applied for (applied,) in db.execute("SELECT applied FROM django_migrations")}


def test_schema_json_is_what_the_migrations_make_now(clean_env):
    result = run_python("-m", "polyflow.standalone.schema", env=clean_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(schema.SCHEMA_FILE.read_text()), (
        "polyflow/standalone/schema.json is out of date: "
        "python -m polyflow.standalone.schema > polyflow/standalone/schema.json")


def test_a_fresh_embedded_database_is_the_one_the_migrations_make(clean_env, tmp_path):
    made, migrated = _home(clean_env, tmp_path, "made"), _home(clean_env, tmp_path, "migrated")
    assert polyflow("runs", "list", env=made).stdout == "no runs found\n"
    result = polyflow("manage", "migrate", "--no-input", env=migrated)
    assert result.returncode == 0, result.stderr

    # Made in one step: every migration recorded at one instant (`migrate` records each as it goes).
    assert len(applied_times(_sqlite(made))) == 1
    assert len(applied_times(_sqlite(migrated))) > 1
    assert describe(_sqlite(made)) == describe(_sqlite(migrated))

    # Django sees a database with every migration applied and the models matching them.
    for check in (["migrate", "--check"], ["makemigrations", "--check", "--dry-run"]):
        result = polyflow("manage", *check, env=made)
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_database_with_migrations_missing_is_not_migrated_behind_your_back(clean_env, tmp_path):
    env = _home(clean_env, tmp_path, "old")
    # All but the newest migration (whichever it is, as migrations are added).
    second_newest = sorted(path.stem for path in (Path(schema.__file__).parents[1] / "migrations").glob("0*.py"))[-2]
    result = polyflow("manage", "migrate", "--no-input", "polyflow", second_newest, env=env)
    assert result.returncode == 0, result.stderr
    before = describe(_sqlite(env))
    result = polyflow("runs", "list", env=env)
    assert result.returncode == 1
    assert result.stderr == ("Error: the database is missing 1 migration: run `polyflow manage migrate` "
                             "(or your project's `manage.py migrate`) first\n")
    assert describe(_sqlite(env)) == before


def test_schema_json_applies_only_to_the_apps_and_migrations_it_was_made_for():
    from polyflow.standalone.components import INSTALLED_APPS, LOCAL_APPS

    assert schema.applies(INSTALLED_APPS)
    assert not schema.applies(LOCAL_APPS)
    assert schema.migration_names("polyflow.migrations") >= {"0001_initial", "0005_matrix"}
    assert schema.migration_names("no_such_package.migrations") == set()


@pytest.mark.django_db(transaction=True)
def test_pipelines_applied_before_the_spec_history_start_it_at_version_1():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("polyflow", "0007_marks_attempts_backfill")], [("polyflow", "0008_pipeline_spec_history")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        owner = old.get_model("auth", "User").objects.create(username="olda")
        project = old.get_model("polyflow", "Project").objects.create(owner=owner, name="legacy")
        old.get_model("polyflow", "Pipeline").objects.create(project=project, name="p", content="kind: pipeline\n",
                                                             plan={}, created_by=owner)
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        new = executor.loader.project_state(after).apps
        versions = list(new.get_model("polyflow", "PipelineSpecVersion").objects.values_list(
            "version", "content", "created_by__username"))
        assert versions == [(1, "kind: pipeline\n", "olda")]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
