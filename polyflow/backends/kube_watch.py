"""The hand-off on completion for Kubernetes (DESIGN section 8): a pod watch.

`PodWatcher.wait(timeout)` waits for Polyflow's pods (label
`app.kubernetes.io/managed-by=polyflow`, in the namespace) to change in a way
the scheduler acts on, and returns the names of those that did, as soon as
there is one (with whatever else already arrived). Each call opens a watch from
the resourceVersion the previous call reached, so nothing that happens between
two calls is missed, and no connection is held between calls.

- The first call, and any call after the server said the resourceVersion is
  too old (410 Gone / Expired), lists the pods instead (the list's
  resourceVersion is where watching resumes) and reports every managed pod,
  and every pod known before that is gone: what happened in between is
  unknown, so all of it counts as changed.
- A watch that ends early (the server's timeout, a proxy, a dropped or reset
  connection) is opened again from where it was, within the same call.
- Requests that fail (5xx, 403, the server unreachable) are logged; the call
  sleeps out its time and returns nothing. It never raises for them: the
  periodic tick and its LIST `sync` remain the safety net.
- No call blocks longer than `timeout` plus half a second (`MARGIN`): every
  read of the stream waits at most until the deadline. A call that lists may
  take a request's time (`KUBE_REQUEST_TIMEOUT`): a list must be able to
  finish, however short the calls.

`WatchCursor` is the pure part: where the watch is, what each pod looked like,
and which events matter. A change matters when it changes what the scheduler
would observe of the pod (`kube_pods.pod_signature`): a new phase, a container
that starts, ends or cannot start, the pod gone (unless it was seen finished).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from .kube_client import ApiError, KubeClient
from .kube_pods import FINISHED_PHASES, QUIET, component, pod_signature

logger = logging.getLogger("polyflow.backends.kubernetes")

# After the first change, how long to keep reading for events already on their way.
DRAIN = 0.005
# What a request may take past the deadline (connecting, a server slow to end the stream).
MARGIN = 0.5


class Expired(Exception):
    """The watch's resourceVersion is too old for the server (410): list again."""


class StreamError(Exception):
    """The watch stream said something other than events (an ERROR event, a line that
    is not JSON): open it again."""


@dataclass(frozen=True)
class Changes:
    ops: frozenset[str] = frozenset()  # op pods: their names are the handles
    builds: frozenset[str] = frozenset()  # build pods: the ops waiting on them are the handles
    # The op pods as the watch last saw them (every one of `ops` that still exists): what a
    # sync would have listed, already in hand.
    pods: Mapping[str, Mapping] = field(default_factory=dict, compare=False)

    def __bool__(self) -> bool:
        return bool(self.ops or self.builds)


def matters(kind: str, previous: tuple | None, current: tuple) -> bool:
    """Whether a watch event of type `kind` changes what the scheduler would observe of a pod
    last seen as `previous` (None: not seen) and now as `current` (signatures)."""
    if kind == "DELETED":
        # A pod that ended has told its end already; its deletion is the clean-up's.
        return not (previous is not None and previous[0] in FINISHED_PHASES)
    return current != (previous if previous is not None else QUIET)


@dataclass
class WatchCursor:
    """Where the watch is and what it has seen (pure: events in, names out)."""

    resource_version: str = ""  # "": list first
    seen: dict[str, tuple] = field(default_factory=dict)  # pod name -> signature
    builds: set[str] = field(default_factory=set)  # names of the build pods among them

    def relist(self, pods: Mapping[str, Mapping], resource_version: str) -> Changes:
        """Start again from a list: every pod listed and every pod gone since counts as changed."""
        changed = set(pods) | set(self.seen)
        builds = {name for name, pod in pods.items() if component(pod) == "build"} | (self.builds - set(pods))
        self.seen = {name: pod_signature(pod) for name, pod in pods.items()}
        self.builds = {name for name in builds if name in pods}
        self.resource_version = resource_version
        ops = frozenset(changed - builds)
        return Changes(ops, frozenset(builds), {name: pods[name] for name in ops if name in pods})

    def expire(self) -> None:
        self.resource_version = ""

    def apply(self, event: Mapping) -> Changes:
        """One event of the stream: what changed (often nothing). Raises Expired or StreamError."""
        kind = event.get("type") or ""
        obj = event.get("object") or {}
        if kind == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise Expired(obj.get("message") or "resourceVersion too old")
            raise StreamError(f"the watch sent an ERROR event: {code} {obj.get('reason') or ''}: "
                              f"{obj.get('message') or ''}".rstrip(": "))
        metadata = obj.get("metadata") or {}
        if metadata.get("resourceVersion"):
            self.resource_version = str(metadata["resourceVersion"])
        name = metadata.get("name") or ""
        if kind not in ("ADDED", "MODIFIED", "DELETED") or not name:
            return Changes()  # BOOKMARK: only the resourceVersion moves
        current = pod_signature(obj)
        previous = self.seen.get(name)
        is_build = component(obj) == "build"
        if kind == "DELETED":
            self.seen.pop(name, None)
            self.builds.discard(name)
        else:
            self.seen[name] = current
            if is_build:
                self.builds.add(name)
        if not matters(kind, previous, current):
            return Changes()
        if is_build:
            return Changes(builds=frozenset({name}))
        return Changes(ops=frozenset({name}), pods={} if kind == "DELETED" else {name: obj})


class _Stream:
    """The lines of a watch response as events, each read waiting at most until a deadline."""

    def __init__(self, response):
        self.response = response
        self._chunks = response.stream(amt=None, decode_content=False)
        self._buffer = bytearray()

    def next(self, until: float) -> dict | None:
        """The next event; None when none came by `until` (time.monotonic()). Raises EOFError
        when the stream ended, StreamError for a line that is not JSON, and urllib3's
        errors when the connection broke."""
        import urllib3

        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self._buffer[:newline])
                del self._buffer[:newline + 1]
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError as error:
                    raise StreamError(f"the watch sent a line that is not JSON: {error}: {line[:200]!r}") from None
                return event if isinstance(event, dict) else {}
            remaining = until - time.monotonic()
            if remaining <= 0:
                return None
            self._wait_at_most(remaining)
            try:
                chunk = next(self._chunks)
            except StopIteration:
                raise EOFError from None
            except urllib3.exceptions.ReadTimeoutError:
                return None
            self._buffer.extend(chunk if isinstance(chunk, bytes) else str(chunk).encode())

    def _wait_at_most(self, seconds: float) -> None:
        # The request's read timeout was set once, for the whole call; a read that starts
        # later must not outlast the deadline.
        sock = getattr(getattr(self.response, "connection", None), "sock", None)
        if sock is not None:
            try:
                sock.settimeout(max(seconds, 0.001))
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.response.close()
            self.response.release_conn()
        except Exception:  # noqa: BLE001 - a broken connection is closed all the same
            pass


class PodWatcher:
    def __init__(self, client: KubeClient, backoff: float = 0.25):
        self.client = client
        self.backoff = backoff
        self.cursor = WatchCursor()
        # One caller at a time follows the cursor; another waits its turn within its timeout.
        self._lock = threading.Lock()
        self._failing = ""  # the error of the last call, while calls keep failing the same way

    def wait(self, timeout: float) -> Changes:
        """The pods that changed within `timeout` s (see the module's docstring); never raises
        for what the API server or the network does."""
        deadline = time.monotonic() + max(timeout, 0.0)
        if not self._lock.acquire(timeout=max(timeout, 0.0)):
            return Changes()
        try:
            return self._wait(deadline)
        finally:
            self._lock.release()

    def _wait(self, deadline: float) -> Changes:
        while True:
            if not self.cursor.resource_version:
                try:
                    # A list must be able to finish, however short the call: it may take a
                    # request's time (KUBE_REQUEST_TIMEOUT). Not retried: the next call lists.
                    pods, version = self.client.list_pods_at(retry=False)
                except ApiError as error:
                    return self._give_up(error, deadline)
                self._failing = ""
                changes = self.cursor.relist(pods, version)
                if changes or not version:
                    return changes
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Changes()
            try:
                changes, received = self._follow(remaining, deadline)
            except Expired as error:
                logger.info("watch of pods in %s: %s; listing them again", self.client.namespace, error)
                self.cursor.expire()
                continue
            except ApiError as error:
                if error.status == 410:
                    self.cursor.expire()
                    continue
                return self._give_up(error, deadline)
            if changes:
                return changes
            if time.monotonic() >= deadline - DRAIN:  # a socket timeout may fire a little early
                return Changes()
            # The stream ended early: open it again from where it was; without hammering a
            # server that ends every watch at once, or answers it with errors only.
            if not received:
                time.sleep(max(0.0, min(self.backoff, deadline - time.monotonic())))

    def _follow(self, remaining: float, deadline: float) -> tuple[Changes, int]:
        """One watch request, until a change (and what came with it), the deadline or the
        stream's end: (the changes, how many events came)."""
        import urllib3

        stream = _Stream(self.client.open_watch(self.cursor.resource_version, remaining, MARGIN))
        self._failing = ""
        received = 0
        ops: set[str] = set()
        builds: set[str] = set()
        pods: dict[str, Mapping] = {}
        until = deadline
        try:
            while True:
                event = stream.next(until)
                if event is None:
                    break
                changes = self.cursor.apply(event)
                received += 1
                if changes:
                    ops |= changes.ops
                    builds |= changes.builds
                    for name in changes.ops:  # the latest of each pod, and none for one gone
                        pods.pop(name, None)
                    pods.update(changes.pods)
                    until = min(deadline, time.monotonic() + DRAIN)
        except (EOFError, StreamError, urllib3.exceptions.HTTPError, OSError) as error:
            if not isinstance(error, EOFError):
                logger.info("watch of pods in %s ended: %s; resuming from resourceVersion %s",
                            self.client.namespace, str(error) or type(error).__name__,
                            self.cursor.resource_version)
        finally:
            stream.close()
        return Changes(frozenset(ops), frozenset(builds), pods), received

    def _give_up(self, error: ApiError, deadline: float) -> Changes:
        # Said once while it lasts (a missing RBAC "watch" right fails every call the same way).
        text = str(error)
        log = logger.debug if text == self._failing else logger.warning
        self._failing = text
        log("watch of pods in %s: %s; the periodic tick syncs meanwhile", self.client.namespace, text)
        time.sleep(max(0.0, deadline - time.monotonic()))
        return Changes()
