"""The default install and its extras (pyproject.toml, polyflow/extras.py).

A missing extra is tested by making its package unimportable in a real
subprocess (``sys.modules[name] = None`` before the command line runs: an
import of it then fails as if it were not installed), so that what runs is
the real command with only a third-party package taken away. `.ci/run`
(check_minimal_install) does the same with a real `pip install .`.
"""

import sys
import tomllib
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured

from polyflow.extras import MissingExtra, check, require
from tests.conftest import ROOT, assert_no_traceback, run_python

# Runs `polyflow ARGS` with the packages named in argv[1] (comma-separated) not installable.
WITHOUT = """
import runpy, sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
sys.argv = ["polyflow", *sys.argv[2:]]
runpy.run_module("polyflow.cli", run_name="__main__")
"""
QUICKSTART = str(ROOT / "examples" / "quickstart.yaml")


def without(modules: str, *args: str, env):
    return run_python("-c", WITHOUT, modules, *args, env=env)


def assert_one_line_naming(result, extra: str, what: str, prefix: str = "Error: ") -> None:
    assert_no_traceback(result)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == f"{prefix}{what} needs the '{extra}' extra: pip install 'polyflow[{extra}]'"


@pytest.mark.parametrize(("modules", "variables", "args", "extra", "what"), [
    ("kubernetes", {"POLYFLOW_BACKEND": "kubernetes"}, ("run", QUICKSTART), "kubernetes", "the kubernetes backend"),
    ("kubernetes", {}, ("run", "--backend", "kubernetes", QUICKSTART), "kubernetes", "the kubernetes backend"),
    ("kubernetes", {"POLYFLOW_BACKEND": "kubernetes"}, ("server", "--port", "0"), "kubernetes",
     "the kubernetes backend"),
    ("psycopg,psycopg2", {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/polyflow"}, ("runs", "list"),
     "postgres", "PostgreSQL (DATABASE_URL)"),
    ("celery", {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/13"}, ("runs", "list"), "celery",
     "CELERY_BROKER_URL (Celery workers, and handing runs to them)"),
], ids=["backend-setting", "backend-option", "server", "postgres", "celery"])
def test_a_missing_extra_is_one_line_naming_it(polyflow_env, tmp_path, modules, variables, args, extra, what):
    result = without(modules, *args, env={**polyflow_env, **variables})
    assert_one_line_naming(result, extra, what)
    assert result.stdout == ""
    # Said before anything was done: no database was made for a command that cannot run.
    assert not (tmp_path / "polyflow" / "polyflow.sqlite3").exists()


def test_the_embedded_default_needs_no_extra(polyflow_env):
    result = without("kubernetes,celery,kombu,redis,psycopg,psycopg2", "run", QUICKSTART, env=polyflow_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "of local/default/quickstart: succeeded" in result.stdout


def test_the_simulator_names_its_extra(clean_env):
    code = ("import sys; sys.modules['kubernetes_validate'] = None\n"
            "from polyflow.testing.kube.__main__ import main\nsys.exit(main(['--port', '0']))")
    result = run_python("-c", code, env=clean_env)
    assert_one_line_naming(result, "kube-simulator", "the Kubernetes API simulator", prefix="kube-simulator: ")


def test_the_celery_tasks_name_their_extra(clean_env):
    result = run_python("-c", "import sys; sys.modules['celery'] = None; import polyflow.tasks", env=clean_env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "polyflow.extras.MissingExtra: polyflow.tasks (Celery workers and the hand-off to them) needs the "
        "'celery' extra: pip install 'polyflow[celery]'")


def test_a_backend_without_its_extra_is_a_configuration_error_and_an_import_error(monkeypatch):
    from polyflow.backends import get_backend
    from polyflow.selectors.logs import LogsUnavailable, op_run_logs

    monkeypatch.setitem(sys.modules, "kubernetes", None)
    with pytest.raises(MissingExtra) as raised:
        get_backend("kubernetes")
    # Django's kind of error for a configuration it cannot work with, and an ImportError
    # for the code that already treats "not installed" as one:
    assert isinstance(raised.value, ImproperlyConfigured) and isinstance(raised.value, ImportError)
    assert raised.value.extra == "kubernetes"
    with pytest.raises(LogsUnavailable, match=r"pip install 'polyflow\[kubernetes\]'"):
        op_run_logs(SimpleNamespace(handle="pf-1", backend="kubernetes"))


def test_require_and_check():
    assert require("kubernetes", "json", "x").dumps({}) == "{}"
    check("postgres", "no_such_module_here", "json", what="x")  # one of them is enough
    with pytest.raises(MissingExtra, match=r"^x needs the 'celery' extra: pip install 'polyflow\[celery\]'$"):
        check("celery", "no_such_module_here", what="x")
    with pytest.raises(MissingExtra, match=r"^x needs the 'celery' extra"):
        require("celery", "no_such_module_here.sub", "x")


def test_the_default_dependencies_hold_no_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements):
        return {r.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower()
                for r in requirements}

    assert not names(project["dependencies"]) & {"kubernetes", "kubernetes-validate", "celery", "psycopg",
                                                  "psycopg2", "psycopg-binary", "redis"}
    extras = project["optional-dependencies"]
    assert extras["postgres"] == ["psycopg>=3.1,<4"]  # a library does not force the binary wheel
    assert extras["all"] == ["polyflow[kubernetes,postgres,celery,kube-simulator,s3]"]
    assert "polyflow[all]" in extras["test"]
    # setup.py is a shim for tools that look for one: the metadata is pyproject.toml's alone.
    assert "setup()" in (ROOT / "setup.py").read_text()
