"""The Kubernetes backend: each attempt is a pod, created through the official client.

- `submit` creates the attempt's pod (`manifests.pod_manifest`), named by the
  attempt key: a second submit of the same key answers 409 AlreadyExists,
  which is success (the pod is there). A template with a `build` first gets
  its image built by a kaniko pod (`builds.py`): the op's pod is recorded as
  waiting (`BuildWaiter`) and created by `sync` once the build succeeded; a
  build that succeeded before (`Build`) is reused at once.
- `sync` reads every pod of Polyflow's with ONE label-selected LIST per call
  (`app.kubernetes.io/managed-by=polyflow`), whatever the number of handles,
  and maps each handle to an Observation: the pod's phase, its container's
  state, reasons (OOMKilled, Error, DeadlineExceeded as "timeout", Evicted,
  ErrImagePull...), exit code and the termination message as outputs. A
  handle with no pod (and no build it waits for) is LOST: the pod was deleted
  behind Polyflow's back, evicted and garbage-collected, or its node is gone.
  A LIST that fails (after retries) makes `sync` return {}: nothing changes
  this tick, nothing is lost.
- `stop` deletes pods with a grace period (404 is fine).
- `logs` reads the pod's log while it exists; when an attempt ends, `sync`
  archives its log to `<POLYFLOW HOME>/logs/<key>.log`, and `logs` falls back
  to that file once the pod is gone.
- Finished pods older than `POLYFLOW["POD_TTL"]` are deleted (their logs
  archived first), from `sync`, at most every `cleanup_interval` seconds.
- `reconcile` (called by the tick: when a scheduler starts, then every
  `POLYFLOW["RECONCILE_INTERVAL"]`): see `kubernetes_reconcile.py`.

API errors 429, 5xx and timeouts are retried with backoff (`tries` tries in
about a second); a submit that still fails raises SubmitError(permanent=False),
so the op run stays scheduled and the next tick submits the same pod name
again. 400 and 422 (the API server refuses the pod) are permanent, with the
API's causes in the message.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from ..conf import polyflow_settings
from .base import FAILED, LOST, PENDING, RUNNING, SUCCEEDED, Backend, Observation, Submission, SubmitError
from .builds import CONTAINER as BUILD_CONTAINER
from .builds import BuildPlan, build_plan, build_pod_manifest, pinned_image
from .manifests import COMPONENT_LABEL, CONTAINER, SELECTOR, pod_manifest, with_image

logger = logging.getLogger("polyflow.backends.kubernetes")

# A container waiting for one of these will not start by itself: the attempt fails.
FATAL_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
                           "CreateContainerError", "ErrImageNeverPull"})
# Pod-level reasons as Polyflow names them.
REASONS = {"DeadlineExceeded": "timeout"}
FINISHED_PHASES = ("Succeeded", "Failed")
_KEY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
# A build row this recent whose pod the LIST did not show is being (re)started
# by another scheduler, not lost.
BUILD_START_GRACE = 10.0

_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()
# Per process: when each (API server, namespace) was last cleaned up and reconciled.
_last_cleanup: dict[tuple, float] = {}
_last_reconcile: dict[tuple, float] = {}


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


def _api_error(what: str, error: Exception) -> ApiError:
    from kubernetes.client.exceptions import ApiException

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


def _retry_after(error: Exception) -> float | None:
    headers = getattr(error, "headers", None) or {}
    try:
        value = headers.get("Retry-After") if hasattr(headers, "get") else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _time(value) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# -- reading pods (pure) ---------------------------------------------------------

def container_status(pod: Mapping, name: str = CONTAINER) -> dict:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        if status.get("name") == name:
            return status
    return statuses[0] if statuses else {}


def finished_at(pod: Mapping) -> dt.datetime | None:
    """When a finished pod ended: its containers' end, else its last condition change."""
    status = pod.get("status") or {}
    times = [_time(((s.get("state") or {}).get("terminated") or {}).get("finishedAt"))
             for s in status.get("containerStatuses") or []]
    times += [_time(c.get("lastTransitionTime")) for c in status.get("conditions") or []]
    times = [t for t in times if t]
    if times:
        return max(times)
    return _time(status.get("startTime")) or _time((pod.get("metadata") or {}).get("creationTimestamp"))


def parse_outputs(message: str | None) -> tuple[dict, str | None]:
    """The outputs an op wrote to its termination message: (outputs, error)."""
    text = (message or "").strip()
    if not text:
        return {}, None
    try:
        value = json.loads(text)
    except ValueError as error:
        return {}, f"the outputs ($POLYFLOW_OUTPUTS_FILE) are not JSON: {error}: {text[:200]!r}"
    if not isinstance(value, dict):
        return {}, f"the outputs ($POLYFLOW_OUTPUTS_FILE) must be a JSON object, not {type(value).__name__}"
    return value, None


def observe_pod(pod: Mapping, container: str = CONTAINER, outputs: bool = True) -> Observation:
    """What a pod says of its attempt (pure)."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    main = container_status(pod, container)
    state = main.get("state") or {}
    waiting = state.get("waiting") or {}
    terminated = state.get("terminated") or {}
    started = (_time(status.get("startTime")) or _time((state.get("running") or {}).get("startedAt"))
               or _time(terminated.get("startedAt")))
    if phase == "Pending":
        reason = waiting.get("reason") or ""
        if reason in FATAL_WAITING:
            return Observation(FAILED, reason=reason, message=waiting.get("message") or reason)
        message = reason + (f": {waiting['message']}" if waiting.get("message") else "")
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                message = f"{condition.get('reason') or 'not scheduled'}: {condition.get('message') or ''}".strip()
        return Observation(PENDING, message=message)
    if phase == "Running":
        return Observation(RUNNING, started_at=started)
    ended = _time(terminated.get("finishedAt")) or finished_at(pod)
    exit_code = terminated.get("exitCode")
    if phase == "Succeeded":
        found, error = parse_outputs(terminated.get("message")) if outputs else ({}, None)
        if error:
            return Observation(FAILED, exit_code=exit_code, reason="invalid_outputs", message=error,
                               started_at=started, finished_at=ended)
        return Observation(SUCCEEDED, exit_code=0 if exit_code is None else exit_code, outputs=found,
                           started_at=started, finished_at=ended)
    if phase == "Failed":
        pod_reason = status.get("reason") or ""
        container_reason = terminated.get("reason") or ""
        reason = REASONS.get(pod_reason, pod_reason) or container_reason or "failed"
        parts = []
        if status.get("message"):
            parts.append(status["message"])
        if exit_code is not None:
            note = f"exit code {exit_code}"
            if container_reason and container_reason != reason:
                note += f" ({container_reason})"
            parts.append(note)
        if terminated.get("message"):
            parts.append(str(terminated["message"]).strip()[:1000])
        return Observation(FAILED, exit_code=exit_code, reason=reason, message="; ".join(parts),
                           started_at=started, finished_at=ended)
    # Unknown: the node stopped reporting; the pod may still run.
    return Observation(RUNNING, started_at=started, message=status.get("message") or "pod status unknown")


def _component(pod: Mapping) -> str:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL, "op")


# -- the backend -------------------------------------------------------------------

class KubernetesBackend(Backend):
    name = "kubernetes"

    def __init__(self, host: str | None = None, namespace: str | None = None, config_file: str | None = None,
                 tries: int = 3, backoff: float = 0.25, request_timeout: float | None = None,
                 delete_grace: int = 30, cleanup_interval: float = 60.0, pod_ttl: int | None = None,
                 reconcile_interval: float | None = None, logs_dir: str | os.PathLike | None = None):
        settings = polyflow_settings
        self.host = settings.KUBE_HOST if host is None else host
        self.namespace = namespace or settings.KUBE_NAMESPACE
        self.config_file = settings.KUBE_CONFIG if config_file is None else config_file
        self.tries = max(1, tries)
        self.backoff = backoff
        self.request_timeout = float(request_timeout or settings.KUBE_REQUEST_TIMEOUT)
        self.delete_grace = delete_grace
        self.cleanup_interval = cleanup_interval
        self.pod_ttl = settings.POD_TTL if pod_ttl is None else pod_ttl
        self.reconcile_interval = settings.RECONCILE_INTERVAL if reconcile_interval is None else reconcile_interval
        self._logs_dir = Path(logs_dir) if logs_dir is not None else None
        self._core = None

    # -- the client ----------------------------------------------------------
    @property
    def logs_dir(self) -> Path:
        return self._logs_dir if self._logs_dir is not None else Path(polyflow_settings.HOME) / "logs"

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
        import urllib3
        from kubernetes import client, config

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

    def describe_once(self) -> str:
        return f"backend: kubernetes (pods in namespace {self.namespace!r} of {self.server})"

    def _call(self, what: str, method: Callable, *args, retry: bool = True, **kwargs):
        """One API call with bounded retries of 429, 5xx and timeouts; raises ApiError."""
        kwargs.setdefault("_request_timeout", (min(self.request_timeout, 5.0), self.request_timeout))
        attempt = 0
        while True:
            attempt += 1
            try:
                return method(*args, **kwargs)
            except Exception as error:  # the client raises ApiException and urllib3's errors
                if isinstance(error, ApiError | SubmitError):
                    raise
                api_error = _api_error(what, error)
                if not (retry and api_error.retryable) or attempt >= self.tries:
                    raise api_error from error
                delay = self.backoff * (3 ** (attempt - 1))
                retry_after = _retry_after(error)
                if retry_after is not None:
                    delay = max(delay, min(retry_after, 1.0))
                logger.info("%s; try %d of %d in %.2f s", api_error, attempt + 1, self.tries, delay)
                time.sleep(delay)

    @staticmethod
    def _json(response) -> dict:
        data = response.data if hasattr(response, "data") else response
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return json.loads(data) if isinstance(data, str) else data

    def list_pods(self) -> dict[str, dict]:
        """Every pod of Polyflow's in the namespace, by name: one request (more only past 500 pods)."""
        pods: dict[str, dict] = {}
        token = None
        while True:
            kwargs = {"label_selector": SELECTOR, "limit": 500}
            if token:
                kwargs["_continue"] = token
            data = self._json(self._call(f"list pods in {self.namespace}", self.core.list_namespaced_pod,
                                         self.namespace, _preload_content=False, **kwargs))
            for pod in data.get("items") or []:
                pods[pod["metadata"]["name"]] = pod
            token = (data.get("metadata") or {}).get("continue")
            if not token:
                return pods

    def create_pod(self, manifest: Mapping) -> bool:
        """Create a pod; True if created, False if it was there already (409). Raises ApiError."""
        name = manifest["metadata"]["name"]
        try:
            self._call(f"create pod {name}", self.core.create_namespaced_pod, self.namespace, manifest,
                       _preload_content=False)
        except ApiError as error:
            if error.status == 409 and error.reason == "AlreadyExists":
                return False
            raise
        return True

    def delete_pod(self, name: str, grace: int | None = None) -> None:
        """Delete a pod (404: already gone, fine). Raises ApiError."""
        try:
            self._call(f"delete pod {name}", self.core.delete_namespaced_pod, name, self.namespace,
                       grace_period_seconds=self.delete_grace if grace is None else grace,
                       _preload_content=False)
        except ApiError as error:
            if error.status != 404:
                raise

    def read_log(self, name: str, container: str = CONTAINER, tail: int | None = None) -> str:
        kwargs = {"container": container, "_preload_content": False}
        if tail is not None:
            kwargs["tail_lines"] = tail
        response = self._call(f"read the log of pod {name}", self.core.read_namespaced_pod_log, name,
                              self.namespace, **kwargs)
        data = response.data if hasattr(response, "data") else response
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)

    # -- submit --------------------------------------------------------------
    def submit(self, submission: Submission) -> str:
        if not _KEY.match(submission.key) or len(submission.key) > 63:
            raise SubmitError(f"invalid attempt key {submission.key!r}: not a DNS-1123 label", permanent=True)
        if submission.template.build is not None:
            return self._submit_built(submission)
        self._create_or_raise(pod_manifest(submission, self.namespace))
        return submission.key

    def _create_or_raise(self, manifest: Mapping) -> None:
        try:
            self.create_pod(manifest)
        except ApiError as error:
            raise SubmitError(str(error), permanent=error.status in (400, 422)) from error

    def _submit_built(self, submission: Submission) -> str:
        from ..models import Build, BuildWaiter

        plan = build_plan(submission, polyflow_settings.BUILD_REGISTRY, polyflow_settings.BUILD_CONTEXT)
        manifest = pod_manifest(submission, self.namespace, image=plan.image, build=plan.image)
        if BuildWaiter.objects.filter(pod=submission.key).exists():
            return submission.key  # submitted before: waiting for its image
        build = self._build_for(plan)
        if build.status == Build.Status.SUCCEEDED:
            self._create_or_raise(with_image(manifest, pinned_image(build.image, build.digest)))
            return submission.key
        if build.status == Build.Status.FAILED:
            build = self._restart_build(build)
        self._create_or_raise(build_pod_manifest(
            plan, build.pod, self.namespace, polyflow_settings.BUILD_EXECUTOR_IMAGE,
            polyflow_settings.BUILD_CREDENTIALS_SECRET))
        with transaction.atomic():
            BuildWaiter.objects.get_or_create(pod=submission.key, defaults={"build": build, "manifest": manifest})
        return submission.key

    def _build_for(self, plan: BuildPlan):
        from ..models import Build

        with transaction.atomic():
            build, _ = Build.objects.get_or_create(image=plan.image, defaults={
                "hash": plan.hash, "pipeline": plan.pipeline, "template": plan.template,
                "namespace": self.namespace, "pod": plan.pod_name(1), "tries": 1,
            })
        return build

    def _restart_build(self, build):
        """Another try of a failed build, under the next pod name (the failed pod may still exist)."""
        from ..models import Build

        tries = build.tries + 1
        pod = BuildPlan(build.pipeline, build.template, build.hash, build.image, "", None, "").pod_name(tries)
        Build.objects.filter(pk=build.pk, status=Build.Status.FAILED, tries=build.tries).update(
            status=Build.Status.BUILDING, tries=tries, pod=pod, namespace=self.namespace, reason="", message="",
            finished_at=None, updated_at=timezone.now())
        build.refresh_from_db()
        return build

    # -- sync ----------------------------------------------------------------
    def sync(self, handles: Iterable[str]) -> dict[str, Observation]:
        handles = list(dict.fromkeys(handles))
        listed_at = timezone.now()
        try:
            pods = self.list_pods()
        except ApiError as error:
            logger.warning("sync: %s; nothing changes this tick", error)
            return {}
        result: dict[str, Observation] = {}
        missing = []
        for handle in handles:
            pod = pods.get(handle)
            if pod is None:
                missing.append(handle)
                continue
            observation = observe_pod(pod)
            result[handle] = observation
            if observation.final:
                if (pod.get("status") or {}).get("phase") not in FINISHED_PHASES:
                    # Failed while pending (an image that cannot be pulled): it would wait forever.
                    self._quietly(self.delete_pod, handle, 0)
                self._archive(handle, pod)
        if missing:
            result.update(self._sync_waiting(missing, pods, listed_at))
        self._clean_up(pods, set(handles))
        return result

    def _lost(self, handle: str) -> Observation:
        return Observation(LOST, reason="lost", message=(
            f"pod {handle} no longer exists in namespace {self.namespace}: deleted outside Polyflow, "
            f"evicted and removed, or its node is gone"))

    def _sync_waiting(self, handles: list[str], pods: dict, listed_at: dt.datetime) -> dict[str, Observation]:
        """Handles without a pod: those waiting for an image build, and the lost ones."""
        from ..models import BuildWaiter

        waiters = {w.pod: w for w in BuildWaiter.objects.filter(pod__in=handles).select_related("build")}
        states: dict[int, tuple] = {}
        result = {}
        for handle in handles:
            waiter = waiters.get(handle)
            if waiter is None:
                result[handle] = self._lost(handle)
                continue
            build = waiter.build
            if build.pk not in states:
                states[build.pk] = self._build_state(build, pods, listed_at)
            state = states[build.pk]
            if state[0] == "building":
                result[handle] = Observation(PENDING, message=state[1])
            elif state[0] == "failed":
                _, reason, message = state
                result[handle] = Observation(FAILED, reason=reason or "build_failed", message=(
                    f"image build of {build.image} failed (pod {build.pod}): {message}".rstrip(": ")))
                self._archive_build_log(handle, build)
                waiter.delete()
            else:
                result[handle] = self._start_waiter(waiter, state[1])
        return result

    def _start_waiter(self, waiter, image: str) -> Observation:
        manifest = with_image(waiter.manifest, image)
        try:
            self.create_pod(manifest)
        except ApiError as error:
            if error.status in (400, 422):
                waiter.delete()
                return Observation(FAILED, reason="submit_error", message=str(error))
            logger.warning("%s; trying again at the next sync", error)
            return Observation(PENDING, message=f"image {image} built; creating the pod: {error}")
        waiter.delete()
        return Observation(PENDING, message=f"image {image} built; pod created")

    def _build_state(self, build, pods: dict, listed_at: dt.datetime) -> tuple:
        """("building", message) | ("succeeded", image to run) | ("failed", reason, message); records
        the build's end on its row."""
        from ..models import Build

        if build.status == Build.Status.SUCCEEDED:
            return ("succeeded", pinned_image(build.image, build.digest))
        if build.status == Build.Status.FAILED:
            return ("failed", build.reason, build.message)
        pod = pods.get(build.pod)
        if pod is None:
            if build.updated_at and build.updated_at > listed_at - dt.timedelta(seconds=BUILD_START_GRACE):
                return ("building", f"building image {build.image} (pod {build.pod} starting)")
            return self._finish_build(build, FAILED, reason="lost", message=(
                f"the build pod {build.pod} disappeared before it finished"))
        observation = observe_pod(pod, container=BUILD_CONTAINER, outputs=False)
        if observation.state == SUCCEEDED:
            digest = ((container_status(pod, BUILD_CONTAINER).get("state") or {}).get("terminated") or {}).get(
                "message") or ""
            self._archive(build.pod, pod, container=BUILD_CONTAINER)
            return self._finish_build(build, SUCCEEDED, digest=digest.strip())
        if observation.state == FAILED:
            if (pod.get("status") or {}).get("phase") not in FINISHED_PHASES:
                self._quietly(self.delete_pod, build.pod, 0)
            self._archive(build.pod, pod, container=BUILD_CONTAINER)
            return self._finish_build(build, FAILED, reason=observation.reason, message=observation.message)
        phase = (pod.get("status") or {}).get("phase") or "Pending"
        detail = f": {observation.message}" if observation.message else ""
        return ("building", f"building image {build.image} (pod {build.pod}: {phase}{detail})")

    def _finish_build(self, build, state: str, reason: str = "", message: str = "", digest: str = "") -> tuple:
        from ..models import Build

        status = Build.Status.SUCCEEDED if state == SUCCEEDED else Build.Status.FAILED
        now = timezone.now()
        Build.objects.filter(pk=build.pk, status=Build.Status.BUILDING, pod=build.pod).update(
            status=status, reason=reason[:64], message=message, digest=digest[:128], finished_at=now,
            updated_at=now)
        build.refresh_from_db()
        if build.status == Build.Status.SUCCEEDED:
            logger.info("image %s built (pod %s)", build.image, build.pod)
            return ("succeeded", pinned_image(build.image, build.digest))
        if build.status == Build.Status.FAILED:
            logger.warning("image build %s failed (pod %s): %s %s", build.image, build.pod, build.reason,
                           build.message)
            return ("failed", build.reason, build.message)
        return ("building", f"building image {build.image} (pod {build.pod})")

    # -- logs ----------------------------------------------------------------
    def archive_path(self, key: str) -> Path:
        return self.logs_dir / f"{key}.log"

    def _archive(self, name: str, pod: Mapping | None = None, container: str = CONTAINER) -> None:
        """Keep a finished pod's log in Polyflow's storage (once), so it survives the pod."""
        path = self.archive_path(name)
        if not _KEY.match(name) or path.exists():
            return
        try:
            text = self.read_log(name, container)
        except ApiError as error:
            logger.warning("cannot archive the log of %s yet: %s", name, error)
            return
        self._write_archive(path, text)

    def _archive_build_log(self, key: str, build) -> None:
        """An op failed by its build: its own log is the build's."""
        path = self.archive_path(key)
        if not _KEY.match(key) or path.exists():
            return
        build_path = self.archive_path(build.pod)
        if build_path.exists():
            text = build_path.read_text(encoding="utf-8", errors="replace")
        else:
            try:
                text = self.read_log(build.pod, BUILD_CONTAINER)
            except ApiError:
                text = ""
        header = f"polyflow: the image build of {build.image} failed (pod {build.pod}); its log follows\n"
        self._write_archive(path, header + text)

    def _write_archive(self, path: Path, text: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
        except OSError as error:
            logger.warning("cannot write %s: %s", path, error)

    def logs(self, handle: str, tail: int | None = None) -> list[str]:
        if not _KEY.match(handle) or (tail is not None and tail <= 0):
            return []
        try:
            text = self.read_log(handle, CONTAINER, tail)
        except ApiError as error:
            text = self._archived(handle)
            if text is None:
                if error.status not in (400, 404):
                    logger.warning("%s", error)
                text = self._build_log(handle) or ""
        lines = text.splitlines()
        return lines[-tail:] if tail is not None else lines

    def _archived(self, key: str) -> str | None:
        try:
            return self.archive_path(key).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def _build_log(self, handle: str) -> str | None:
        """An op waiting for its image shows the build's log."""
        from ..models import BuildWaiter

        waiter = BuildWaiter.objects.filter(pod=handle).select_related("build").first()
        if waiter is None:
            return None
        build = waiter.build
        try:
            text = self.read_log(build.pod, BUILD_CONTAINER)
        except ApiError:
            text = self._archived(build.pod) or ""
        return f"polyflow: building image {build.image} (pod {build.pod})\n{text}"

    # -- stop, clean-up --------------------------------------------------------
    def stop(self, handles: Iterable[str]) -> None:
        from ..models import BuildWaiter

        handles = [h for h in dict.fromkeys(handles) if _KEY.match(h)]
        if not handles:
            return
        # An op waiting for its image never gets its pod (the build goes on: others may need it).
        BuildWaiter.objects.filter(pod__in=handles).delete()
        for handle in handles:
            self._quietly(self.delete_pod, handle)

    def _quietly(self, method: Callable, *args) -> bool:
        try:
            method(*args)
        except ApiError as error:
            logger.warning("%s", error)
            return False
        return True

    def _clean_up(self, pods: dict, tracked: set[str], now: float | None = None) -> list[str]:
        """Delete finished pods older than POD_TTL (logs archived first), at most every cleanup_interval."""
        if not self.pod_ttl:
            return []
        key = (self.host, self.config_file, self.namespace)
        now = time.monotonic() if now is None else now
        last = _last_cleanup.get(key)
        if last is not None and now - last < self.cleanup_interval:
            return []
        _last_cleanup[key] = now
        cutoff = timezone.now() - dt.timedelta(seconds=self.pod_ttl)
        deleted = []
        for name, pod in pods.items():
            if name in tracked or (pod.get("status") or {}).get("phase") not in FINISHED_PHASES:
                continue
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                continue
            ended = finished_at(pod)
            if ended is None or ended > cutoff:
                continue
            container = BUILD_CONTAINER if _component(pod) == "build" else CONTAINER
            self._archive(name, pod, container)
            if self._quietly(self.delete_pod, name, 0):
                deleted.append(name)
            if len(deleted) >= 100:  # the rest at the next clean-up: a tick stays short
                break
        if deleted:
            logger.info("deleted %d finished pod(s) older than %d s", len(deleted), self.pod_ttl)
        return deleted

    # -- reconciliation ----------------------------------------------------------
    def reconcile(self, force: bool = False):
        """Compare the pods with the recorded op runs (kubernetes_reconcile.py) when a scheduler
        starts and then every RECONCILE_INTERVAL seconds; None when not due."""
        from .kubernetes_reconcile import reconcile

        key = (self.host, self.config_file, self.namespace)
        last = _last_reconcile.get(key)
        if not force and last is not None and time.monotonic() - last < self.reconcile_interval:
            return None
        report = reconcile(self)
        _last_reconcile[key] = time.monotonic()
        return report
