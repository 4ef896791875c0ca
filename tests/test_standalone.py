"""The standalone project, imported in a subprocess with a given environment."""

import json
import stat

from django.conf import settings as test_settings

from tests.conftest import run_python

PRINT_SETTINGS = """
import json
import django
from django.conf import settings
django.setup()
from polyflow.conf import polyflow_settings
print(json.dumps({
    "DATABASES": settings.DATABASES,
    "SECRET_KEY": settings.SECRET_KEY,
    "DEBUG": settings.DEBUG,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "INSTALLED_APPS": settings.INSTALLED_APPS,
    "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    "POLYFLOW": settings.POLYFLOW,
    "BACKEND": polyflow_settings.BACKEND,
}))
"""


def standalone_settings(env, **variables):
    env = {**env, "DJANGO_SETTINGS_MODULE": "polyflow.standalone.settings", **variables}
    result = run_python("-c", PRINT_SETTINGS, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_sqlite_in_polyflow_home_by_default(clean_env, tmp_path):
    home = tmp_path / "pf"
    conf = standalone_settings(clean_env, POLYFLOW_HOME=str(home))
    db = conf["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(home / "polyflow.sqlite3")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert conf["DEBUG"] is False
    assert conf["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]"]
    assert conf["CELERY_BROKER_URL"] is None
    assert conf["POLYFLOW"] == {"HOME": str(home)}
    assert conf["BACKEND"] == "local"


def test_polyflow_home_defaults_to_dot_polyflow_in_the_user_home(clean_env, tmp_path):
    conf = standalone_settings(clean_env)
    expected = tmp_path / "home" / ".polyflow" / "polyflow.sqlite3"
    assert conf["DATABASES"]["default"]["NAME"] == str(expected)


def test_database_url_switches_to_postgresql(clean_env, tmp_path):
    home = tmp_path / "pf"
    conf = standalone_settings(
        clean_env,
        POLYFLOW_HOME=str(home),
        POLYFLOW_SECRET_KEY="s3cret",
        DATABASE_URL="postgres://flow:pw@db.internal:5433/pipelines",
    )
    db = conf["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"]) == ("pipelines", "flow", "pw")
    assert (db["HOST"], db["PORT"]) == ("db.internal", 5433)
    assert conf["SECRET_KEY"] == "s3cret"
    # Nothing to keep locally: the home directory is not even created.
    assert not home.exists()


def test_generated_secret_key_is_private_and_stable(clean_env, tmp_path):
    home = tmp_path / "pf"
    first = standalone_settings(clean_env, POLYFLOW_HOME=str(home))["SECRET_KEY"]
    key_file = home / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first
    assert len(first) >= 50
    assert standalone_settings(clean_env, POLYFLOW_HOME=str(home))["SECRET_KEY"] == first
    # No temporary files left beside it.
    assert sorted(p.name for p in home.iterdir()) == ["secret_key"]


def test_environment_variables(clean_env, tmp_path):
    conf = standalone_settings(
        clean_env,
        POLYFLOW_HOME=str(tmp_path),
        POLYFLOW_BACKEND="kubernetes",
        POLYFLOW_MAX_CONCURRENCY="8",
        POLYFLOW_PARAMS_FILE="/tmp/params.json",
        POLYFLOW_DEBUG="yes",
        POLYFLOW_ALLOWED_HOSTS="polyflow.example.com, .internal",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
    )
    assert conf["POLYFLOW"] == {
        "HOME": str(tmp_path),
        "BACKEND": "kubernetes",
        "MAX_CONCURRENCY": 8,
        # With a broker, runs created by requests are handed to a worker at once.
        "WAKE_WORKERS": True,
    }
    assert conf["BACKEND"] == "kubernetes"
    assert conf["DEBUG"] is True
    assert conf["ALLOWED_HOSTS"] == ["polyflow.example.com", ".internal"]
    assert conf["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/0"


def test_bad_environment_value_is_reported(clean_env, tmp_path):
    env = {
        **clean_env,
        "DJANGO_SETTINGS_MODULE": "polyflow.standalone.settings",
        "POLYFLOW_HOME": str(tmp_path),
        "POLYFLOW_MAX_CONCURRENCY": "abc",
    }
    result = run_python("-c", PRINT_SETTINGS, env=env)
    assert result.returncode != 0
    assert "POLYFLOW_MAX_CONCURRENCY='abc': expected an integer" in result.stderr


def test_same_apps_as_the_test_settings(clean_env, tmp_path):
    conf = standalone_settings(clean_env, POLYFLOW_HOME=str(tmp_path))
    assert conf["INSTALLED_APPS"] == test_settings.INSTALLED_APPS
