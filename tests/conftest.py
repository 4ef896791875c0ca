import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Variables that change what the standalone project or the CLI does (XDG_CONFIG_HOME: where
# `polyflow login` keeps a server and token that would send commands to a server).
_OURS = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "XDG_CONFIG_HOME")


def clean_environ(home: Path) -> dict[str, str]:
    """The environment of a fresh shell: none of our variables, and HOME at `home`.

    HOME is moved so that nothing a test runs can write to the real ~/.polyflow, nor read the
    real ~/.config/polyflow/credentials.json.
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


class LineReader:
    """The lines of a process's text stream, read by a thread, waited for with a timeout.

    (select() on a pipe does not see what a buffered reader has already taken in.)
    """

    def __init__(self, stream):
        import queue
        import threading

        self.lines: queue.Queue = queue.Queue()
        self.seen = ""
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def until(self, pattern: str, timeout: float = 30) -> str:
        """The lines read up to and including the first that matches `pattern` (a regex)."""
        import queue
        import re
        import time

        taken = ""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s; read: {taken}") from None
            if line is None:
                raise AssertionError(f"the stream ended before a line matching {pattern!r}; read: {taken}")
            taken += line
            self.seen += line
            if re.search(pattern, line):
                return taken

    def rest(self, timeout: float = 30) -> str:
        """Everything until the stream ends."""
        self._thread.join(timeout)
        taken = ""
        while not self.lines.empty():
            line = self.lines.get()
            if line is not None:
                taken += line
        self.seen += taken
        return taken


def polyflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The real `polyflow` command line, in a subprocess."""
    return run_python("-m", "polyflow.cli", *args, env=env)


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout


@pytest.fixture
def polyflow_env(tmp_path):
    """A fresh shell's environment with Polyflow's files (embedded SQLite) in tmp_path."""
    return {**clean_environ(tmp_path / "home"), "POLYFLOW_HOME": str(tmp_path / "polyflow")}



@pytest.fixture
def project(db):
    """alice's project `ml` (a conftest nearer a test may give another)."""
    from django.contrib.auth import get_user_model

    from polyflow.services.projects import create_project

    owner = get_user_model().objects.create_user("alice", password="pw")
    return create_project(owner, "ml")


@pytest.fixture
def apply(project):
    """apply(yaml) -> the pipeline it applied to `project`."""
    from polyflow.services.apply import apply_text

    def apply_yaml(text: str):
        return apply_text(project, text).pipelines[0][0]

    return apply_yaml
