"""Volumes and workspaces on the local backend (DESIGN section 10): ops are processes on this
machine, with no mounts, so

- a run's workspace is a directory `<POLYFLOW HOME>/workspaces/<run uuid>/`, given to every op
  of the run as `$POLYFLOW_WORKSPACE` (its `mount_path` is a pod's notion), made by the first
  submit of the run and removed by `end_run`;
- a `hostPath` volume mounted at its own path is the same file system here: accepted; every
  other mount (another path, or any other source: persistentVolumeClaim, configMap, secret,
  emptyDir, nfs, csi) is refused at submit with an error naming the backend, never ignored.
"""

from __future__ import annotations

import posixpath
import shutil
from pathlib import Path

from .base import Submission, SubmitError


def mount_error(submission: Submission) -> str | None:
    """Why the local backend cannot give the op its volume mounts; None when it can."""
    volumes = {volume["name"]: volume for volume in submission.template.environment.volumes}
    for mount in submission.template.container.volume_mounts:
        volume = volumes.get(mount["name"]) or {}
        source = next((key for key in volume if key != "name"), "?")
        path = mount["mount_path"]
        if source == "hostPath" and not mount.get("sub_path") and \
                posixpath.normpath(volume["hostPath"]["path"]) == posixpath.normpath(path):
            continue
        if source == "hostPath":
            why = (f"a hostPath volume can only be used at its own path here ({volume['hostPath']['path']}), "
                   f"not at {path}")
        else:
            why = "the local backend mounts nothing (ops run as processes on this machine)"
        return (f"template {submission.template.name!r} of op {submission.op!r}: the local backend cannot mount "
                f"volume {mount['name']!r} ({source}) at {path}: {why}; run it on the kubernetes backend")
    return None


def check_mounts(submission: Submission) -> None:
    error = mount_error(submission)
    if error:
        raise SubmitError(error, permanent=True)


def workspace_dir(root: Path, run_uuid: str) -> Path:
    return root / run_uuid


def ensure_workspace(root: Path, submission: Submission) -> str | None:
    """The run's workspace directory (made if need be), or None for a run without one."""
    if submission.workspace is None:
        return None
    directory = workspace_dir(root, submission.run_uuid)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SubmitError(f"cannot create the run's workspace {directory}: {error}") from error
    return str(directory)


def remove_workspace(root: Path, run_uuid: str) -> None:
    directory = workspace_dir(root, run_uuid)
    if directory.exists():
        shutil.rmtree(directory)
