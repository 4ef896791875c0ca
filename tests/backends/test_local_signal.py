"""`LocalBackend.watch`: runners signal starts and ends to listening schedulers,
and what each attempt inherits from the process that submitted it."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from polyflow.backends.base import RUNNING, SUCCEEDED
from polyflow.backends.local import STARTED_GRACE, LocalBackend, watch_until
from polyflow.backends.local_signal import ENDED, STARTED, ShortPaths, parse

from .support import submission, submit_elsewhere, wait_final, wait_for

PY = sys.executable


def watch_until_final(backend, handle, timeout=10.0):
    """Call watch until it reports `handle` in a final state; (every call's keys, when it returned)."""
    calls = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        keys = backend.watch(deadline - time.monotonic())
        calls.append(keys)
        if handle in keys and backend.sync([handle])[handle].final:
            return calls, time.time()
    raise AssertionError(f"watch never reported the end of {handle}: {calls}")


def test_watch_returns_the_key_within_milliseconds_of_the_end(backend):
    assert backend.watch(0) == []  # listening from now on
    handle = backend.submit(submission(command=["sh", "-c", "sleep 0.3"]))
    calls, seen = watch_until_final(backend, handle)
    observation = backend.sync([handle])[handle]
    delay = seen - observation.finished_at.timestamp()
    assert delay < 1.0, f"watch returned {delay * 1000:.0f} ms after the end"
    assert calls[0] == [handle]  # the start came first (a 0.3 s op outlasts the grace)
    assert set().union(*calls) == {handle}


def test_a_start_is_reported_after_the_grace_and_an_end_at_once(backend):
    backend.watch(0)
    handle = backend.submit(submission(command=["sleep", "2"]))
    started = time.monotonic()
    assert backend.watch(5) == [handle]
    took = time.monotonic() - started
    assert STARTED_GRACE <= took < 1.5, took
    assert backend.sync([handle])[handle].state == RUNNING
    backend.stop([handle])
    started = time.monotonic()
    assert backend.watch(5) == [handle]
    assert time.monotonic() - started < 1.5
    assert backend.sync([handle])[handle].final


def test_a_short_op_wakes_the_scheduler_once(backend):
    backend.watch(0)
    handle = backend.submit(submission(command=["true"]))
    calls, _ = watch_until_final(backend, handle)
    # Its start and its end, within the grace: one wake-up for both (unless the machine is very slow).
    assert len(calls) <= 2, calls


@pytest.mark.parametrize("first_start, ended, expected", [
    (None, False, 100.0),  # nothing yet: the caller's deadline
    (10.0, False, 10.0 + STARTED_GRACE),  # a start: a little longer, for its end
    (99.99, False, 100.0),  # but never past the deadline
    (10.0, True, float("-inf")),  # an end: at once
    (None, True, float("-inf")),
])
def test_when_a_wait_returns(first_start, ended, expected):
    assert watch_until(100.0, first_start, ended) == expected


def test_signals_are_parsed_safely():
    assert parse(b"started pipe-op-1") == (STARTED, "pipe-op-1")
    assert parse(b"ended pipe-op-1") == (ENDED, "pipe-op-1")
    assert parse(b"pipe-op-1") == (ENDED, "pipe-op-1")  # unknown: read as an end, the scheduler ticks
    assert parse(b"\xff\xfe") == (ENDED, "\ufffd\ufffd")


def test_nothing_happening_is_an_empty_list_after_the_timeout(backend):
    started = time.monotonic()
    assert backend.watch(0.2) == []
    assert 0.15 <= time.monotonic() - started < 1.0


def test_an_end_between_two_calls_is_not_lost(backend):
    backend.watch(0)
    handle = backend.submit(submission(command=["true"]))
    wait_final(backend, handle)  # by polling: no watch call meanwhile
    assert backend.watch(0) == [handle]
    assert backend.watch(0) == []  # reported once


def test_every_listener_hears_every_runner(backend):
    other = LocalBackend(root=backend.root)
    try:
        backend.watch(0)
        other.watch(0)
        handle = backend.submit(submission(command=["true"]))
        wait_final(backend, handle)
        assert backend.watch(0) == [handle]
        assert other.watch(0) == [handle]
    finally:
        other.close()


def test_close_removes_the_listener(backend):
    backend.watch(0)
    listeners = backend.root / ".listeners"
    [path] = listeners.iterdir()
    assert path.name.startswith(f"{os.getpid()}-") and path.name.endswith(".sock")
    backend.close()
    assert list(listeners.iterdir()) == []
    backend.close()  # twice is fine
    backend.watch(0)  # listening again, on a new socket
    [again] = listeners.iterdir()
    assert again != path


def test_runners_remove_the_sockets_of_dead_listeners(backend):
    backend.watch(0)
    dead = subprocess.run([PY, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    left = backend.root / ".listeners" / f"{dead}-0123456789abcdef.sock"
    abandoned = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with ShortPaths(str(left.parent)) as paths:  # tmp_path may be longer than a socket path may be
        abandoned.bind(paths.of(left.name))
    abandoned.close()  # like a process killed before its clean-up: the file stays, nobody listens
    assert left.exists()
    handle = backend.submit(submission(command=["true"]))
    wait_final(backend, handle)
    wait_for(lambda: not left.exists(), what="the dead listener's socket to be removed")
    assert handle in backend.watch(0)  # the live one still hears


def test_watch_before_any_submit_creates_what_it_needs(tmp_path):
    backend = LocalBackend(root=tmp_path / "not" / "yet" / "runs")
    try:
        assert backend.watch(0.01) == []
        assert (tmp_path / "not" / "yet" / "runs" / ".listeners").is_dir()
    finally:
        backend.close()


# -- the environment an attempt inherits ------------------------------------------------

ENV_SCRIPT = """
import json, os
names = ["SUBMITTER", "ONLY_SECOND", "POLYFLOW_PARAM_STALE", "MINE", "POLYFLOW_ATTEMPT"]
with open(os.environ["POLYFLOW_OUTPUTS_FILE"], "w") as handle:
    json.dump({name: os.environ.get(name) for name in names}, handle)
open("made", "w").close()
"""


def env_seen(backend, handle):
    observation = wait_final(backend, handle)
    assert observation.state == SUCCEEDED, observation
    return json.loads(observation.outputs)


def test_each_attempt_gets_its_submitters_environment(backend, monkeypatch):
    op = dict(command=[PY, "-c", ENV_SCRIPT], env={"MINE": "the op's"})
    monkeypatch.setenv("SUBMITTER", "first")
    monkeypatch.setenv("POLYFLOW_PARAM_STALE", "a param of whatever op the submitter runs")
    first = backend.submit(submission(**op))  # starts the server, with this environment
    monkeypatch.setenv("SUBMITTER", "second")
    monkeypatch.setenv("ONLY_SECOND", "yes")
    second = backend.submit(submission(**op))
    other = {**os.environ, "SUBMITTER": "another process"}
    other.pop("ONLY_SECOND")
    third = submit_elsewhere(backend.root, environ=other, key="pipe-op-elsewhere-1", **op)
    overridden = backend.submit(submission(command=op["command"], env={"SUBMITTER": "the op's own"}))

    common = {"POLYFLOW_PARAM_STALE": None, "MINE": "the op's", "POLYFLOW_ATTEMPT": "1"}
    assert env_seen(backend, first) == {**common, "SUBMITTER": "first", "ONLY_SECOND": None}
    assert env_seen(backend, second) == {**common, "SUBMITTER": "second", "ONLY_SECOND": "yes"}
    assert env_seen(backend, third) == {**common, "SUBMITTER": "another process", "ONLY_SECOND": None}
    assert env_seen(backend, overridden) == {**common, "MINE": None, "SUBMITTER": "the op's own",
                                            "ONLY_SECOND": "yes"}
    for handle in (first, second, third, overridden):  # all through the one server
        process = json.loads((backend.directory(handle) / "process.json").read_text())
        assert process["launched"] == "server"


def test_each_attempt_gets_its_submitters_umask(backend):
    op = dict(command=[PY, "-c", ENV_SCRIPT])
    handles = {mask: submit_elsewhere(backend.root, umask=mask, key=f"pipe-op-umask-{mask:o}", **op)
               for mask in (0o077, 0o022, 0o002)}
    for mask, handle in handles.items():
        env_seen(backend, handle)
        assert (backend.directory(handle) / "made").stat().st_mode & 0o777 == 0o666 & ~mask
