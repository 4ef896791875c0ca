"""The Kubernetes backend: each attempt is a pod, created through the official client.

This class only puts together the parts, one concern each (docs/kubernetes.md):

| module | its job |
| --- | --- |
| `manifests.py`, `builds.py` | the op's pod and the kaniko pod (pure) |
| `kube_client.py` | the API: the client from settings, retries, `ApiError`, pods |
| `kube_pods.py` | reading pods: Observations, what matters, what expired (pure) |
| `build_states.py` | the states of an image build, its allowed moves and their record |
| `kube_builds.py` | ops waiting for their image |
| `kube_logs.py` | the archive of finished pods' logs |
| `kube_watch.py` | the pod watch behind `watch` |
| `kubernetes_reconcile.py` | pods against recorded op runs |

- `submit` creates the attempt's pod, named by the attempt key: a second
  submit of the same key answers 409 AlreadyExists, which is success. A
  template with a `build` first gets its image (`kube_builds.py`).
- `sync` reads every pod of Polyflow's with ONE label-selected LIST per call,
  whatever the number of handles, and maps each handle to an Observation; the
  termination message of a Succeeded pod is passed on as published (the
  scheduler parses outputs, for every backend). A handle with no pod (and no
  build it waits for) is LOST. A LIST that fails (after retries) makes `sync`
  return {}: nothing changes this tick, nothing is lost.
- `watch` waits for pods to change and returns their handles: the scheduler's
  hand-off on completion; `sync` stays the safety net.
- `stop` deletes pods with a grace period (404 is fine).
- `logs` reads the pod's log while it exists, then its archive.
- `read_metrics` reads each pod's log from its cursor (the time of the last line read):
  `timestamps=true`, `sinceSeconds` a little before it, `limitBytes`; one request per pod,
  lines at or before the cursor dropped, a pod that cannot be read skipped this time.
- Finished pods older than `POLYFLOW["POD_TTL"]` are deleted (their logs
  archived first), from `sync`, at most every `cleanup_interval` seconds.
- `reconcile`: when a scheduler starts, then every `RECONCILE_INTERVAL`; it also deletes
  the workspace claims of runs that ended (`kube_workspaces.py`).
- `end_run` deletes the run's workspace claim (a pipeline's `workspace`), created by the
  first submit of the run.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from django.db import DatabaseError
from django.utils import timezone

from ..conf import polyflow_settings
from ..extras import check
from ..scheduler.metric_lines import is_metric_line
from .base import LOST, Backend, Observation, Submission, SubmitError
from .kube_builds import KubeBuilds
from .kube_client import WHAT, ApiError, KubeClient
from .kube_logs import LogArchive, parse_time, timestamped_lines
from .kube_pods import (
    FINISHED_PHASES,
    artifact_containers,
    expired_pods,
    main_container,
    observe_pod,
    phase_of,
    valid_name,
)
from .kube_watch import PodWatcher
from .kube_workspaces import Workspaces
from .manifests import CONTAINER, pod_manifest

logger = logging.getLogger("polyflow.backends.kubernetes")

# Reading metrics from pods' logs: at most this much per pod and read (the rest at the next one),
# from this many seconds before the cursor (clocks of nodes and schedulers differ a little; the
# lines read twice are dropped by their time), each read waiting at most METRICS_TIMEOUT seconds.
METRICS_READ_BYTES = 4 * 1024 * 1024
METRICS_SINCE_MARGIN = 2
METRICS_TIMEOUT = 5.0

# Per process: when each (API server, namespace) was last cleaned up and reconciled.
_last_cleanup: dict[tuple, float] = {}
_last_reconcile: dict[tuple, float] = {}


class KubernetesBackend(Backend):
    name = "kubernetes"
    sync_after_submit = False  # a pod's start and end come by the watch

    def __init__(self, host: str | None = None, namespace: str | None = None, config_file: str | None = None,
                 tries: int = 3, backoff: float = 0.25, request_timeout: float | None = None,
                 delete_grace: int = 30, cleanup_interval: float = 60.0, pod_ttl: int | None = None,
                 reconcile_interval: float | None = None, logs_dir: str | os.PathLike | None = None):
        # Said now, when the backend is chosen, rather than at the first request; the
        # client itself is imported at that request (it takes a while to import).
        check("kubernetes", "kubernetes", what=WHAT)
        settings = polyflow_settings
        self.client = KubeClient(
            host=settings.KUBE_HOST if host is None else host,
            namespace=namespace or settings.KUBE_NAMESPACE,
            config_file=settings.KUBE_CONFIG if config_file is None else config_file,
            tries=tries, backoff=backoff,
            request_timeout=float(request_timeout or settings.KUBE_REQUEST_TIMEOUT),
            delete_grace=delete_grace)
        self.cleanup_interval = cleanup_interval
        self.pod_ttl = settings.POD_TTL if pod_ttl is None else pod_ttl
        self.reconcile_interval = settings.RECONCILE_INTERVAL if reconcile_interval is None else reconcile_interval
        self.archive = LogArchive(self.client, logs_dir)
        self.builds = KubeBuilds(self.client, self.archive)
        self.watcher = PodWatcher(self.client, backoff=backoff)
        self.workspaces = Workspaces(self.client)
        self._watched: dict[str, Mapping] = {}  # op pods as the last watch call saw them

    @property
    def host(self) -> str:
        return self.client.host

    @property
    def namespace(self) -> str:
        return self.client.namespace

    @property
    def logs_dir(self) -> Path:
        return self.archive.directory

    def describe_once(self) -> str:
        return f"backend: kubernetes (pods in namespace {self.namespace!r} of {self.client.server})"

    def _key(self) -> tuple:
        return (self.client.host, self.client.config_file, self.namespace)

    # -- submit ------------------------------------------------------------------
    def submit(self, submission: Submission) -> str:
        if not valid_name(submission.key) or len(submission.key) > 63:
            raise SubmitError(f"invalid attempt key {submission.key!r}: not a DNS-1123 label", permanent=True)
        self.workspaces.ensure(submission)
        if submission.template.build is not None:
            return self.builds.submit(submission)
        self.client.submit_pod(pod_manifest(submission, self.namespace))
        return submission.key

    # -- sync --------------------------------------------------------------------
    def sync(self, handles: Iterable[str]) -> dict[str, Observation]:
        handles = list(dict.fromkeys(handles))
        listed_at = timezone.now()
        try:
            pods = self.client.list_pods()
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
            result[handle] = self._observe(handle, pod)
        if missing:
            waiting = self.builds.sync(missing, pods, listed_at)
            result.update(waiting)
            result.update({handle: self._lost(handle) for handle in missing if handle not in waiting})
        self._clean_up(pods, set(handles))
        return result

    def _observe(self, handle: str, pod: Mapping) -> Observation:
        observation = observe_pod(pod)
        if observation.final:
            if phase_of(pod) not in FINISHED_PHASES:
                # Failed while pending (an image that cannot be pulled): it would wait forever.
                self._quietly(self.client.delete_pod, handle, 0)
            self.archive.archive(handle, CONTAINER, *artifact_containers(pod))
        return observation

    def observed(self, handles: Iterable[str]) -> dict[str, Observation]:
        """What the last watch call saw of these attempts' pods, as a sync would tell it, with
        no request: the hand-off acts on an op's end without listing every pod first."""
        return {handle: self._observe(handle, self._watched.pop(handle)) for handle in handles
                if handle in self._watched}

    def _lost(self, handle: str) -> Observation:
        return Observation(LOST, reason="lost", message=(
            f"pod {handle} no longer exists in namespace {self.namespace}: deleted outside Polyflow, "
            f"evicted and removed, or its node is gone"))

    # -- watch -------------------------------------------------------------------
    def watch(self, timeout: float) -> list[str]:
        """The handles whose pods changed within `timeout` s (kube_watch.py); a build pod that
        changed stands for the ops waiting on it. Never raises for API errors."""
        changes = self.watcher.wait(timeout)
        self._watched = dict(changes.pods)
        handles = set(changes.ops)
        if changes.builds:
            try:
                handles.update(self.builds.waiting_on(changes.builds))
            except DatabaseError as error:
                # The scheduler knows no build pod, but a name it ignores is better than a
                # change lost: the periodic tick finds the waiting ops anyway.
                logger.warning("watch: cannot read the ops waiting on builds %s: %s", sorted(changes.builds),
                               error)
                handles.update(changes.builds)
        return sorted(handles)

    # -- logs --------------------------------------------------------------------
    def logs(self, handle: str, tail: int | None = None) -> list[str]:
        if not valid_name(handle) or (tail is not None and tail <= 0):
            return []
        # A finished attempt's archive is its whole log (with its artifact moves): no request.
        text = self.archive.archived(handle)
        try:
            if text is None:
                text = self.client.read_log(handle, CONTAINER, tail)
        except ApiError as error:
            text = self.archive.archived(handle)
            if text is None:
                if error.status not in (400, 404):
                    logger.warning("%s", error)
                text = self.builds.log(handle) or ""
        lines = text.splitlines()
        return lines[-tail:] if tail is not None else lines

    def read_metrics(self, cursors: Mapping[str, str]) -> dict[str, tuple[list[str], str]]:
        """The metric lines each pod's container printed after its cursor, the RFC 3339 time of
        the last line read ("" for none yet): one log request per pod, with `timestamps` and,
        past the first read, `sinceSeconds`. A pod whose log cannot be read (not started,
        gone, an error) is left out this time; once the API server does not answer at all,
        the other pods are left for the next read too."""
        result: dict[str, tuple[list[str], str]] = {}
        now = time.time()
        for handle, cursor in cursors.items():
            if not valid_name(handle):
                continue
            after = parse_time(cursor) if cursor else None
            since = None if after is None else max(1, math.ceil(now - after / 1e9) + METRICS_SINCE_MARGIN)
            try:
                data = self.client.read_log_bytes(handle, CONTAINER, since_seconds=since, timestamps=True,
                                                  limit_bytes=METRICS_READ_BYTES, retry=False,
                                                  timeout=METRICS_TIMEOUT)
            except ApiError as error:
                if error.status == 0:
                    logger.warning("read metrics: %s; the other pods' metrics are read next time", error)
                    break
                if error.status not in (400, 404):  # not started yet, or gone: nothing to say
                    logger.warning("read metrics: %s (read again next time)", error)
                continue
            lines, last = timestamped_lines(data, after, cut=len(data) >= METRICS_READ_BYTES)
            result[handle] = ([line for line in lines if is_metric_line(line)], last or cursor)
        return result

    # -- stop, clean-up ------------------------------------------------------------
    def stop(self, handles: Iterable[str]) -> None:
        handles = [h for h in dict.fromkeys(handles) if valid_name(h)]
        if not handles:
            return
        self.builds.forget(handles)
        for handle in handles:
            self._quietly(self.client.delete_pod, handle)

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
        now = time.monotonic() if now is None else now
        last = _last_cleanup.get(self._key())
        if last is not None and now - last < self.cleanup_interval:
            return []
        _last_cleanup[self._key()] = now
        cutoff = timezone.now() - dt.timedelta(seconds=self.pod_ttl)
        deleted = []
        # At most 100 at a time (the rest at the next clean-up): a tick stays short.
        for name in expired_pods(pods, tracked, cutoff, limit=100):
            self.archive.archive(name, main_container(pods[name]))
            if self._quietly(self.client.delete_pod, name, 0):
                deleted.append(name)
        if deleted:
            logger.info("deleted %d finished pod(s) older than %d s", len(deleted), self.pod_ttl)
        return deleted

    def end_run(self, run_uuid: str) -> None:
        """Delete the run's workspace claim; a failure is logged and the reconciliation's sweep
        deletes it later."""
        try:
            self.workspaces.release(run_uuid)
        except ApiError as error:
            logger.warning("end of run %s: %s (deleted at the next reconciliation)", run_uuid, error)

    # -- reconciliation --------------------------------------------------------------
    def reconcile(self, force: bool = False):
        """Compare the pods with the recorded op runs (kubernetes_reconcile.py) when a scheduler
        starts and then every RECONCILE_INTERVAL seconds; None when not due."""
        from .kubernetes_reconcile import reconcile

        last = _last_reconcile.get(self._key())
        if not force and last is not None and time.monotonic() - last < self.reconcile_interval:
            return None
        report = reconcile(self)
        _last_reconcile[self._key()] = time.monotonic()
        self.stop(report.stray)
        report.workspaces = self.workspaces.sweep()
        return report
