import os
import signal

import pytest

from polyflow.backends import local_runner
from polyflow.backends.local import LocalBackend

from .support import stop_runner_servers


@pytest.fixture
def backend(settings, tmp_path):
    """A local backend with its runs under tmp_path; kills whatever a test left running,
    the runner server of tmp_path included."""
    settings.POLYFLOW = {"HOME": str(tmp_path)}
    backend = LocalBackend(kill_grace=0.5)
    assert backend.root == tmp_path / "runs"
    yield backend
    backend.close()
    for directory in (tmp_path / "runs").glob("*"):
        process = local_runner.read_json(str(directory / local_runner.PROCESS))
        if not isinstance(process, dict):
            continue
        for pid, start, kill in (
            (process["child_pid"], process["child_start"], os.killpg),
            (process["runner_pid"], process["runner_start"], os.kill),
        ):
            if local_runner.is_alive(pid, start):
                try:
                    kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    stop_runner_servers(tmp_path / "runs")
