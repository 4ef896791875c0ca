"""The Kubernetes API as the backend uses it, through the official `kubernetes` client.

- The client is made from settings (`KUBE_HOST`, else `KUBE_CONFIG`, else the
  in-cluster service account, else `$KUBECONFIG` or `~/.kube/config`), once per
  process and configuration: reading a kubeconfig costs milliseconds.
- Every request goes through `call`: 429 (honouring a short `Retry-After`),
  5xx, timeouts and connection errors are retried, `tries` tries within about
  a second; what still fails is an `ApiError` naming the request, the HTTP
  status, the API's reason and message and, for a refused pod, the causes.
  urllib3's own retries are off: they would retry behind our back, unbounded
  by our backoff and invisible in our logs.
- Pods are read as plain dicts (`_preload_content=False`): the client's model
  objects cost more to build than the request and carry nothing more.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping

from ..extras import require
from ..telemetry import instruments
from .base import SubmitError
from .manifests import CONTAINER, SELECTOR

logger = logging.getLogger("polyflow.backends.kubernetes")
WHAT = "the kubernetes backend"  # what needs the `kubernetes` extra, in its message

_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()
PAGE = 500  # pods per LIST page: a sync is one request up to this many pods


class ApiError(Exception):
    """A request to the API server that failed (after retries, when retryable)."""

    def __init__(self, what: str, status: int, reason: str = "", message: str = "", causes=(),
                 retryable: bool = False):
        self.what, self.status, self.reason, self.causes, self.retryable = what, status, reason, list(causes), retryable
        self.api_message = message
        detail = f"HTTP {status}" if status else "no answer"
        if reason:
            detail += f" {reason}"
        text = f"{what}: {detail}"
        if message:
            text += f": {message}"
        if self.causes:
            text += "; causes: " + "; ".join(
                f"{cause.get('field') or '-'}: {cause.get('message') or cause.get('reason') or ''}"
                for cause in self.causes)
        super().__init__(text)


def api_error(what: str, error: Exception) -> ApiError:
    """The ApiError for what the client raised: an ApiException with the API's Status
    in its body, or one of urllib3's connection errors and timeouts."""
    ApiException = require("kubernetes", "kubernetes.client.exceptions", WHAT).ApiException

    if isinstance(error, ApiException):
        status = int(error.status or 0)
        reason, message, causes = error.reason or "", "", []
        body = error.body
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        if isinstance(data, dict):
            reason = data.get("reason") or reason
            message = data.get("message") or ""
            causes = (data.get("details") or {}).get("causes") or []
        elif body:
            message = str(body)[:500]
        retryable = status == 0 or status == 429 or status >= 500
        return ApiError(what, status, reason, message, causes, retryable)
    # urllib3's connection errors and timeouts, sockets closed under us.
    return ApiError(what, 0, type(error).__name__, str(error)[:500], retryable=True)


def retry_after(error: Exception) -> float | None:
    """The seconds a 429 or 503 asked us to wait, if it said."""
    headers = getattr(error, "headers", None) or {}
    try:
        value = headers.get("Retry-After") if hasattr(headers, "get") else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def submit_error(error: ApiError) -> SubmitError:
    """400 and 422 (the API server refuses the pod) fail the attempt; anything else is
    worth submitting again at the next tick."""
    return SubmitError(str(error), permanent=error.status in (400, 422))


def _json(response) -> dict:
    data = response.data if hasattr(response, "data") else response
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return json.loads(data) if isinstance(data, str) else data


class KubeClient:
    """Pods of one namespace of one API server."""

    def __init__(self, host: str, namespace: str, config_file: str = "", tries: int = 3, backoff: float = 0.25,
                 request_timeout: float = 10.0, delete_grace: int = 30):
        self.host = host
        self.namespace = namespace
        self.config_file = config_file
        self.tries = max(1, tries)
        self.backoff = backoff
        self.request_timeout = float(request_timeout)
        self.delete_grace = delete_grace
        self._core = None

    @property
    def core(self):
        """The CoreV1Api, made once per process and configuration (kubeconfig read once)."""
        if self._core is None:
            key = (self.host, self.config_file, bool(os.environ.get("KUBERNETES_SERVICE_HOST")))
            with _clients_lock:
                if key not in _clients:
                    try:
                        _clients[key] = self._make_client()
                    except Exception as error:  # no kubeconfig, no service account: say which
                        raise ApiError(f"configure the Kubernetes client ({self.server})", 0, type(error).__name__,
                                       str(error)) from error
                self._core = _clients[key]
        return self._core

    def _make_client(self):
        client = require("kubernetes", "kubernetes.client", WHAT)
        config = require("kubernetes", "kubernetes.config", WHAT)
        import urllib3  # the client's own HTTP library, there once the client is

        configuration = client.Configuration()
        if self.host:
            configuration.host = self.host.rstrip("/")
        elif os.environ.get("KUBERNETES_SERVICE_HOST") and not self.config_file:
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(config_file=self.config_file or None, client_configuration=configuration)
        # Retries are ours (bounded, with backoff, 429 and 5xx included): none below us.
        configuration.retries = urllib3.util.Retry(total=0, redirect=0, raise_on_redirect=False)
        return client.CoreV1Api(client.ApiClient(configuration))

    @property
    def server(self) -> str:
        if self.host:
            return self.host
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not self.config_file:
            return "the cluster it runs in"
        return f"kubeconfig {self.config_file or os.environ.get('KUBECONFIG') or '~/.kube/config'}"

    def timeouts(self, limit: float | None = None) -> tuple[float, float]:
        """(connect, read) timeouts of one request, within `limit` seconds when given."""
        read = self.request_timeout if limit is None else max(0.05, min(self.request_timeout, limit))
        return min(read, 5.0), read

    def call(self, what: str, method: Callable, *args, retry: bool = True, **kwargs):
        """One API call with bounded retries of 429, 5xx and timeouts; raises ApiError."""
        kwargs.setdefault("_request_timeout", self.timeouts())
        # The client's method names the request for metrics (a pod's name would be a label per pod).
        operation = "watch_namespaced_pod" if kwargs.get("watch") else getattr(method, "__name__", "call")
        attempt = 0
        while True:
            attempt += 1
            began = time.perf_counter()
            try:
                result = method(*args, **kwargs)
            except ApiError:
                raise
            except Exception as error:  # the client raises ApiException and urllib3's errors
                # A 404 or 409 answers the question asked (gone, already there): no error of the API's.
                status = getattr(error, "status", None)
                instruments.request_done("kubernetes", operation, time.perf_counter() - began,
                                         failed=status not in (404, 409))
                failure = api_error(what, error)
                if not (retry and failure.retryable) or attempt >= self.tries:
                    raise failure from error
                delay = self.backoff * (3 ** (attempt - 1))
                asked = retry_after(error)
                if asked is not None:
                    delay = max(delay, min(asked, 1.0))
                logger.info("%s; try %d of %d in %.2f s", failure, attempt + 1, self.tries, delay)
                time.sleep(delay)
            else:
                instruments.request_done("kubernetes", operation, time.perf_counter() - began)
                return result

    # -- pods ------------------------------------------------------------------
    def list_pods(self) -> dict[str, dict]:
        """Every pod of Polyflow's in the namespace, by name: one request (more only past PAGE pods)."""
        return self.list_pods_at()[0]

    def list_pods_at(self, retry: bool = True) -> tuple[dict[str, dict], str]:
        """(the pods by name, the resourceVersion of that list: where a watch resumes)."""
        pods: dict[str, dict] = {}
        version = ""
        token = None
        while True:
            kwargs = {"label_selector": SELECTOR, "limit": PAGE}
            if token:
                kwargs["_continue"] = token
            data = _json(self.call(f"list pods in {self.namespace}", self.core.list_namespaced_pod,
                                   self.namespace, _preload_content=False, retry=retry, **kwargs))
            for pod in data.get("items") or []:
                pods[pod["metadata"]["name"]] = pod
            metadata = data.get("metadata") or {}
            # Pages after the first are of the same snapshot: its version is the first's.
            version = version or str(metadata.get("resourceVersion") or "")
            token = metadata.get("continue")
            if not token:
                return pods, version

    def create_pod(self, manifest: Mapping) -> bool:
        """Create a pod; True if created, False if it was there already (409). Raises ApiError."""
        name = manifest["metadata"]["name"]
        try:
            self.call(f"create pod {name}", self.core.create_namespaced_pod, self.namespace, manifest,
                      _preload_content=False)
        except ApiError as error:
            if error.status == 409 and error.reason == "AlreadyExists":
                return False
            raise
        return True

    def submit_pod(self, manifest: Mapping) -> None:
        """Create a pod for a submit: a failure is a SubmitError (permanent when refused)."""
        try:
            self.create_pod(manifest)
        except ApiError as error:
            raise submit_error(error) from error

    def delete_pod(self, name: str, grace: int | None = None) -> None:
        """Delete a pod (404: already gone, fine). Raises ApiError."""
        try:
            self.call(f"delete pod {name}", self.core.delete_namespaced_pod, name, self.namespace,
                      grace_period_seconds=self.delete_grace if grace is None else grace,
                      _preload_content=False)
        except ApiError as error:
            if error.status != 404:
                raise

    # -- persistent volume claims (workspaces) ------------------------------------
    def create_claim(self, manifest: Mapping) -> bool:
        """Create a PersistentVolumeClaim; True if created, False if it was there already (409)."""
        name = manifest["metadata"]["name"]
        try:
            self.call(f"create persistentvolumeclaim {name}", self.core.create_namespaced_persistent_volume_claim,
                      self.namespace, manifest, _preload_content=False)
        except ApiError as error:
            if error.status == 409 and error.reason == "AlreadyExists":
                return False
            raise
        return True

    def delete_claim(self, name: str) -> None:
        """Delete a PersistentVolumeClaim (404: already gone, fine). Raises ApiError."""
        try:
            self.call(f"delete persistentvolumeclaim {name}", self.core.delete_namespaced_persistent_volume_claim,
                      name, self.namespace, _preload_content=False)
        except ApiError as error:
            if error.status != 404:
                raise

    def list_claims(self, label_selector: str = SELECTOR) -> dict[str, dict]:
        """Polyflow's PersistentVolumeClaims in the namespace, by name (one page: a run has one)."""
        data = _json(self.call(f"list persistentvolumeclaims in {self.namespace}",
                               self.core.list_namespaced_persistent_volume_claim, self.namespace,
                               label_selector=label_selector, _preload_content=False))
        return {item["metadata"]["name"]: item for item in data.get("items") or []}

    def read_log(self, name: str, container: str = CONTAINER, tail: int | None = None) -> str:
        return self.read_log_bytes(name, container, tail=tail).decode("utf-8", "replace")

    def read_log_bytes(self, name: str, container: str = CONTAINER, *, tail: int | None = None,
                       since_seconds: int | None = None, timestamps: bool = False, limit_bytes: int | None = None,
                       retry: bool = True, timeout: float | None = None) -> bytes:
        """A container's log as the API server sends it: its last `tail` lines, those of the
        last `since_seconds`, each prefixed with its RFC 3339 time and a space (`timestamps`),
        at most `limit_bytes` (the first ones). Raises ApiError."""
        kwargs = {"container": container, "_preload_content": False}
        for key, value in (("tail_lines", tail), ("since_seconds", since_seconds), ("limit_bytes", limit_bytes)):
            if value is not None:
                kwargs[key] = value
        if timestamps:
            kwargs["timestamps"] = True
        if timeout is not None:
            kwargs["_request_timeout"] = self.timeouts(timeout)
        response = self.call(f"read the log of pod {name}", self.core.read_namespaced_pod_log, name,
                             self.namespace, retry=retry, **kwargs)
        data = response.data if hasattr(response, "data") else response
        return data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogatepass")

    def open_watch(self, resource_version: str, timeout: float, margin: float = 0.5):
        """A watch of Polyflow's pods from `resource_version`: the raw urllib3 response,
        a stream of JSON lines the server ends after `timeout` s (whole seconds, at
        least 1), that no read may wait on longer than `timeout + margin`. Not retried:
        the watch resumes from its resourceVersion anyway. Raises ApiError."""
        return self.call(
            f"watch pods in {self.namespace}", self.core.list_namespaced_pod, self.namespace,
            label_selector=SELECTOR, watch=True, resource_version=resource_version,
            allow_watch_bookmarks=True, timeout_seconds=max(1, math.ceil(timeout)),
            # The read timeout is the watch's own, not a request's: it waits for events.
            _preload_content=False, _request_timeout=(self.timeouts(timeout)[0], timeout + margin), retry=False)
