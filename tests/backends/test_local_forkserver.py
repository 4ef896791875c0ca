"""The local backend's runner server: one per runs directory, started by the first
submit, forking the runners of many attempts; replaced when it dies or runs other
code; the direct launch when it cannot be reached. Real processes throughout."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from polyflow.backends import local_forkserver
from polyflow.backends.base import RUNNING, SUCCEEDED
from polyflow.backends.local import RUNNER, LocalBackend
from polyflow.backends.local_forkserver import RUNNER_NAME, SPARE_NAME

from .support import (
    forks_of,
    parent_of,
    runner_servers,
    server_pid,
    stop_runner_servers,
    submission,
    submit_elsewhere,
    wait_final,
    wait_for,
    wait_state,
    zombies_of,
)

PY = sys.executable


def process_of(backend, handle):
    path = backend.directory(handle) / "process.json"
    return wait_for(lambda: path.exists() and json.loads(path.read_text()), what=f"{path}")


def the_server(root):
    """The one runner server of `root` (others that lost a race may still be on their way out)."""
    servers = wait_for(lambda: runner_servers(root) if len(runner_servers(root)) == 1 else None, timeout=10,
                       what=f"one runner server of {root}")
    assert server_pid(root) == servers[0]
    return servers[0]


def test_one_server_forks_the_runners_of_many_attempts(backend):
    handles = [backend.submit(submission(command=["sleep", "30"])) for _ in range(3)]
    server = the_server(backend.root)
    assert parent_of(server) != os.getpid()  # detached: not a child of the submitter
    assert os.getsid(server) not in (os.getsid(0), os.getpid())
    for handle in handles:
        wait_state(backend, handle, RUNNING)
        process = process_of(backend, handle)
        assert process["launched"] == "server"
        runner = process["runner_pid"]
        assert parent_of(runner) == server
        assert os.getsid(runner) == runner  # a session of its own: the server's signals do not reach it
    assert sorted(forks_of(backend.root, RUNNER_NAME)) == sorted(process_of(backend, h)["runner_pid"]
                                                                  for h in handles)
    assert runner_servers(backend.root) == [server]
    backend.stop(handles)
    for handle in handles:
        assert wait_final(backend, handle).reason == "stopped"


def test_the_server_outlives_the_submitter_that_started_it(backend):
    first = submit_elsewhere(backend.root, command=["true"])  # that process has exited now
    server = the_server(backend.root)
    assert wait_final(backend, first).state == SUCCEEDED
    second = backend.submit(submission(command=["sleep", "30"]))
    wait_state(backend, second, RUNNING)
    assert parent_of(process_of(backend, second)["runner_pid"]) == server
    assert the_server(backend.root) == server


def test_a_killed_server_is_replaced_and_no_attempt_is_lost(backend, tmp_path):
    go = tmp_path / "go"
    before = backend.submit(submission(command=["sh", "-c", f"while [ ! -e {go} ]; do sleep 0.02; done"]))
    wait_state(backend, before, RUNNING)
    killed = the_server(backend.root)
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: killed not in runner_servers(backend.root), what="the server to die")
    assert (backend.root / ".runner.sock").exists()  # stale: nobody listens on it any more

    after = backend.submit(submission(command=["true"]))
    replacement = the_server(backend.root)
    assert replacement != killed
    assert wait_final(backend, after).state == SUCCEEDED
    assert process_of(backend, after)["launched"] == "server"
    # The runner forked by the killed server goes on, and so does its op.
    assert backend.sync([before])[before].state == RUNNING
    go.touch()
    assert wait_final(backend, before).state == SUCCEEDED
    # The killed server's spare child saw its pipe close and left.
    wait_for(lambda: [parent_of(pid) for pid in forks_of(backend.root, SPARE_NAME)] == [replacement],
             what="only the new server's spare child")


def test_racing_submitters_end_with_one_server(backend, tmp_path):
    counter = tmp_path / "count"
    start_at = time.time() + 1.5  # every process imported and waiting by then
    keys = [f"pipe-op-race-{n}" for n in range(4)]
    processes = [submit_elsewhere(backend.root, wait=False, start_at=start_at, key=key,
                                  command=["sh", "-c", f"echo ran >> {counter}"]) for key in keys]
    for process, key in zip(processes, keys, strict=True):
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert out.strip() == key
    for key in keys:
        assert wait_final(backend, key).state == SUCCEEDED
    the_server(backend.root)
    assert counter.read_text().splitlines() == ["ran"] * 4
    assert (backend.root / ".runner.log").read_text().count(": serving ") == 1


def test_a_server_that_cannot_start_means_direct_launches(backend, monkeypatch, caplog):
    monkeypatch.setattr(local_forkserver, "launch", lambda *args, **kwargs: None)
    monkeypatch.setattr(local_forkserver, "START_WAIT", 0.2)
    with caplog.at_level(logging.WARNING, logger="polyflow.backends.local"):
        handles = [backend.submit(submission(command=["sleep", "30"]))]
        started = time.monotonic()
        handles.append(backend.submit(submission(command=["sleep", "30"])))
        assert time.monotonic() - started < 0.2  # no second wait for a server that does not come
    for handle in handles:
        wait_state(backend, handle, RUNNING)
        process = process_of(backend, handle)
        assert process["launched"] == "direct"
        assert parent_of(process["runner_pid"]) != os.getpid()  # detached all the same
    assert runner_servers(backend.root) == []
    # Said once, not once per attempt.
    [record] = [r for r in caplog.records if "starting runners directly" in r.getMessage()]
    assert "did not start within 0.2 s" in record.getMessage()
    assert "for 60 s" in record.getMessage()
    backend.stop(handles)


def test_a_server_that_does_not_answer_means_a_direct_launch(backend, monkeypatch):
    backend.root.mkdir(parents=True)
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(backend.root / ".runner.sock"))
    mute.listen(8)  # connections queue up; nobody ever accepts them
    monkeypatch.setattr(local_forkserver, "REPLY_TIMEOUT", 0.3)
    try:
        handle = backend.submit(submission(command=["true"]))
        assert wait_final(backend, handle).state == SUCCEEDED
        assert process_of(backend, handle)["launched"] == "direct"
    finally:
        mute.close()


def test_a_claimed_attempt_is_not_run_twice(backend, tmp_path):
    counter = tmp_path / "count"
    handle = backend.submit(submission(command=["sh", "-c", f"echo ran >> {counter}"]))
    wait_final(backend, handle)
    result = (backend.directory(handle) / "result.json").read_text()
    # A second runner for the same directory (a late answer of the server, then the fallback) leaves at once.
    done = subprocess.run([PY, "-I", "-S", RUNNER, str(backend.directory(handle))], capture_output=True,
                          text=True, timeout=20)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert (backend.directory(handle) / "result.json").read_text() == result
    assert counter.read_text().splitlines() == ["ran"]


def test_a_server_running_other_code_exits_and_is_replaced(backend):
    wait_final(backend, backend.submit(submission(command=["true"])))
    old = the_server(backend.root)
    request = (json.dumps({"directory": str(backend.directory("x-1")), "env": {}, "version": "older code"})
               + "\n").encode()
    with pytest.raises(local_forkserver._NoServer, match="other code"):
        local_forkserver._ask(str(backend.root), request, 5)
    wait_for(lambda: old not in runner_servers(backend.root), what="the outdated server to exit")
    assert not (backend.root / ".runner.sock").exists()
    handle = backend.submit(submission(command=["true"]))
    assert wait_final(backend, handle).state == SUCCEEDED
    assert the_server(backend.root) != old


@pytest.mark.parametrize("request_, message", [
    ({"directory": "/tmp", "env": {}}, "'/tmp' is not an attempt directory of "),
    ({"directory": "RUNS/../../x", "env": {}}, "is not an attempt directory of "),
    ({"directory": "RUNS/k-1", "env": {"A": 1}}, "env must map names to strings"),
    ({"directory": "RUNS/k-1", "env": {}, "umask": "022"}, "umask '022' is not a mode"),
])
def test_a_server_refuses_what_is_no_attempt_of_its_directory(backend, request_, message):
    wait_final(backend, backend.submit(submission(command=["true"])))
    request_ = {**request_, "directory": request_["directory"].replace("RUNS", str(backend.root)),
                "version": local_forkserver.code_version()}
    with pytest.raises(local_forkserver.Unavailable, match="refused: ") as caught:
        local_forkserver._ask(str(backend.root), (json.dumps(request_) + "\n").encode(), 5)
    assert message in str(caught.value)


def test_the_socket_is_for_its_user_only(backend):
    wait_final(backend, backend.submit(submission(command=["true"])))
    assert (backend.root / ".runner.sock").stat().st_mode & 0o077 == 0  # no access for group and others


def test_the_server_exits_when_idle_and_a_new_one_starts(backend):
    idle = LocalBackend(root=backend.root, server_idle=0.5)
    assert wait_final(idle, idle.submit(submission(command=["true"]))).state == SUCCEEDED
    first = the_server(backend.root)
    wait_for(lambda: not runner_servers(backend.root), timeout=10, what="the idle server to exit")
    assert not (backend.root / ".runner.sock").exists()
    wait_for(lambda: not forks_of(backend.root, SPARE_NAME), what="its spare child to exit")
    assert "idle for 0.5 s: exiting" in (backend.root / ".runner.log").read_text()
    assert wait_final(idle, idle.submit(submission(command=["true"]))).state == SUCCEEDED
    assert the_server(backend.root) != first


def test_a_server_whose_socket_is_removed_exits(backend):
    wait_final(backend, backend.submit(submission(command=["true"])))
    server = the_server(backend.root)
    (backend.root / ".runner.sock").unlink()
    wait_for(lambda: server not in runner_servers(backend.root), timeout=10, what="the server to notice")
    handle = backend.submit(submission(command=["true"]))
    assert wait_final(backend, handle).state == SUCCEEDED
    assert process_of(backend, handle)["launched"] == "server"


def test_a_runs_directory_with_a_long_path(tmp_path):
    root = tmp_path / ("d" * 100) / "runs"  # beyond the 107 bytes of a Unix socket's address
    assert len(str(root / ".listeners" / "1234567-0123456789abcdef.sock")) > 108
    backend = LocalBackend(root=root)
    try:
        assert backend.watch(0) == []
        handle = backend.submit(submission(command=["true"]))
        assert wait_final(backend, handle).state == SUCCEEDED
        assert process_of(backend, handle)["launched"] == "server"
        seen = []
        wait_for(lambda: seen.extend(backend.watch(0.1)) or handle in seen, what="the signal")
    finally:
        backend.close()
        stop_runner_servers(root)


def test_no_zombies_left_by_the_server(backend):
    handles = [backend.submit(submission(command=["true"])) for _ in range(20)]
    for handle in handles:
        assert wait_final(backend, handle).state == SUCCEEDED
    server = the_server(backend.root)
    # The runners have exited (each wrote its result): the kernel reaped them.
    wait_for(lambda: not forks_of(backend.root, RUNNER_NAME), what="the runners to exit")
    assert zombies_of(server) == []
    assert zombies_of(os.getpid()) == []
