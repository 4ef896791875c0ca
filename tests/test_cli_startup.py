"""What the commands load and create as they start, in real subprocesses (bench/startup_bench.py has the times)."""

import json

import pytest

from tests.conftest import ROOT, polyflow, run_python

# Runs the command line as `python -m polyflow.cli ARGS` would, then prints the packages it imported.
LOADED = """
import json, runpy, sys
sys.argv = ["polyflow", *sys.argv[1:]]
try:
    runpy.run_module("polyflow.cli", run_name="__main__")
except SystemExit as end:
    if end.code:
        raise
print(json.dumps(sorted(sys.modules)))
"""
# Not one of these is needed on the local path of validate, runs, run...
SERVER_SIDE = ("kubernetes", "celery", "kombu", "rest_framework", "drf_spectacular", "waitress", "prometheus_client",
               "django.contrib.admin", "django.contrib.sessions", "django.contrib.messages")


def loaded(env, *args: str) -> list[str]:
    result = run_python("-c", LOADED, *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def of(modules: list[str], *packages: str) -> list[str]:
    return [name for name in modules if any(name == p or name.startswith(f"{p}.") for p in packages)]


@pytest.fixture
def home(polyflow_env, tmp_path):
    return polyflow_env, tmp_path / "polyflow"


def test_help_loads_no_django_and_creates_nothing(home):
    env, polyflow_home = home
    modules = loaded(env, "--help")
    assert of(modules, "django", "yaml", "marshmallow") == []
    assert not polyflow_home.exists()


def test_validate_loads_neither_kubernetes_nor_celery_nor_djangos_settings(home):
    env, polyflow_home = home
    modules = loaded(env, "validate", str(ROOT / "examples" / "quickstart.yaml"))
    assert "polyflow.spec.checking" in modules
    assert of(modules, *SERVER_SIDE) == []
    assert of(modules, "django.conf", "django.db", "django.apps", "polyflow.models", "polyflow.scheduler") == []
    assert not polyflow_home.exists()


def test_a_bad_setting_in_validate_is_one_line(home):
    env, _ = home
    result = polyflow("validate", str(ROOT / "examples" / "quickstart.yaml"), env={**env, "POLYFLOW_MAX_TRIALS": "x"})
    assert (result.returncode, result.stderr) == (1, "Error: POLYFLOW_MAX_TRIALS='x': expected an integer\n")


def test_runs_list_loads_only_the_local_apps(home):
    env, polyflow_home = home
    modules = loaded(env, "runs", "list")
    assert "polyflow.models" in modules
    assert of(modules, *SERVER_SIDE) == []
    assert (polyflow_home / "polyflow.sqlite3").is_file()  # made on the way, in one step
    # On a database that is already set up too.
    assert of(loaded(env, "runs", "list"), *SERVER_SIDE) == []

