"""Faults the simulator can be told to inject, and the scripted outcomes of pods.

Three families, all made by `make_fault(kind, params)` from the same JSON-like
parameters in Python (`KubeSimulator.inject`) and over HTTP (`POST /_sim/faults`):

- request faults, matched against the next API requests (`verbs`, `path`,
  `skip`, `count`): `error` (a 5xx or any status; with `processed` the request
  is carried out first, as when a response is lost), `throttle` (429 with
  Retry-After), `delay` (answer late), `drop_watch` (end a watch after N events);
- pod faults, done at once to the existing pods whose name matches: `evict`,
  `oom`, `vanish` (deleted behind the client's back);
- `outcome` rules, applied to the pods created afterwards whose name matches:
  succeed or fail (exit code, run time, termination message, log) instead of
  running the command, or be OOMKilled, evicted, vanish, hang, stay pending.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from dataclasses import dataclass, field

REQUEST_KINDS = ("error", "throttle", "delay", "drop_watch")
POD_KINDS = ("evict", "oom", "vanish")
OUTCOME_RESULTS = ("succeed", "fail", "oom", "evict", "vanish", "hang", "pending")
VERBS = ("create", "get", "list", "watch", "delete", "deletecollection", "update", "log", "discovery")
METHODS = ("get", "post", "put", "patch", "delete", "head", "options")

_ids = itertools.count(1)


class FaultError(ValueError):
    """Parameters that do not make a fault (HTTP 400 on /_sim/faults)."""


def _number(params: dict, name: str, default: float | None, minimum: float = 0) -> float | None:
    value = params.pop(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise FaultError(f"{name} must be a number >= {minimum}, not {value!r}")
    return value


def _integer(params: dict, name: str, default: int | None, minimum: int = 0) -> int | None:
    value = _number(params, name, default, minimum)
    if value is not None and int(value) != value:
        raise FaultError(f"{name} must be an integer, not {value!r}")
    return None if value is None else int(value)


def _text(params: dict, name: str, default: str | None) -> str | None:
    value = params.pop(name, default)
    if value is not None and not isinstance(value, str):
        raise FaultError(f"{name} must be a string, not {value!r}")
    return value


def _count(params: dict, default: int | None) -> int | None:
    # count: how many times it applies; null (None) = until cleared.
    if "count" in params and params["count"] is None:
        params.pop("count")
        return None
    return _integer(params, "count", default, minimum=1)


@dataclass
class Fault:
    kind: str
    id: int = field(default_factory=lambda: next(_ids))
    count: int | None = 1  # times left; None = until cleared
    fired: int = 0
    # Request faults
    verbs: tuple[str, ...] = ()
    path: str | None = None
    skip: int = 0  # matching requests let through first
    status: int = 500
    message: str = ""
    retry_after: int | None = 1
    processed: bool = False  # error: the request is done, then the error answered (a lost response)
    delay: float = 0.0
    events: int = 0
    mode: str = "close"
    # Pod faults and outcomes
    name: str = "*"
    namespace: str | None = None
    result: str = ""
    exit_code: int | None = None
    duration: float | None = None
    log: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict:
        data = {"id": self.id, "kind": self.kind, "count": self.count, "fired": self.fired}
        if self.kind in REQUEST_KINDS:
            data.update(verbs=list(self.verbs), path=self.path, skip=self.skip)
            data.update({
                "error": {"status": self.status, "message": self.message, "retry_after": self.retry_after,
                          "processed": self.processed},
                "throttle": {"retry_after": self.retry_after, "message": self.message},
                "delay": {"delay": self.delay},
                "drop_watch": {"events": self.events, "mode": self.mode},
            }[self.kind])
        else:
            data.update(name=self.name, namespace=self.namespace)
            if self.kind == "outcome":
                data.update(result=self.result, exit_code=self.exit_code, duration=self.duration,
                            message=self.message, log=self.log, reason=self.reason)
            elif self.kind == "evict":
                data.update(message=self.message)
        return data

    # -- request faults ------------------------------------------------------

    def matches_request(self, method: str, verb: str, path: str) -> bool:
        if self.verbs and method.lower() not in self.verbs and verb not in self.verbs:
            return False
        if self.path is not None and not re.search(self.path, path):
            return False
        if self.kind == "drop_watch" and verb != "watch":
            return False
        return True

    def consume(self) -> bool:
        """Whether it fires for this matching request (and count it)."""
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.count is not None and self.count <= 0:
            return False
        if self.count is not None:
            self.count -= 1
        self.fired += 1
        return True

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.count <= 0

    # -- pods ----------------------------------------------------------------

    def matches_pod(self, namespace: str, name: str) -> bool:
        if self.namespace is not None and self.namespace != namespace:
            return False
        return fnmatch.fnmatchcase(name, self.name)


def make_fault(kind: str, params: dict | None = None) -> Fault:
    """A `Fault` from its kind and parameters; `FaultError` naming what is wrong."""
    params = dict(params or {})
    params.pop("kind", None)
    if kind in REQUEST_KINDS:
        fault = Fault(kind=kind, count=_count(params, 1))
        verbs = params.pop("verbs", params.pop("verb", ()))
        if isinstance(verbs, str):
            verbs = [verbs]
        if not isinstance(verbs, list | tuple) or not all(isinstance(v, str) for v in verbs):
            raise FaultError(f"verbs must be a list of strings, not {verbs!r}")
        verbs = tuple(v.lower() for v in verbs)
        unknown = [v for v in verbs if v not in VERBS and v not in METHODS]
        if unknown:
            raise FaultError(f"unknown verbs {unknown}: use {', '.join(VERBS)} or HTTP methods")
        fault.verbs = verbs
        fault.path = _text(params, "path", None)
        if fault.path is not None:
            try:
                re.compile(fault.path)
            except re.error as error:
                raise FaultError(f"path is not a regular expression: {error}") from None
        fault.skip = _integer(params, "skip", 0)
        if kind == "error":
            fault.status = _integer(params, "status", 500, minimum=400)
            if fault.status > 599:
                raise FaultError(f"status must be an HTTP error status (400-599), not {fault.status}")
            fault.message = _text(params, "message", "") or ""
            fault.retry_after = _integer(params, "retry_after", None)  # a Retry-After header only when given
            fault.processed = params.pop("processed", False)
            if not isinstance(fault.processed, bool):
                raise FaultError(f"processed must be true or false, not {fault.processed!r}")
        elif kind == "throttle":
            fault.retry_after = _integer(params, "retry_after", 1)
            fault.message = _text(params, "message", "") or ""
        elif kind == "delay":
            fault.delay = _number(params, "delay", 1.0)
        else:
            fault.events = _integer(params, "events", 0)
            fault.mode = _text(params, "mode", "close")
            if fault.mode not in ("close", "reset"):
                raise FaultError(f"mode must be 'close' or 'reset', not {fault.mode!r}")
    elif kind in POD_KINDS or kind == "outcome":
        fault = Fault(kind=kind, count=_count(params, None) if kind == "outcome" else None)
        fault.name = _text(params, "name", None)
        if not fault.name:
            raise FaultError(f"a {kind} fault needs 'name': a pod name or a glob pattern such as 'train-*'")
        fault.namespace = _text(params, "namespace", None)
        fault.message = _text(params, "message", "") or ""
        if kind == "outcome":
            fault.result = _text(params, "result", "succeed")
            if fault.result not in OUTCOME_RESULTS:
                raise FaultError(f"result must be one of {', '.join(OUTCOME_RESULTS)}, not {fault.result!r}")
            fault.exit_code = _integer(params, "exit_code", None)
            fault.duration = _number(params, "duration", None)
            fault.log = _text(params, "log", None)
            fault.reason = _text(params, "reason", None)
    else:
        raise FaultError(
            f"unknown fault kind {kind!r}: use one of {', '.join(REQUEST_KINDS + POD_KINDS)} or outcome"
        )
    if params:
        raise FaultError(f"unknown parameters for a {kind} fault: {', '.join(sorted(params))}")
    return fault
