"""The real command line, in subprocesses: ``python -m polyflow.cli`` and the console script."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from polyflow import __version__
from tests.conftest import polyflow


def test_version(clean_env):
    result = polyflow("--version", env=clean_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"polyflow, version {__version__}"


def test_help_lists_the_commands(clean_env):
    result = polyflow("--help", env=clean_env)
    assert result.returncode == 0, result.stderr
    assert "manage" in result.stdout
    assert "validate" in result.stdout


def test_manage_help_is_djangos(clean_env, tmp_path):
    clean_env["POLYFLOW_HOME"] = str(tmp_path)
    result = polyflow("manage", "--help", env=clean_env)
    assert result.returncode == 0, result.stderr
    assert "Type 'polyflow manage help <subcommand>'" in result.stdout
    assert "migrate" in result.stdout
    assert "drf_create_token" in result.stdout


def test_manage_passes_options_through(clean_env, tmp_path):
    clean_env["POLYFLOW_HOME"] = str(tmp_path)
    result = polyflow("manage", "migrate", "--help", env=clean_env)
    assert result.returncode == 0, result.stderr
    assert "usage: polyflow manage migrate" in result.stdout
    assert "--fake-initial" in result.stdout


def test_migrate_then_check_on_embedded_sqlite(clean_env, tmp_path):
    clean_env["POLYFLOW_HOME"] = str(tmp_path)
    result = polyflow("manage", "migrate", "--no-input", env=clean_env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "polyflow.sqlite3").is_file()

    result = polyflow("manage", "check", "--fail-level", "WARNING", env=clean_env)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout

    result = polyflow("manage", "migrate", "--check", env=clean_env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_setting_is_one_line_not_a_traceback(clean_env, tmp_path):
    clean_env["POLYFLOW_HOME"] = str(tmp_path)
    clean_env["POLYFLOW_BACKEND"] = "k8s"
    result = polyflow("manage", "check", env=clean_env)
    assert result.returncode == 1
    assert result.stderr == "Error: POLYFLOW_BACKEND='k8s': expected one of local, kubernetes, airflow\n"


def test_unknown_management_command(clean_env, tmp_path):
    clean_env["POLYFLOW_HOME"] = str(tmp_path)
    result = polyflow("manage", "no_such_command", env=clean_env)
    assert result.returncode == 1
    assert "Unknown command: 'no_such_command'" in result.stderr


def test_console_script(clean_env):
    script = shutil.which("polyflow", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("polyflow is not installed in this environment (pip install -e .)")
    result = subprocess.run(
        [script, "--version"], env=clean_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"polyflow, version {__version__}"
