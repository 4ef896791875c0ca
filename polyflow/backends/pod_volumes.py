"""An op pod's own volumes (DESIGN section 10), pure: the template's `environment.volumes` and
`container.volume_mounts`, and the run's workspace, a PersistentVolumeClaim per run.

The volumes are Kubernetes' own objects already (the spec takes them in Kubernetes' camelCase,
as `affinity`); the mounts are Polyflow's snake_case, turned into Kubernetes' here.
"""

from __future__ import annotations

from ..spec.plan import WorkspaceSpec, thaw
from .base import Submission
from .naming import label

WORKSPACE_VOLUME = "polyflow-workspace"
WORKSPACE_COMPONENT = "workspace"


def workspace_claim_name(run_uuid: str) -> str:
    """`polyflow-ws-<run short uuid>`: one claim per run, found again by name."""
    return label("polyflow-ws", f"-{run_uuid.replace('-', '')[:8]}")


def template_volumes(submission: Submission) -> list[dict]:
    return [thaw(volume) for volume in submission.template.environment.volumes]


def template_mounts(submission: Submission) -> list[dict]:
    mounts = []
    for mount in submission.template.container.volume_mounts:
        item = {"name": mount["name"], "mountPath": mount["mount_path"]}
        if mount.get("read_only"):
            item["readOnly"] = True
        if mount.get("sub_path"):
            item["subPath"] = mount["sub_path"]
        mounts.append(item)
    return mounts


def workspace_volume(submission: Submission) -> list[dict]:
    if submission.workspace is None:
        return []
    return [{"name": WORKSPACE_VOLUME,
             "persistentVolumeClaim": {"claimName": workspace_claim_name(submission.run_uuid)}}]


def workspace_mount(submission: Submission) -> list[dict]:
    if submission.workspace is None:
        return []
    return [{"name": WORKSPACE_VOLUME, "mountPath": submission.workspace.mount_path}]


def workspace_claim(run_uuid: str, workspace: WorkspaceSpec, namespace: str, pipeline: str = "") -> dict:
    """The PersistentVolumeClaim of a run's workspace, labelled with the run."""
    from .manifests import COMPONENT_LABEL, MANAGED_BY, MANAGER, PIPELINE_LABEL, RUN_LABEL

    labels = {MANAGED_BY: MANAGER, RUN_LABEL: run_uuid, COMPONENT_LABEL: WORKSPACE_COMPONENT}
    if pipeline:
        labels[PIPELINE_LABEL] = pipeline
    spec: dict = {"accessModes": [workspace.access_mode], "resources": {"requests": {"storage": workspace.size}}}
    if workspace.storage_class:
        spec["storageClassName"] = workspace.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": workspace_claim_name(run_uuid), "namespace": namespace, "labels": labels},
            "spec": spec}
