"""`LocalBackend.prepare`: the runner server started ahead of the first submit (`polyflow run` calls it)."""

import os
import sys
import time

from polyflow.backends import local_runner
from polyflow.backends.base import SUCCEEDED
from polyflow.backends.local import LocalBackend
from polyflow.backends.local_forkserver import SERVER_NAME, SOCKET

from .support import forks_of, submission, wait_final, wait_for


def servers(root) -> list[int]:
    """The live servers of the runs directory `root`, and any still starting (named as Python until they serve)."""
    return forks_of(root, SERVER_NAME) + forks_of(root, os.path.basename(sys.executable)[:15])


def launched(backend, handle) -> str:
    process = wait_for(lambda: local_runner.read_json(str(backend.directory(handle) / local_runner.PROCESS)))
    return process["launched"]


def test_prepare_starts_the_server_that_the_first_submit_uses(backend):
    backend.prepare()
    wait_for(lambda: (backend.root / SOCKET).exists(), what="the runner server's socket")
    handle = backend.submit(submission(command=["true"]))
    assert wait_final(backend, handle).state == SUCCEEDED
    assert launched(backend, handle) == "server"
    backend.prepare()  # one listens: nothing more is started
    time.sleep(0.2)
    assert len(servers(backend.root)) == 1


def test_a_submit_right_after_prepare_waits_for_that_server(backend):
    backend.prepare()
    handle = backend.submit(submission(command=["true"]))  # the server is still starting
    assert wait_final(backend, handle).state == SUCCEEDED
    assert launched(backend, handle) == "server"
    assert len(servers(backend.root)) == 1  # no second one, waiting for the first one's lock


def test_prepare_without_the_fork_server_starts_nothing(settings, tmp_path):
    settings.POLYFLOW = {"HOME": str(tmp_path)}
    LocalBackend(fork_server=False).prepare()
    assert not (tmp_path / "runs").exists()
