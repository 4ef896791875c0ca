"""The HTTP side of the simulator: Kubernetes REST routes for core/v1 pods, and
the control routes under `/_sim/`.

HTTP/1.1 with keep-alive; ordinary answers have a Content-Length, watches and
followed logs are chunked streams of newline-delimited JSON (or text).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import select
import socket
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

import yaml

from .errors import ApiError, not_found
from .faults import FaultError
from .logs import parse_time, render
from .selectors import SelectorError, parse_field_selector, parse_label_selector

if TYPE_CHECKING:
    from .simulator import KubeSimulator

OBJECT_KINDS = {"persistentvolumeclaims": "PersistentVolumeClaim", "configmaps": "ConfigMap", "secrets": "Secret"}
RESOURCE_NAMES = {"Pod": "pods", **{kind: resource for resource, kind in OBJECT_KINDS.items()}}
BODY_LIMIT = 3 * 1024 * 1024  # the API server's request size limit
DEFAULT_WATCH_TIMEOUT = 1800.0  # seconds; a real server picks 30 to 60 minutes
_POD_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/pods(?:/([^/]+)(?:/(log|status))?)?$")
_NAMESPACE_PATH = re.compile(r"^/api/v1/namespaces(?:/([^/]+))?$")
_OBJECT_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/(persistentvolumeclaims|configmaps|secrets)(?:/([^/]+))?$")
_ALL_OBJECTS_PATH = re.compile(r"^/api/v1/(persistentvolumeclaims|configmaps|secrets)$")

API_RESOURCES = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
         "verbs": ["get", "list"], "shortNames": ["ns"]},
        {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
         "verbs": ["create", "delete", "deletecollection", "get", "list", "watch"], "shortNames": ["po"],
         "categories": ["all"]},
        {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
        {"name": "pods/status", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
        {"name": "persistentvolumeclaims", "singularName": "persistentvolumeclaim", "namespaced": True,
         "kind": "PersistentVolumeClaim", "verbs": ["create", "delete", "get", "list"], "shortNames": ["pvc"]},
        {"name": "configmaps", "singularName": "configmap", "namespaced": True, "kind": "ConfigMap",
         "verbs": ["create", "delete", "get", "list", "update"], "shortNames": ["cm"]},
        {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret",
         "verbs": ["create", "delete", "get", "list", "update"]},
    ],
}


class _Route:
    def __init__(self, verb: str, action, namespace: str | None = None, name: str | None = None,
                 kind: str = "Pod"):
        self.verb, self.action, self.namespace, self.name = verb, action, namespace, name
        self.kind = kind  # Pod, PersistentVolumeClaim, ConfigMap or Secret


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sim: KubeSimulator, address: tuple[str, int]):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sim = sim
        super().__init__(address, Handler)

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


def make_server(sim: KubeSimulator, host: str, port: int) -> SimulatorServer:
    return SimulatorServer(sim, (host, port))


def _boolean(query: dict, name: str) -> bool:
    return query.get(name, "").lower() in ("true", "1")


def _since(query: dict) -> int | None:
    """The time (ns) from which a log is shown: `sinceSeconds` before now, or `sinceTime`; as a
    real API server, at most one of them, and `sinceSeconds` at least 1 (422 Invalid otherwise)."""
    seconds, moment = query.get("sinceSeconds"), query.get("sinceTime")
    causes = []
    if seconds not in (None, "") and moment not in (None, ""):
        causes.append({"reason": "FieldValueForbidden", "field": "sinceSeconds",
                       "message": "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"})
    since = None
    if seconds not in (None, ""):
        try:
            number = int(seconds)
        except ValueError:
            raise ApiError(400, f"invalid value for sinceSeconds: {seconds!r} is not an integer") from None
        if number < 1:
            causes.append({"reason": "FieldValueInvalid", "field": "sinceSeconds",
                           "message": f"Invalid value: {number}: must be greater than 0"})
        since = time.time_ns() - number * 1_000_000_000
    elif moment not in (None, ""):
        since = parse_time(moment)
        if since is None:
            raise ApiError(400, f"invalid value for sinceTime: {moment!r} is not an RFC 3339 time")
    if causes:
        raise ApiError(422, "PodLogOptions \"\" is invalid: " + ", ".join(
            f"{cause['field']}: {cause['message']}" for cause in causes),
            details={"kind": "PodLogOptions", "causes": causes})
    return since


def _integer(query: dict, name: str, minimum: int | None = 0) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"invalid value for {name}: {value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ApiError(400, f"invalid value for {name}: must be >= {minimum}")
    return number


def _body_name(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        try:
            data = yaml.safe_load(body)
        except yaml.YAMLError:
            return None
    metadata = data.get("metadata") if isinstance(data, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) and name else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-simulator"
    server: SimulatorServer

    def version_string(self) -> str:
        return self.server_version

    @property
    def sim(self) -> KubeSimulator:
        return self.server.sim

    def setup(self) -> None:
        super().setup()
        with self.sim.lock:
            self.sim.connections.add(self.connection)
        try:  # headers and body are separate writes: without this, Nagle and delayed ACKs add 40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.sim.lock:
                self.sim.connections.discard(self.connection)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        if self.sim.verbose:
            sys.stderr.write(f"kube-simulator: {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:  # noqa: N802 - the base class's naming
        self.dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self.dispatch("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self.dispatch("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self.dispatch("PATCH")

    def do_HEAD(self) -> None:  # noqa: N802
        self.dispatch("HEAD")

    def do_OPTIONS(self) -> None:  # noqa: N802
        self.dispatch("OPTIONS")

    # -- plumbing ---------------------------------------------------------------

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
                if len(data) > BODY_LIMIT:
                    raise ApiError(413, "Request entity too large: limit is 3145728")
        length = int(self.headers.get("Content-Length") or 0)
        if length > BODY_LIMIT:
            self.close_connection = True
            raise ApiError(413, "Request entity too large: limit is 3145728")
        return self.rfile.read(length) if length else b""

    def send_body(self, code: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, code: int, body: object, headers: dict | None = None) -> None:
        self.send_body(code, json.dumps(body).encode(), "application/json", headers)

    def start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

    def write_chunk(self, data: bytes) -> bool:
        """Send one chunk; False when the client is gone."""
        if not data:
            return True
        try:
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
            return True
        except OSError:
            self.close_connection = True
            return False

    def end_stream(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True

    def client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
        return False

    def parse_body(self, data: bytes) -> object:
        content_type = self.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()
        try:
            if content_type in ("application/yaml", "application/x-yaml", "text/yaml"):
                return yaml.safe_load(data.decode("utf-8"))
            return json.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise ApiError(400, f"couldn't get version/kind; json parse error: {error}") from None

    # -- dispatch ---------------------------------------------------------------

    def dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        entry = None
        try:
            body = self.read_body()
            if path == "/_sim" or path.startswith("/_sim/"):
                self.control(method, path, query, body)
                return
            entry = {"time": time.time(), "method": method, "path": path, "query": query, "verb": "",
                     "namespace": None, "name": None, "status": None, "fault": None}
            try:
                route = self.route(method, path, query)
            finally:
                self.sim.record(entry)  # in the order of arrival; the status is set when answered
            entry.update(verb=route.verb, namespace=route.namespace, name=route.name,
                         resource=RESOURCE_NAMES.get(route.kind, "") if route.verb != "discovery" else "")
            if route.verb == "create":  # the record names the pod even when the create fails
                entry["name"] = _body_name(body)
            delay, failure, drop = self.sim.request_faults(method, route.verb, path)
            if delay:
                entry["fault"] = "delay"
                time.sleep(delay)
            if failure is not None:
                entry["fault"] = failure.kind
                if failure.processed:
                    self.process_quietly(route, query, body)
                raise self.fault_error(failure)
            self._kind = route.kind
            route.action(entry, query, body, drop)
        except ApiError as error:
            self.answer_error(error, entry)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as error:  # noqa: BLE001 - answered as a 500 InternalError, like the server
            traceback.print_exc()
            self.answer_error(ApiError(500, f"kube-simulator: {type(error).__name__}: {error}"), entry)

    def answer_error(self, error: ApiError, entry: dict | None) -> None:
        if entry is not None:
            entry["status"] = error.code
        try:
            self.send_json(error.code, error.body, error.headers)
        except OSError:
            self.close_connection = True

    def answer(self, entry: dict, code: int, body: object) -> None:
        entry["status"] = code
        self.send_json(code, body)

    def process_quietly(self, route: _Route, query: dict, body: bytes) -> None:
        """Carry out a create or delete whose answer an `error` fault with `processed` replaces."""
        try:
            if route.kind != "Pod":
                if route.verb == "create":
                    self.sim.objects.create(route.kind, route.namespace, self.parse_body(body))
                elif route.verb == "delete":
                    self.sim.objects.delete(route.kind, route.namespace, route.name)
            elif route.verb == "create":
                self.sim.create_pod(route.namespace, self.parse_body(body), dry_run=query.get("dryRun") == "All")
            elif route.verb == "delete":
                options = self.parse_body(body) if body.strip() else {}
                grace = _integer(query, "gracePeriodSeconds")
                if grace is None and isinstance(options, dict):
                    grace = options.get("gracePeriodSeconds")
                self.sim.delete_pod(route.namespace, route.name, grace)
        except ApiError:
            pass  # it would have failed anyway; the injected error is answered

    def fault_error(self, fault) -> ApiError:
        if fault.kind == "throttle":
            return ApiError(429, fault.message or "Too many requests, please try again later.",
                            details={"retryAfterSeconds": fault.retry_after},
                            headers={"Retry-After": str(fault.retry_after)})
        messages = {500: "Internal error occurred: injected by kube-simulator",
                    503: "the server is currently unable to handle the request",
                    504: "the server was unable to return a response in the time allotted, but may still be "
                         "processing the request"}
        message = fault.message or messages.get(fault.status, f"injected error {fault.status}")
        if fault.retry_after is None:
            return ApiError(fault.status, message)
        return ApiError(fault.status, message, details={"retryAfterSeconds": fault.retry_after},
                        headers={"Retry-After": str(fault.retry_after)})

    def route(self, method: str, path: str, query: dict) -> _Route:
        def allow(methods: dict) -> _Route:
            if method in methods:
                return methods[method]
            raise ApiError(405, "the server does not allow this method on the requested resource")

        if path in ("/healthz", "/livez", "/readyz"):
            return allow({"GET": _Route("discovery", self.health)})
        if path == "/version":
            return allow({"GET": _Route("discovery", self.version)})
        if path == "/api":
            return allow({"GET": _Route("discovery", self.api_versions)})
        if path == "/api/v1":
            return allow({"GET": _Route("discovery", self.api_resources)})
        if path == "/apis":
            return allow({"GET": _Route("discovery", self.api_groups)})
        if path == "/api/v1/pods":
            verb = "watch" if _boolean(query, "watch") else "list"
            return allow({"GET": _Route(verb, self.list_or_watch)})
        match = _POD_PATH.match(path)
        if match:
            namespace, name, sub = match.groups()
            if name is None:
                verb = "watch" if _boolean(query, "watch") else "list"
                return allow({
                    "GET": _Route(verb, self.list_or_watch, namespace),
                    "POST": _Route("create", self.create, namespace),
                    "DELETE": _Route("deletecollection", self.delete_collection, namespace),
                })
            if sub == "log":
                return allow({"GET": _Route("log", self.log, namespace, name)})
            if sub == "status":
                return allow({"GET": _Route("get", self.get, namespace, name)})
            return allow({"GET": _Route("get", self.get, namespace, name),
                          "DELETE": _Route("delete", self.delete, namespace, name)})
        match = _OBJECT_PATH.match(path)
        if match:
            namespace, resource, name = match.groups()
            kind = OBJECT_KINDS[resource]
            if name is None:
                return allow({"GET": _Route("list", self.list_objects, namespace, kind=kind),
                              "POST": _Route("create", self.create_object, namespace, kind=kind)})
            routes = {"GET": _Route("get", self.get_object, namespace, name, kind=kind),
                      "DELETE": _Route("delete", self.delete_object, namespace, name, kind=kind)}
            if kind != "PersistentVolumeClaim":
                routes["PUT"] = _Route("update", self.replace_object, namespace, name, kind=kind)
            return allow(routes)
        match = _ALL_OBJECTS_PATH.match(path)
        if match:
            return allow({"GET": _Route("list", self.list_objects, None, kind=OBJECT_KINDS[match.group(1)])})
        match = _NAMESPACE_PATH.match(path)
        if match:
            return allow({"GET": _Route("get" if match.group(1) else "list", self.namespaces, None, match.group(1),
                                        kind="Namespace")})
        raise ApiError(404, "the server could not find the requested resource")

    # -- discovery ----------------------------------------------------------------

    def health(self, entry, query, body, drop) -> None:
        entry["status"] = 200
        self.send_body(200, b"ok", "text/plain; charset=utf-8")

    def version(self, entry, query, body, drop) -> None:
        major, minor = self.sim.kube_version.split(".")[:2]
        self.answer(entry, 200, {
            "major": major, "minor": minor, "gitVersion": f"v{major}.{minor}.0-kube-simulator",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc",
            "platform": "linux/amd64",
        })

    def api_versions(self, entry, query, body, drop) -> None:
        host, port = self.server.server_address[:2]
        self.answer(entry, 200, {
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"{host}:{port}"}],
        })

    def api_resources(self, entry, query, body, drop) -> None:
        self.answer(entry, 200, API_RESOURCES)

    def api_groups(self, entry, query, body, drop) -> None:
        self.answer(entry, 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

    def namespaces(self, entry, query, body, drop) -> None:
        if entry["name"]:
            self.answer(entry, 200, self.sim.namespace_object(entry["name"]))
            return
        items = [self.sim.namespace_object(name) for name in self.sim.namespaces()]
        for item in items:
            item.pop("kind"), item.pop("apiVersion")
        self.answer(entry, 200, {"kind": "NamespaceList", "apiVersion": "v1",
                                 "metadata": {"resourceVersion": str(self.sim.resource_version)}, "items": items})

    # -- persistentvolumeclaims, configmaps, secrets ------------------------------

    def create_object(self, entry, query, body, drop) -> None:
        kind = self._kind
        created = self.sim.objects.create(kind, entry["namespace"], self.parse_body(body),
                                          dry_run=query.get("dryRun") == "All")
        entry["name"] = created["metadata"]["name"]
        self.answer(entry, 201, created)

    def get_object(self, entry, query, body, drop) -> None:
        found = self.sim.objects.get(self._kind, entry["namespace"], entry["name"])
        if found is None:
            raise not_found(entry["name"], self._kind.lower() + "s")
        self.answer(entry, 200, found)

    def list_objects(self, entry, query, body, drop) -> None:
        kind = self._kind
        items = self.sim.objects.list(kind, entry["namespace"], query.get("labelSelector"))
        for item in items:
            item.pop("kind", None), item.pop("apiVersion", None)
        self.answer(entry, 200, {"kind": kind + "List", "apiVersion": "v1",
                                 "metadata": {"resourceVersion": str(self.sim.resource_version)}, "items": items})

    def replace_object(self, entry, query, body, drop) -> None:
        self.answer(entry, 200, self.sim.objects.replace(self._kind, entry["namespace"], entry["name"],
                                                         self.parse_body(body)))

    def delete_object(self, entry, query, body, drop) -> None:
        self.answer(entry, 200, self.sim.objects.delete(self._kind, entry["namespace"], entry["name"]))

    # -- pods -------------------------------------------------------------------

    def create(self, entry, query, body, drop) -> None:
        pod = self.parse_body(body)
        dry_run = query.get("dryRun") == "All"
        created = self.sim.create_pod(entry["namespace"], pod, dry_run=dry_run)
        entry["name"] = created["metadata"]["name"]
        self.answer(entry, 201, created)

    def get(self, entry, query, body, drop) -> None:
        with self.sim.lock:
            pod = self.sim.pod(entry["name"], entry["namespace"])
        if pod is None:
            raise not_found(entry["name"])
        self.answer(entry, 200, pod)

    def delete(self, entry, query, body, drop) -> None:
        options = self.parse_body(body) if body.strip() else {}
        if not isinstance(options, dict):
            raise ApiError(400, "the body of a delete must be a DeleteOptions object")
        grace = _integer(query, "gracePeriodSeconds")
        if grace is None and options.get("gracePeriodSeconds") is not None:
            grace = options["gracePeriodSeconds"]
            if not isinstance(grace, int) or grace < 0:
                raise ApiError(400, "gracePeriodSeconds must be a non-negative integer")
        pod = self.sim.delete_pod(entry["namespace"], entry["name"], grace, options.get("preconditions"))
        self.answer(entry, 200, pod)

    def delete_collection(self, entry, query, body, drop) -> None:
        options = self.parse_body(body) if body.strip() else {}
        grace = _integer(query, "gracePeriodSeconds")
        if grace is None and isinstance(options, dict):
            grace = options.get("gracePeriodSeconds")
        try:
            pods = self.sim.list_pods(entry["namespace"], query.get("labelSelector"), query.get("fieldSelector"))
        except SelectorError as error:
            raise ApiError(400, str(error)) from None
        deleted = []
        for pod in pods:
            try:
                deleted.append(self.sim.delete_pod(entry["namespace"], pod["metadata"]["name"], grace))
            except ApiError:
                continue  # gone in between
        self.answer(entry, 200, {"kind": "PodList", "apiVersion": "v1",
                                 "metadata": {"resourceVersion": str(self.sim.resource_version)}, "items": deleted})

    def list_or_watch(self, entry, query, body, drop) -> None:
        try:
            labels = parse_label_selector(query.get("labelSelector"))
            fields = parse_field_selector(query.get("fieldSelector"))
        except SelectorError as error:
            raise ApiError(400, str(error)) from None
        namespace = entry["namespace"]
        if entry["verb"] == "watch":
            self.watch(entry, query, namespace, labels, fields, drop)
            return
        limit = _integer(query, "limit")
        token = query.get("continue") or ""
        start = None
        if token:
            try:
                after = json.loads(base64.urlsafe_b64decode(token.encode()))
                start = (after["namespace"], after["name"])
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise ApiError(400, "continue key is not valid: incorrect encoded start resourceVersion") from None
        with self.sim.lock:
            rv = self.sim.resource_version
            items, remaining = self.sim.list_page(namespace, query.get("labelSelector"), query.get("fieldSelector"),
                                                  after=start, limit=limit)
        metadata = {"resourceVersion": str(rv)}
        if remaining:
            last = items[-1]["metadata"]
            metadata["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"namespace": last["namespace"], "name": last["name"]}).encode()).decode()
            metadata["remainingItemCount"] = remaining
        for item in items:  # items of a list have no kind or apiVersion, as from a real server
            item.pop("kind", None), item.pop("apiVersion", None)
        self.answer(entry, 200, {"kind": "PodList", "apiVersion": "v1", "metadata": metadata, "items": items})

    def watch(self, entry, query, namespace, labels, fields, drop) -> None:
        sim = self.sim
        timeout = _integer(query, "timeoutSeconds") or DEFAULT_WATCH_TIMEOUT  # 0: the default, as in Kubernetes
        ends_at = time.monotonic() + timeout
        requested = query.get("resourceVersion", "")

        def matches(namespace_of: str, pod: dict) -> bool:
            return ((namespace is None or namespace_of == namespace)
                    and labels(pod["metadata"].get("labels") or {}) and fields(pod))

        initial: list[dict] = []
        expired = None
        with sim.lock:
            if requested in ("", "0"):
                last = sim.resource_version
                initial = [{"type": "ADDED", "object": pod} for pod in sim.list_pods(namespace)
                           if matches(pod["metadata"]["namespace"], pod)]
            else:
                try:
                    last = int(requested)
                except ValueError:
                    raise ApiError(400, f"invalid resource version: {requested!r}") from None
                try:
                    sim.check_resource_version(last)
                except ApiError as error:
                    expired = error
        entry["status"] = 200
        self.start_stream("application/json")
        if expired is not None:  # like the server: a 200 stream with one ERROR event
            self.write_chunk(json.dumps({"type": "ERROR", "object": expired.body}).encode() + b"\n")
            self.end_stream()
            return
        sent = 0

        def send(event: dict) -> bool:
            nonlocal sent
            if not self.write_chunk(json.dumps(event).encode() + b"\n"):
                return False
            sent += 1
            return True

        def dropped() -> bool:
            if drop is None or sent < drop.events:
                return False
            if drop.mode == "reset":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            else:
                self.end_stream()
            return True

        if dropped():
            return
        for event in initial:
            if not send(event):
                return
            if dropped():
                return
        while True:
            with sim.lock:
                events = sim.events_after(last)
                if not events and not sim.stopping:
                    sim.changed.wait(max(0.0, min(0.5, ends_at - time.monotonic())))
                    events = sim.events_after(last)
            for event in events:
                last = event.rv
                if matches(event.namespace, event.object):
                    if not send({"type": event.type, "object": event.object}):
                        return
                    if dropped():
                        return
            if sim.stopping:
                self.close_connection = True
                return
            if time.monotonic() >= ends_at:
                self.end_stream()
                return
            if not events and self.client_gone():
                self.close_connection = True
                return

    def log(self, entry, query, body, drop) -> None:
        sim = self.sim
        with sim.lock:
            runtime = sim._pods.get((entry["namespace"], entry["name"]))
            if runtime is None:
                raise not_found(entry["name"])
            container = query.get("container") or ""
            if not container:
                if len(runtime.containers) > 1:
                    raise ApiError(400, f"a container name must be specified for pod {entry['name']}, choose one "
                                        f"of: [{' '.join(runtime.containers)}]")
                container = runtime.containers[0]
            if container not in runtime.containers and container not in runtime.init_containers:
                raise ApiError(400, f"container {container} is not valid for pod {entry['name']}")
            if _boolean(query, "previous"):
                raise ApiError(400, f'previous terminated container "{container}" in pod "{entry["name"]}" not found')
            statuses = ((runtime.pod["status"].get("containerStatuses") or [])
                        + (runtime.pod["status"].get("initContainerStatuses") or []))
            state = next((s["state"] for s in statuses if s["name"] == container), {})
            if "waiting" in state or not state:
                reason = state.get("waiting", {}).get("reason", "ContainerCreating") if state else "PodInitializing"
                raise ApiError(400, f'container "{container}" in pod "{entry["name"]}" is waiting to start: {reason}')
            log = runtime.logs[container]
        tail = _integer(query, "tailLines")
        limit = _integer(query, "limitBytes", minimum=1)
        timestamps = _boolean(query, "timestamps")
        since = _since(query)

        def select_text(data: bytes) -> bytes:
            return data[:limit] if limit is not None else data

        if not _boolean(query, "follow"):
            entry["status"] = 200
            self.send_body(200, select_text(log.text(timestamps=timestamps, since=since, tail=tail)),
                           "text/plain; charset=utf-8")
            return
        entry["status"] = 200
        self.start_stream("text/plain; charset=utf-8")
        records, position = log.records()
        if tail is not None:
            records = records[-tail:] if tail else []
        first = select_text(render(records, timestamps, since))
        sent = len(first)
        if not self.write_chunk(first):
            return
        while True:
            ended = runtime.removed or runtime.terminal or sim.stopping
            records, position = log.records(position)
            more = render(records, timestamps, since)
            if limit is not None:
                more = more[:max(0, limit - sent)]
            sent += len(more)
            if not self.write_chunk(more):
                return
            if ended or (limit is not None and sent >= limit):
                self.end_stream()
                return
            if not more and self.client_gone():
                self.close_connection = True
                return
            time.sleep(0.05)  # a followed log is read as it grows

    # -- /_sim: control ---------------------------------------------------------

    def control(self, method: str, path: str, query: dict, body: bytes) -> None:
        sim = self.sim
        try:
            if path in ("/_sim", "/_sim/") and method == "GET":
                self.send_json(200, {"endpoints": [
                    "GET /_sim/requests", "DELETE /_sim/requests", "GET /_sim/faults", "POST /_sim/faults",
                    "DELETE /_sim/faults", "DELETE /_sim/faults/{id}", "GET /_sim/pods", "POST /_sim/namespaces",
                    "POST /_sim/reset"]})
            elif path == "/_sim/requests" and method == "GET":
                items = sim.requests
                since = _integer(query, "since")
                if since is not None:
                    items = [item for item in items if item["seq"] > since]
                if query.get("verb"):
                    items = [item for item in items if item["verb"] == query["verb"]]
                self.send_json(200, {"items": items})
            elif path == "/_sim/requests" and method == "DELETE":
                sim.reset_requests()
                self.send_json(200, {"items": []})
            elif path == "/_sim/faults" and method == "GET":
                self.send_json(200, {"items": sim.faults()})
            elif path == "/_sim/faults" and method == "POST":
                params = self.parse_body(body) if body.strip() else None
                if not isinstance(params, dict) or not isinstance(params.get("kind"), str):
                    raise ApiError(400, 'a fault is a JSON object with a "kind"')
                params = dict(params)
                self.send_json(201, sim.inject(params.pop("kind"), **params))
            elif path == "/_sim/faults" and method == "DELETE":
                sim.clear_faults()
                self.send_json(200, {"items": []})
            elif path.startswith("/_sim/faults/") and method == "DELETE":
                try:
                    sim.clear_faults(int(path.rsplit("/", 1)[1]))
                except (KeyError, ValueError):
                    raise ApiError(404, f"no fault {path.rsplit('/', 1)[1]}") from None
                self.send_json(200, {"items": sim.faults()})
            elif path == "/_sim/pods" and method == "GET":
                self.send_json(200, {"items": sim.pods(query.get("namespace") or None, query.get("labelSelector"))})
            elif path == "/_sim/namespaces" and method == "POST":
                params = self.parse_body(body) if body.strip() else None
                if not isinstance(params, dict) or not isinstance(params.get("name"), str):
                    raise ApiError(400, 'a namespace is a JSON object with a "name"')
                sim.add_namespace(params["name"])
                self.send_json(201, sim.namespace_object(params["name"]))
            elif path == "/_sim/reset" and method == "POST":
                sim.reset()
                self.send_json(200, {"items": []})
            elif path in ("/_sim", "/_sim/requests", "/_sim/faults", "/_sim/pods", "/_sim/namespaces",
                          "/_sim/reset") or path.startswith("/_sim/faults/"):
                raise ApiError(405, f"{method} is not allowed on {path}")
            else:
                raise ApiError(404, f"no simulator endpoint {path}")
        except (FaultError, TypeError, SelectorError) as error:
            self.send_json(400, ApiError(400, str(error)).body)
        except LookupError as error:
            self.send_json(404, ApiError(404, str(error.args[0] if error.args else error)).body)
        except ApiError as error:
            self.send_json(error.code, error.body)
