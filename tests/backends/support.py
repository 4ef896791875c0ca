"""Building submissions by hand for backend tests."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time

from polyflow.backends.base import Submission
from polyflow.backends.local_forkserver import SERVER_NAME, SPARE_NAME
from polyflow.spec.plan import template_from_dict

RUN_UUID = "0f9e8d7c-6b5a-4321-8765-43210fedcba9"
_counter = itertools.count(1)


def template(command=None, args=(), inputs=(), image="python:3.11", env=None, working_dir=None, build=None,
             name="t"):
    container = {"image": image, "command": list(command or ()), "args": list(args), "env": env or {},
                 "working_dir": working_dir}
    data = {
        "kind": "job",
        "name": name,
        "inputs": [{"name": item, "type": "any", "is_optional": True} if isinstance(item, str) else item
                   for item in inputs],
        "container": container,
    }
    if build is not None:
        data["build"] = build
    return template_from_dict(data)


def submission(command=None, args=(), params=None, key=None, timeout=None, attempt=1, globals_=None, op="op",
               **template_kwargs) -> Submission:
    params = dict(params or {})
    if "inputs" not in template_kwargs:
        template_kwargs["inputs"] = list(params)
    number = next(_counter)
    return Submission(
        key=key or f"pipe-{op}-{RUN_UUID[:8]}-{number}",
        pipeline="pipe",
        op=op,
        run_uuid=RUN_UUID,
        attempt=attempt,
        template=template(command, args, **template_kwargs),
        params=params,
        globals=globals_ if globals_ is not None else {"run_uuid": RUN_UUID, "schedule_at": None,
                                                       "op_name": op, "attempt": attempt},
        timeout=timeout,
    )


# Submits from another Python process, which then exits.
SUBMIT_SCRIPT = """
import json, os, sys
from polyflow.backends.local import LocalBackend
from tests.backends.support import submission
kwargs = json.loads(sys.argv[1])
root = kwargs.pop("root")
start_at = kwargs.pop("start_at", None)
umask = kwargs.pop("umask", None)
if umask is not None:
    os.umask(umask)
if start_at:
    import time
    time.sleep(max(0.0, start_at - time.time()))
print(LocalBackend(root=root).submit(submission(**kwargs)))
"""


def submit_elsewhere(root, *, wait=True, environ=None, **kwargs):
    """Submit from a new Python process (with `environ` as its environment when given)."""
    from tests.conftest import ROOT

    command = [sys.executable, "-c", SUBMIT_SCRIPT, json.dumps({"root": str(root), **kwargs})]
    if not wait:
        return subprocess.Popen(command, cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    done = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def wait_for(predicate, timeout=10.0, interval=0.02, what="the condition"):
    """Poll until `predicate()` is truthy and return its value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def wait_final(backend, handle, timeout=10.0):
    def final():
        observation = backend.sync([handle])[handle]
        return observation if observation.final else None

    return wait_for(final, timeout, what=f"{handle} to end")


def wait_state(backend, handle, state, timeout=10.0):
    return wait_for(lambda: backend.sync([handle])[handle].state == state, timeout, what=f"{handle} to be {state}")


# -- the local backend's runner server ------------------------------------------------


def _cmdline(pid) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return []


def _stat_fields(pid) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return data[data.rindex(b")") + 2:].split()


def parent_of(pid) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def zombies_of(parent) -> list[int]:
    """Zombie children of `parent`: what nobody reaped."""
    zombies = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields and fields[0] == b"Z" and int(fields[1]) == parent:
                zombies.append(int(entry))
    return zombies


def _comm(pid) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def forks_of(root, name=SERVER_NAME) -> list[int]:
    """Live processes of the runner server of the runs directory `root`: the servers, or with
    `name` its spare children (SPARE_NAME) or runners (RUNNER_NAME). They share its command line."""
    root = str(root)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = _cmdline(entry)
        if "--serve" in argv and argv[argv.index("--serve") + 1:][:1] == [root] and _comm(entry) == name:
            fields = _stat_fields(entry)
            if fields and fields[0] not in (b"Z", b"X"):
                found.append(int(entry))
    return found


def runner_servers(root) -> list[int]:
    return forks_of(root, SERVER_NAME)


def server_pid(root) -> int | None:
    """The pid the runner server of `root` recorded in its lock file."""
    try:
        with open(os.path.join(str(root), ".runner.lock"), encoding="utf-8") as handle:
            return json.load(handle)["pid"]
    except (OSError, ValueError, KeyError):
        return None


def stop_runner_servers(root) -> None:
    """End the runner servers a test started (they would linger until idle), and their spare child."""
    for pid in runner_servers(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while runner_servers(root) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in runner_servers(root) + forks_of(root, SPARE_NAME):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
