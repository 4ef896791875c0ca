"""A real Apache Airflow for the export tests, in a virtual environment of its own.

`.ci/airflow-venv` makes it (or finds it complete) and prints its directory:
`.ci/run` calls it before the tests, and the `airflow_python` fixture calls it
too when it is missing, so a plain `pytest` works on a developer's machine.
Each DAG folder is loaded by `airflow_inspect.py`, run with the venv's python.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from polyflow.conf import environ_setting
from polyflow.spec import check, read_files
from polyflow.spec.limits import limits_from

ROOT = Path(__file__).resolve().parents[2]
VENV_SCRIPT = ROOT / ".ci" / "airflow-venv"
INSPECT = Path(__file__).with_name("airflow_inspect.py")


# The Airflows the DAG files are tested in: one file must import and run on both.
AIRFLOW_VERSIONS = ("3.3.2", "2.10.5")


def airflow_venv(version: str) -> Path:
    env = {**os.environ, "POLYFLOW_AIRFLOW_VERSION": version}
    env.pop("POLYFLOW_AIRFLOW_VENV", None)  # the default path is per version
    done = subprocess.run(["bash", str(VENV_SCRIPT)], capture_output=True, text=True, timeout=1800, env=env)
    if done.returncode != 0:
        pytest.fail(f".ci/airflow-venv failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def airflow_environ(home: Path, **extra: str) -> dict[str, str]:
    """Airflow's configuration by environment: its home (SQLite database) in `home`, no examples."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AIRFLOW_", "AIRFLOW__", "POLYFLOW_", "VIRTUAL_ENV", "PYTHON"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        **extra,
    })
    return env


class Airflow:
    def __init__(self, version: str, venv: Path, home: Path):
        self.version, self.venv, self.home = version, venv, home
        (home / "dags").mkdir(parents=True, exist_ok=True)

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, *args: str, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.venv / "bin" / "airflow"), *args], env=airflow_environ(self.home, **extra),
                              capture_output=True, text=True, timeout=timeout)

    def inspect(self, folder: Path, pods: dict | None = None) -> dict:
        """The DAGs of `folder` as the real Airflow loads them (airflow_inspect.py)."""
        out = folder.parent / f"{folder.name}-inspected.json"
        args = [self.python, str(INSPECT), str(folder), str(out)]
        if pods is not None:
            wanted = folder.parent / f"{folder.name}-pods.json"
            wanted.write_text(json.dumps(pods))
            args.append(str(wanted))
        done = subprocess.run(args, env=airflow_environ(self.home), capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-4000:]
        return json.loads(out.read_text())


@pytest.fixture(scope="session", params=AIRFLOW_VERSIONS)
def airflow(request, tmp_path_factory) -> Airflow:
    """A real Airflow, with a migrated SQLite database in a home of its own (enough for `dags test`)."""
    found = Airflow(request.param, airflow_venv(request.param), tmp_path_factory.mktemp(f"airflow-{request.param}"))
    migrated = found.run("db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-4000:]
    return found


def plans_of(*paths) -> list:
    """The pipelines of files, compiled as `polyflow validate` compiles them."""
    limits = limits_from(environ_setting)
    raws, errors = read_files([str(path) for path in paths], limits)
    return list(check(raws, earlier_errors=errors, limits=limits).pipelines)


def plans_of_texts(*texts: str) -> list:
    from tests.spec.support import compile_texts

    return list(compile_texts(*texts).pipelines)
