"""Reading Kubernetes pods (pure): plain dicts, as the API server sends them, in;
Observations and decisions out. No client, no database.

- `observe_pod`: what a pod says of its attempt (docs/kubernetes.md, "Sync"):
  its phase, its container's state, the reason (OOMKilled, Error,
  DeadlineExceeded as "timeout", Evicted, ErrImagePull, ...), the exit code,
  and for a Succeeded pod the termination message as published: the outputs
  are parsed by the scheduler (scheduler/outputs.py), for every backend alike.
- `pod_signature`: the part of a pod the scheduler acts on, which the watch
  compares to tell a change that matters from one that does not.
- `expired_pods`: which finished pods the clean-up deletes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping

from .base import FAILED, PENDING, RUNNING, SUCCEEDED, Observation
from .builds import CONTAINER as BUILD_CONTAINER
from .manifests import COMPONENT_LABEL, CONTAINER
from .pod_artifacts import DOWNLOAD_CONTAINER, UPLOAD_CONTAINER

# A container waiting for one of these will not start by itself: the attempt fails.
FATAL_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
                           "CreateContainerError", "ErrImageNeverPull"})
# Pod-level reasons as Polyflow names them.
REASONS = {"DeadlineExceeded": "timeout"}
FINISHED_PHASES = ("Succeeded", "Failed")
# A pod name Polyflow makes (attempt keys, build pods): a DNS-1123 label. Also what
# makes a name safe as a file name in the log archive.
_POD_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def valid_name(name: str) -> bool:
    return bool(_POD_NAME.match(name or ""))


def parse_time(value) -> dt.datetime | None:
    """An RFC 3339 time of the API server; naive times are UTC."""
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def name_of(pod: Mapping) -> str:
    return (pod.get("metadata") or {}).get("name") or ""


def phase_of(pod: Mapping) -> str:
    return (pod.get("status") or {}).get("phase") or "Pending"


def component(pod: Mapping) -> str:
    """"op" or "build" (pods from before the label was set are ops)."""
    return ((pod.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL, "op")


def main_container(pod: Mapping) -> str:
    return BUILD_CONTAINER if component(pod) == "build" else CONTAINER


def container_status(pod: Mapping, name: str = CONTAINER) -> dict:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        if status.get("name") == name:
            return status
    return statuses[0] if statuses else {}


def _terminated(pod: Mapping, name: str, key: str = "containerStatuses") -> dict | None:
    """The `terminated` state of the container `name` (an init container with key
    `initContainerStatuses`), or None when it has not ended or is not in the pod."""
    for status in (pod.get("status") or {}).get(key) or []:
        if status.get("name") == name:
            return (status.get("state") or {}).get("terminated")
    return None


def artifact_containers(pod: Mapping) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the artifact containers before the op's, those after it) of an op pod: their logs frame
    the op's own in the op's log."""
    spec = pod.get("spec") or {}
    inits = [c.get("name") for c in spec.get("initContainers") or []]
    containers = [c.get("name") for c in spec.get("containers") or []]
    return (tuple(n for n in inits if n == DOWNLOAD_CONTAINER), tuple(n for n in containers if n == UPLOAD_CONTAINER))


def artifact_failure(pod: Mapping) -> Observation | None:
    """The attempt failed moving its artifacts (docs/kubernetes.md, "Artifacts in pods"): the
    download init container or the upload container ended with an error; None otherwise."""
    for name, key, reason, what in (
            (DOWNLOAD_CONTAINER, "initContainerStatuses", "download_failed", "the download of the op's inputs"),
            (UPLOAD_CONTAINER, "containerStatuses", "upload_failed", "the upload of the op's outputs")):
        terminated = _terminated(pod, name, key)
        if terminated and terminated.get("exitCode") not in (None, 0):
            detail = str(terminated.get("message") or "").strip()[-1000:]
            message = f"{what} failed (container {name}, exit code {terminated['exitCode']})"
            return Observation(FAILED, exit_code=terminated.get("exitCode"), reason=reason,
                               message=message + (f": {detail}" if detail else ""),
                               finished_at=parse_time(terminated.get("finishedAt")))
    return None


def termination_message(pod: Mapping, container: str = CONTAINER) -> str | None:
    """The message the container left when it ended (outputs, or kaniko's digest)."""
    return ((container_status(pod, container).get("state") or {}).get("terminated") or {}).get("message")


def finished_at(pod: Mapping) -> dt.datetime | None:
    """When a finished pod ended: its containers' end, else its last condition change."""
    status = pod.get("status") or {}
    times = [parse_time(((s.get("state") or {}).get("terminated") or {}).get("finishedAt"))
             for s in status.get("containerStatuses") or []]
    times += [parse_time(c.get("lastTransitionTime")) for c in status.get("conditions") or []]
    times = [t for t in times if t]
    if times:
        return max(times)
    return parse_time(status.get("startTime")) or parse_time((pod.get("metadata") or {}).get("creationTimestamp"))


def observe_pod(pod: Mapping, container: str = CONTAINER) -> Observation:
    """What a pod says of its attempt."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    main = container_status(pod, container)
    state = main.get("state") or {}
    waiting = state.get("waiting") or {}
    terminated = state.get("terminated") or {}
    started = (parse_time(status.get("startTime")) or parse_time((state.get("running") or {}).get("startedAt"))
               or parse_time(terminated.get("startedAt")))
    if container == CONTAINER and phase in ("Pending", "Running", "Failed"):
        failed = artifact_failure(pod)
        if failed is not None and (phase != "Failed" or terminated.get("exitCode") in (None, 0)):
            return dataclasses.replace(failed, started_at=started, finished_at=failed.finished_at or finished_at(pod))
        if phase == "Running" and terminated and terminated.get("exitCode") not in (None, 0):
            # The op failed while its upload container waits: the attempt is over (nothing is uploaded).
            reason, message = failure_of(status, terminated)
            return Observation(FAILED, exit_code=terminated.get("exitCode"), reason=reason, message=message,
                               started_at=started, finished_at=parse_time(terminated.get("finishedAt")))
    if phase == "Pending":
        return _pending(status, waiting)
    if phase == "Running":
        return Observation(RUNNING, started_at=started)
    ended = parse_time(terminated.get("finishedAt")) or finished_at(pod)
    exit_code = terminated.get("exitCode")
    if phase == "Succeeded":
        # Passed on as the op wrote it: the scheduler's parser judges it.
        return Observation(SUCCEEDED, exit_code=0 if exit_code is None else exit_code,
                           outputs=terminated.get("message"), started_at=started, finished_at=ended)
    if phase == "Failed":
        reason, message = failure_of(status, terminated)
        return Observation(FAILED, exit_code=exit_code, reason=reason, message=message,
                           started_at=started, finished_at=ended)
    # Unknown: the node stopped reporting; the pod may still run.
    return Observation(RUNNING, started_at=started, message=status.get("message") or "pod status unknown")


def _pending(status: Mapping, waiting: Mapping) -> Observation:
    reason = waiting.get("reason") or ""
    if reason in FATAL_WAITING:
        return Observation(FAILED, reason=reason, message=waiting.get("message") or reason)
    message = reason + (f": {waiting['message']}" if waiting.get("message") else "")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            message = f"{condition.get('reason') or 'not scheduled'}: {condition.get('message') or ''}".strip()
    return Observation(PENDING, message=message)


def failure_of(status: Mapping, terminated: Mapping) -> tuple[str, str]:
    """(reason, message) of a Failed pod: the pod's reason wins over its container's
    (an evicted pod's container says only Error); the message names all three sources."""
    pod_reason = status.get("reason") or ""
    container_reason = terminated.get("reason") or ""
    reason = REASONS.get(pod_reason, pod_reason) or container_reason or "failed"
    exit_code = terminated.get("exitCode")
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
    return reason, "; ".join(parts)


# -- what the scheduler acts on ------------------------------------------------------

# A pod just created: nothing to act on yet.
QUIET = ("Pending", ())


def pod_signature(pod: Mapping) -> tuple:
    """(phase, the containers that run, ended or cannot start): what changes an
    Observation. Conditions, IPs, a container that is only being created, a
    deletion that has begun do not."""
    containers = []
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        state = status.get("state") or {}
        reason = (state.get("waiting") or {}).get("reason") or ""
        if state.get("terminated") is not None:
            kind = "terminated"
        elif state.get("running") is not None:
            kind = "running"
        elif reason in FATAL_WAITING:
            kind = f"waiting:{reason}"
        else:
            continue
        containers.append((status.get("name") or "", kind))
    return (phase_of(pod), tuple(sorted(containers)))


# -- clean-up -----------------------------------------------------------------------

def expired_pods(pods: Mapping[str, Mapping], keep: Iterable[str], cutoff: dt.datetime,
                 limit: int = 100) -> list[str]:
    """Finished pods that ended before `cutoff`, except those in `keep` (still asked
    about) and those already being deleted; at most `limit`, oldest first."""
    keep = set(keep)
    found = []
    for name, pod in pods.items():
        if name in keep or phase_of(pod) not in FINISHED_PHASES:
            continue
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        ended = finished_at(pod)
        if ended is not None and ended <= cutoff:
            found.append((ended, name))
    return [name for _, name in sorted(found)[:limit]]
