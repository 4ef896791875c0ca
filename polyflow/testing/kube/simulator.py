"""`KubeSimulator`: the store of pods, their events, the faults and the record of requests,
and the HTTP server (in a background thread) that speaks Kubernetes REST over them.

    with KubeSimulator(port=0) as sim:
        configuration = kubernetes.client.Configuration(host=sim.url)
        ...
        sim.inject("error", status=503, count=2, verbs=["create"])
        assert [r["verb"] for r in sim.requests] == [...]
"""

from __future__ import annotations

import copy
import itertools
import os
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

from .errors import ApiError, not_found, now
from .faults import POD_KINDS, REQUEST_KINDS, Fault, FaultError, make_fault
from .objects import ObjectStore
from .runtime import PodRuntime
from .selectors import parse_field_selector, parse_label_selector
from .validation import kube_version as default_kube_version
from .validation import pod_causes

DEFAULT_NAMESPACES = ("default", "polyflow")
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # what generateName appends, as in Kubernetes


@dataclass
class Event:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    namespace: str
    object: dict


class KubeSimulator:
    """A Kubernetes API server for core/v1 pods that runs their commands on this machine.

    host, port:      where to listen; port 0 picks a free port (see `url`).
    namespaces:      namespaces that exist besides default, polyflow and kube-system & co.
    execute:         run the first container's command locally (False: simulate every run).
    run_time:        seconds a simulated run lasts (no command, missing executable, execute=False).
    pending_time:    seconds a pod stays Pending before it is scheduled and started.
    missing_executable: "succeed" (simulate a successful run) or "fail" (StartError, exit 128)
                     when the command's executable does not exist here (e.g. kaniko's /kaniko/executor).
    kube_version:    the Kubernetes version (major.minor) of the validation schemas and of /version;
                     default the newest that kubernetes-validate ships.
    workdir:         where pods' directories (logs, termination messages, working dirs) go;
                     default a temporary directory removed by `stop`.
    history:         how many events watches can resume from (older resourceVersions: 410 Expired).
    verbose:         log every request on stderr.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, namespaces: Iterable[str] = (),
                 execute: bool = True, run_time: float = 0.2, pending_time: float = 0.02,
                 missing_executable: str = "succeed", kube_version: str | None = None,
                 workdir: str | None = None, history: int = 10000, verbose: bool = False):
        if missing_executable not in ("succeed", "fail"):
            raise ValueError("missing_executable must be 'succeed' or 'fail'")
        self.host, self.port = host, port
        self.execute = execute
        self.run_time = run_time
        self.pending_time = pending_time
        self.missing_executable = missing_executable
        self.kube_version = kube_version or default_kube_version()
        self.verbose = verbose
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.stopping = False
        self._namespaces: dict[str, dict] = {}
        for name in (*DEFAULT_NAMESPACES, *SYSTEM_NAMESPACES, *namespaces):
            self.add_namespace(name)
        self._pods: dict[tuple[str, str], PodRuntime] = {}
        self.objects = ObjectStore(self)  # PersistentVolumeClaims, ConfigMaps, Secrets
        self._python_dir: str | None = None
        self._rv = 1
        self._events: deque[Event] = deque(maxlen=max(1, history))
        self._compacted = 0  # events up to this resourceVersion are forgotten
        self._faults: list[Fault] = []
        self._requests: list[dict] = []
        self._seq = itertools.count(1)
        self._ips = itertools.count(2)
        self._pod_ips: dict[str, str] = {}
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="kube-simulator-")
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.connections: set[socket.socket] = set()

    # -- server ---------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> KubeSimulator:
        from .server import make_server

        if self._server is not None:
            return self
        self.stopping = False
        os.makedirs(self.workdir, exist_ok=True)
        try:
            self._server = make_server(self, self.host, self.port)
        except OSError:
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="kube-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end watches, kill the pods' processes, remove the temporary directory."""
        with self.lock:
            self.stopping = True
            self.changed.notify_all()
            runtimes = list(self._pods.values())
            for runtime in runtimes:
                runtime.wakeup.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for runtime in runtimes:
            runtime.kill()  # also a container in its grace period
        for runtime in runtimes:
            runtime.thread.join(timeout=5)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> KubeSimulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait(self) -> None:
        """Block until the server thread ends (the command line's main loop)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    # -- namespaces -----------------------------------------------------------

    def add_namespace(self, name: str) -> None:
        with self.lock:
            if name not in self._namespaces:
                self._namespaces[name] = {
                    "kind": "Namespace", "apiVersion": "v1",
                    "metadata": {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": now(),
                                 "resourceVersion": "1", "labels": {"kubernetes.io/metadata.name": name}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                }

    def namespaces(self) -> list[str]:
        with self.lock:
            return sorted(self._namespaces)

    def namespace_object(self, name: str) -> dict:
        with self.lock:
            if name not in self._namespaces:
                raise not_found(name, "namespaces")
            return copy.deepcopy(self._namespaces[name])

    # -- the store (callers hold self.lock where noted) ------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def _commit(self, runtime: PodRuntime, event_type: str) -> None:
        """Record a change of `runtime.pod` (under self.lock): new resourceVersion, an event, wake watchers."""
        if runtime.removed:
            return
        self._rv += 1
        runtime.pod["metadata"]["resourceVersion"] = str(self._rv)
        if len(self._events) == self._events.maxlen:
            self._compacted = self._events[0].rv
        self._events.append(Event(self._rv, event_type, runtime.namespace, copy.deepcopy(runtime.pod)))
        self.changed.notify_all()

    def _bump(self) -> int:
        """The next resourceVersion (under self.lock), for objects that are not pods."""
        self._rv += 1
        return self._rv

    def object(self, store_kind: str, namespace: str, name: str) -> dict | None:
        """A stored PersistentVolumeClaim, ConfigMap or Secret ("persistentVolumeClaim",
        "configMap", "secret"): what a pod's volumes and env read."""
        with self.lock:
            found = self.objects.find(store_kind, namespace, name)
            return copy.deepcopy(found) if found is not None else None

    def claim_directory(self, namespace: str, name: str) -> str:
        """The directory that stands for a claim's volume, shared by the pods that mount it."""
        return self.objects.claim_directory(namespace, name)

    def claims(self, namespace: str | None = None, label_selector: str | None = None) -> list[dict]:
        """Copies of the stored PersistentVolumeClaims."""
        return self.objects.list("PersistentVolumeClaim", namespace, label_selector)

    def python_dir(self) -> str:
        """A directory put first on every container's PATH, whose `python` and `python3` run this
        simulator's own Python: an image's Python stood for by the one running here."""
        with self.lock:
            if self._python_dir is None:
                directory = os.path.join(self.workdir, "bin")
                os.makedirs(directory, exist_ok=True)
                for name in ("python", "python3"):
                    path = os.path.join(directory, name)
                    with open(path, "w", encoding="utf-8") as handle:
                        # A script, not a link: a virtual environment's Python finds its
                        # packages from the path it is started by.
                        handle.write(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
                    os.chmod(path, 0o755)
                self._python_dir = directory
            return self._python_dir

    def _remove(self, runtime: PodRuntime) -> None:
        """Delete the pod from the store (under self.lock): a DELETED event; its process is killed."""
        if runtime.removed:
            return
        metadata = runtime.pod["metadata"]
        metadata.setdefault("deletionTimestamp", now())
        metadata.setdefault("deletionGracePeriodSeconds", 0)
        self._commit(runtime, "DELETED")
        runtime.removed = True
        self._pods.pop((runtime.namespace, runtime.name), None)
        if not runtime.done:
            runtime.post("kill")

    def _pod_ip(self, runtime: PodRuntime) -> str:
        with self.lock:
            uid = runtime.pod["metadata"]["uid"]
            if uid not in self._pod_ips:
                number = next(self._ips)
                self._pod_ips[uid] = f"10.244.{number // 250 % 250}.{number % 250 + 2}"
            return self._pod_ips[uid]

    def events_after(self, rv: int) -> list[Event]:
        """The events with a resourceVersion above `rv` (under self.lock)."""
        found = []
        for event in reversed(self._events):
            if event.rv <= rv:
                break
            found.append(event)
        found.reverse()
        return found

    def check_resource_version(self, rv: int) -> None:
        if rv < self._compacted:
            raise ApiError(410, f"too old resource version: {rv} ({self._compacted})", "Expired")

    def get_runtime(self, namespace: str, name: str) -> PodRuntime:
        runtime = self._pods.get((namespace, name))
        if runtime is None:
            raise not_found(name)
        return runtime

    def list_pods(self, namespace: str | None, label_selector: str | None = None,
                  field_selector: str | None = None) -> list[dict]:
        """Copies of the matching pods, sorted by namespace and name (as a real LIST)."""
        return self.list_page(namespace, label_selector, field_selector)[0]

    def list_page(self, namespace: str | None, label_selector: str | None = None, field_selector: str | None = None,
                  after: tuple[str, str] | None = None, limit: int | None = None) -> tuple[list[dict], int]:
        """(copies of the matching pods after `after` (namespace, name), at most `limit` of them;
        how many more match): a page is cut before it is copied, so that a paged LIST of many
        pods does not copy them all for every page under the lock."""
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        with self.lock:
            pods = [
                runtime.pod for key, runtime in sorted(self._pods.items())
                if (namespace is None or key[0] == namespace) and (after is None or key > after)
                and labels(runtime.pod["metadata"].get("labels") or {}) and fields(runtime.pod)
            ]
            remaining = max(len(pods) - limit, 0) if limit else 0
            return copy.deepcopy(pods[:limit] if limit else pods), remaining

    def create_pod(self, namespace: str, body: dict, dry_run: bool = False) -> dict:
        """Validate and store a pod, start its lifecycle; the stored pod. Raises `ApiError` like the server."""
        if not isinstance(body, dict):
            raise ApiError(400, "the body of the request is not a JSON object")
        pod = copy.deepcopy(body)
        api_version, kind = pod.setdefault("apiVersion", "v1"), pod.setdefault("kind", "Pod")
        if api_version != "v1":
            raise ApiError(400, f"the API version in the data ({api_version}) does not match the expected API "
                                f"version (v1)")
        if kind != "Pod":
            raise ApiError(400, f"the kind in the data ({kind}) does not match the expected kind (Pod)")
        metadata = pod.get("metadata")
        if metadata is None:
            metadata = pod["metadata"] = {}
        if isinstance(metadata, dict) and metadata.get("namespace") not in (None, "", namespace):
            raise ApiError(400, "the namespace of the provided object does not match the namespace sent on "
                                "the request")
        with self.lock:
            if namespace not in self._namespaces:
                raise not_found(namespace, "namespaces")
        if isinstance(metadata, dict):
            if not metadata.get("name") and isinstance(metadata.get("generateName"), str):
                metadata["name"] = metadata["generateName"] + "".join(random.choices(_SUFFIX, k=5))
            for server_field in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                                 "deletionGracePeriodSeconds", "generation", "managedFields", "selfLink"):
                metadata.pop(server_field, None)
        pod.pop("status", None)  # the server ignores the status given on create
        causes = pod_causes(pod, self.kube_version)
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if causes:
            listed = [f"{c.field}: {c.message}" for c in causes]
            summary = listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]"
            raise ApiError(422, f'Pod "{name or ""}" is invalid: {summary}',
                           details={"name": name or "", "kind": "Pod", "causes": [c.as_dict() for c in causes]})
        _apply_defaults(pod)
        metadata.update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=now())
        pod["status"] = {"phase": "Pending", "qosClass": _qos_class(pod["spec"])}
        with self.lock:
            if (namespace, name) in self._pods:
                raise ApiError(409, f'pods "{name}" already exists', details={"name": name, "kind": "pods"})
            if dry_run:
                metadata.pop("uid")
                return copy.deepcopy(pod)
            outcome = None
            for fault in self._faults:
                if fault.kind == "outcome" and not fault.exhausted and fault.matches_pod(namespace, name):
                    fault.consume()
                    outcome = copy.copy(fault)
                    break
            # Names reach 253 characters; file names end at 255 bytes.
            directory = os.path.join(self.workdir, f"{namespace}_{name[:100]}_{metadata['uid'][:8]}")
            runtime = PodRuntime(self, namespace, name, pod, directory, outcome)
            self._pods[(namespace, name)] = runtime
            self._commit(runtime, "ADDED")
            runtime.thread.start()
            return copy.deepcopy(pod)

    def delete_pod(self, namespace: str, name: str, grace: int | None = None,
                   preconditions: dict | None = None) -> dict:
        """Delete as the API server does: deletionTimestamp, the kubelet stops the container, then it is gone."""
        with self.lock:
            runtime = self.get_runtime(namespace, name)
            metadata = runtime.pod["metadata"]
            preconditions = preconditions or {}
            for key in ("uid", "resourceVersion"):
                if preconditions.get(key) and preconditions[key] != metadata.get(key):
                    raise ApiError(409, f"Precondition failed: {key} in precondition: {preconditions[key]}, "
                                        f"{key} in object meta: {metadata.get(key)}", "Conflict",
                                   details={"name": name, "kind": "pods"})
            if grace is None:
                grace = runtime.pod["spec"].get("terminationGracePeriodSeconds", 30)
            grace = max(0, int(grace))
            if grace == 0 or "nodeName" not in runtime.pod["spec"]:
                metadata.setdefault("deletionTimestamp", now())
                metadata["deletionGracePeriodSeconds"] = 0
                self._remove(runtime)
            elif "deletionTimestamp" not in metadata:
                metadata["deletionTimestamp"] = _in_seconds(grace)
                metadata["deletionGracePeriodSeconds"] = grace
                self._commit(runtime, "MODIFIED")
                if runtime.done:
                    self._remove(runtime)
                else:
                    runtime.post("delete", grace)
            return copy.deepcopy(runtime.pod)

    # -- faults ---------------------------------------------------------------

    def inject(self, kind: str, **params) -> dict:
        """Inject a fault; its description (with `id`, and `pods` for pod faults). See `faults.py` and the docs.

        Request faults: error, throttle, delay, drop_watch. Pod faults, done at
        once to the existing pods matching `name` (a glob): evict, oom, vanish
        (`LookupError` when no pod matches). Rules for pods created later: outcome.
        """
        fault = make_fault(kind, params)
        if kind in POD_KINDS:
            return self._pod_fault(fault)
        with self.lock:
            self._faults.append(fault)
            return fault.as_dict()

    def _pod_fault(self, fault: Fault) -> dict:
        with self.lock:
            hit = []
            for (namespace, name), runtime in sorted(self._pods.items()):
                if not fault.matches_pod(namespace, name):
                    continue
                if fault.kind == "vanish":
                    metadata = runtime.pod["metadata"]
                    metadata.setdefault("deletionTimestamp", now())
                    metadata["deletionGracePeriodSeconds"] = 0
                    self._remove(runtime)
                elif runtime.terminal or runtime.done or "deletionTimestamp" in runtime.pod["metadata"]:
                    continue  # over or going: nothing left to evict or kill
                elif fault.kind == "evict":
                    runtime.post("evict", fault.message)
                else:
                    runtime.post("oom")
                hit.append(f"{namespace}/{name}")
            if not hit:
                raise LookupError(f"no {'' if fault.kind == 'vanish' else 'live '}pod matches "
                                  f"{fault.namespace + '/' if fault.namespace else ''}{fault.name}")
            fault.fired = len(hit)
            return {**fault.as_dict(), "pods": hit}

    def faults(self) -> list[dict]:
        """The request faults and outcome rules still active."""
        with self.lock:
            return [fault.as_dict() for fault in self._faults if not fault.exhausted]

    def clear_faults(self, fault_id: int | None = None) -> None:
        """Remove one fault (by id) or all of them; `KeyError` for an unknown id."""
        with self.lock:
            if fault_id is None:
                self._faults.clear()
                return
            kept = [fault for fault in self._faults if fault.id != fault_id]
            if len(kept) == len(self._faults):
                raise KeyError(fault_id)
            self._faults[:] = kept

    def request_faults(self, method: str, verb: str, path: str) -> tuple[float, Fault | None, Fault | None]:
        """(total delay, the error or throttle fault, the drop_watch fault) that fire for this request."""
        delay, failure, drop = 0.0, None, None
        with self.lock:
            for fault in self._faults:
                if fault.kind not in REQUEST_KINDS or not fault.matches_request(method, verb, path):
                    continue
                if fault.kind == "delay":
                    if fault.consume():
                        delay += fault.delay
                elif fault.kind == "drop_watch":
                    if drop is None and fault.consume():
                        drop = fault
                elif failure is None and fault.consume():
                    failure = fault
            self._faults[:] = [fault for fault in self._faults if not fault.exhausted]
        return delay, failure, drop

    # -- the record of requests -------------------------------------------------

    def record(self, entry: dict) -> dict:
        with self.lock:
            entry["seq"] = next(self._seq)
            self._requests.append(entry)
            return entry

    @property
    def requests(self) -> list[dict]:
        """Every Kubernetes API request so far (not the /_sim ones), oldest first, as copies.

        Each: seq, time (epoch seconds), method, path, query (name -> last value),
        verb (create, get, list, watch, delete, deletecollection, log, discovery, or ''),
        namespace, name (the pod's, for create too), status (HTTP code answered),
        fault (the injected fault kind that answered it, or None).
        """
        with self.lock:
            return copy.deepcopy(self._requests)

    def reset_requests(self) -> None:
        with self.lock:
            self._requests.clear()

    # -- inspection -------------------------------------------------------------

    def pods(self, namespace: str | None = None, label_selector: str | None = None) -> list[dict]:
        """Copies of the stored pods (all namespaces by default), as the API would list them."""
        return self.list_pods(namespace, label_selector)

    def pod(self, name: str, namespace: str = "default") -> dict | None:
        with self.lock:
            runtime = self._pods.get((namespace, name))
            return None if runtime is None else copy.deepcopy(runtime.pod)

    def log(self, name: str, namespace: str = "default", container: str | None = None) -> str:
        with self.lock:
            runtime = self.get_runtime(namespace, name)
            log = runtime.logs[container or runtime.containers[0]]
        return log.text().decode("utf-8", errors="replace")

    def wait_for_pod(self, name: str, namespace: str = "default", phases: Iterable[str] = ("Succeeded", "Failed"),
                     timeout: float = 10.0, gone: bool = False) -> dict | None:
        """Wait until the pod is in one of `phases` (or, with gone=True, deleted); the pod (None when gone).

        `TimeoutError` after `timeout` seconds.
        """
        phases = tuple(phases)
        end = time.monotonic() + timeout
        with self.lock:
            while True:
                runtime = self._pods.get((namespace, name))
                if gone and runtime is None:
                    return None
                if not gone and runtime is not None and runtime.pod["status"].get("phase") in phases:
                    return copy.deepcopy(runtime.pod)
                remaining = end - time.monotonic()
                if remaining <= 0:
                    state = "absent" if runtime is None else runtime.pod["status"].get("phase")
                    wanted = "gone" if gone else " or ".join(phases)
                    raise TimeoutError(f"pod {namespace}/{name} is {state}, not {wanted}, after {timeout} s")
                self.changed.wait(remaining)

    def reset(self) -> None:
        """Forget everything: faults, the record of requests and every pod (their processes are killed)."""
        with self.lock:
            self._faults.clear()
            self._requests.clear()
            for runtime in list(self._pods.values()):
                self._remove(runtime)
            self.objects.items.clear()


def _in_seconds(seconds: int) -> str:
    import datetime as dt

    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _apply_defaults(pod: dict) -> None:
    """The defaults the API server and its admission plugins write into a created pod."""
    spec = pod["spec"]
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
    for volume in spec.get("volumes") or []:
        if len(volume) == 1:  # a volume with no source is an emptyDir
            volume["emptyDir"] = {}
        for kind in ("downwardAPI", "secret", "configMap", "projected"):
            if isinstance(volume.get(kind), dict):
                volume[kind].setdefault("defaultMode", 0o644)
        for item in (volume.get("downwardAPI") or {}).get("items") or []:
            if isinstance(item.get("fieldRef"), dict):
                item["fieldRef"].setdefault("apiVersion", "v1")
    for container in spec.get("initContainers", []) + spec["containers"]:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        image = container.get("image", "")
        tag = image.rsplit("/", 1)[-1]
        latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        resources = container.setdefault("resources", {})
        limits = resources.get("limits") or {}
        if limits:
            requests = resources.setdefault("requests", {})
            for resource, quantity in limits.items():
                requests.setdefault(resource, quantity)


def _qos_class(spec: dict) -> str:
    containers = spec["containers"]
    resources = [c.get("resources") or {} for c in containers]
    if not any((r.get("requests") or {}) or (r.get("limits") or {}) for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        for resource in ("cpu", "memory"):
            if resource not in limits or str(requests.get(resource, limits[resource])) != str(limits[resource]):
                return "Burstable"
    return "Guaranteed"


__all__ = ["FaultError", "KubeSimulator"]
