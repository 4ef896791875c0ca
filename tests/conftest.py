import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Variables that change what the standalone project or the CLI does.
_OURS = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL")


def clean_environ(home: Path) -> dict[str, str]:
    """The environment of a fresh shell: none of our variables, and HOME at `home`.

    HOME is moved so that nothing a test runs can write to the real ~/.polyflow.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("POLYFLOW_") and name not in _OURS
    }
    env["HOME"] = str(home)
    return env


@pytest.fixture
def clean_env(tmp_path):
    """`clean_environ` with HOME in tmp_path."""
    return clean_environ(tmp_path / "home")


def run_python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run this interpreter in a real subprocess from the repository root."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
