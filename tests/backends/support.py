"""Building submissions by hand for backend tests."""

from __future__ import annotations

import itertools
import time

from polyflow.backends.base import Submission
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
