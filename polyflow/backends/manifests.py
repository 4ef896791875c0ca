"""Pod manifests for op runs: a pure function of a `Submission` and a few settings.

DESIGN sections 2 and 7, written down in docs/kubernetes.md. The manifest is a
plain dict in Kubernetes' own JSON (camelCase), ready for the API server:

- name: the attempt key (deterministic, a DNS-1123 label); namespace from settings;
- labels: the template's, then Polyflow's (which win): `app.kubernetes.io/managed-by:
  polyflow`, `polyflow.dev/run` (the run's uuid), `polyflow.dev/op`,
  `polyflow.dev/attempt`, `polyflow.dev/pipeline`, `polyflow.dev/template`,
  `polyflow.dev/component: op`, and `polyflow.dev/trial` for a matrix trial;
- annotations: the template's, then `polyflow.dev/params` (the params as JSON),
  `polyflow.dev/project`, `polyflow.dev/schedule-at`, `polyflow.dev/image-build`;
- one container `main`: the image (the template's, or the built one), command
  and args with params substituted and the params' environment
  (`backends/container.py`, shared with the local backend);
- `$POLYFLOW_PARAMS_FILE` = /polyflow/params.json: the `polyflow.dev/params`
  annotation projected by a downwardAPI volume (no ConfigMap to create and
  clean up, nothing to write before the pod starts);
- `$POLYFLOW_OUTPUTS_FILE` = /dev/termination-log, the container's
  `terminationMessagePath` (policy `File`, 4 KiB at most): the outputs come
  back in the pod's status;
- `restartPolicy: Never` (Polyflow retries with a new pod per attempt) and
  `activeDeadlineSeconds` from the op's timeout;
- the template's environment: node_selector → nodeSelector, affinity as given
  (it is Kubernetes' own camelCase mapping), tolerations (toleration_seconds →
  tolerationSeconds), service_account → serviceAccountName,
  image_pull_secrets → imagePullSecrets, secret_refs / config_map_refs →
  envFrom secretRef / configMapRef, resources cpu and memory → requests and
  limits, gpu → `nvidia.com/gpu` limits (requests only when given, and then
  equal to the limit, as Kubernetes requires for extended resources);
- volumes (DESIGN section 10, `pod_volumes.py`): the template's `environment.volumes` and
  `container.volume_mounts`, the run's workspace claim at its mount path with
  `$POLYFLOW_WORKSPACE`; artifacts (`pod_artifacts.py`): a download init container, the outputs
  directory, the op's command wrapped and an upload container. When another mount lies under
  /polyflow, params.json is mounted alone (subPath): a mount point cannot be made inside the
  read-only downwardAPI volume. A pod with none of these is as it was before them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ..spec.plan import thaw
from . import pod_artifacts, pod_volumes
from .base import Submission, SubmitError
from .container import jsonable, localized, param_env, render_command

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "polyflow"
SELECTOR = f"{MANAGED_BY}={MANAGER}"
PREFIX = "polyflow.dev/"
RUN_LABEL = PREFIX + "run"
OP_LABEL = PREFIX + "op"
ATTEMPT_LABEL = PREFIX + "attempt"
TRIAL_LABEL = PREFIX + "trial"  # a matrix trial's index; absent on other pods
PIPELINE_LABEL = PREFIX + "pipeline"
TEMPLATE_LABEL = PREFIX + "template"
COMPONENT_LABEL = PREFIX + "component"  # "op" or "build"
PARAMS_ANNOTATION = PREFIX + "params"
PROJECT_ANNOTATION = PREFIX + "project"
SCHEDULE_ANNOTATION = PREFIX + "schedule-at"
BUILD_ANNOTATION = PREFIX + "image-build"

CONTAINER = "main"
PARAMS_DIR = "/polyflow"
PARAMS_FILE = f"{PARAMS_DIR}/params.json"
OUTPUTS_FILE = "/dev/termination-log"
PARAMS_VOLUME = "polyflow-params"
GPU_RESOURCE = "nvidia.com/gpu"
# Kubernetes keeps at most this much of a termination message.
MAX_OUTPUTS = 4096
# ... and of all the annotations of an object together.
MAX_ANNOTATIONS = 256 * 1024

_TOLERATION_KEYS = {"key": "key", "operator": "operator", "value": "value", "effect": "effect",
                    "toleration_seconds": "tolerationSeconds"}
_WHOLE_NUMBER = re.compile(r"^[0-9]+$")


def _error(submission: Submission, message: str) -> SubmitError:
    return SubmitError(f"template {submission.template.name!r} of op {submission.op!r}: {message}", permanent=True)


def labels_of(submission: Submission) -> dict[str, str]:
    labels = {str(k): str(v) for k, v in submission.template.environment.labels.items()}
    labels.update({
        MANAGED_BY: MANAGER,
        RUN_LABEL: submission.run_uuid,
        OP_LABEL: submission.op,
        ATTEMPT_LABEL: str(submission.attempt),
        PIPELINE_LABEL: submission.pipeline,
        TEMPLATE_LABEL: submission.template.name,
        COMPONENT_LABEL: "op",
    })
    if submission.trial is not None:
        labels[TRIAL_LABEL] = str(submission.trial)
    return labels


def params_json(submission: Submission) -> str:
    return json.dumps(jsonable(submission.params), sort_keys=True, separators=(",", ":"))


def annotations_of(submission: Submission, build: str | None = None) -> dict[str, str]:
    annotations = {str(k): str(v) for k, v in submission.template.environment.annotations.items()}
    annotations[PARAMS_ANNOTATION] = params_json(submission)
    if submission.project:
        annotations[PROJECT_ANNOTATION] = submission.project
    schedule_at = submission.globals.get("schedule_at")
    if schedule_at:
        annotations[SCHEDULE_ANNOTATION] = str(schedule_at)
    if build:
        annotations[BUILD_ANNOTATION] = build
    size = sum(len(key.encode()) + len(value.encode()) for key, value in annotations.items())
    if size > MAX_ANNOTATIONS:
        raise _error(submission, f"the params take {size} bytes as a pod annotation, more than Kubernetes' "
                                 f"{MAX_ANNOTATIONS}: pass large values by reference (a path or a URI)")
    return annotations


def tolerations_of(submission: Submission) -> list[dict]:
    result = []
    for index, toleration in enumerate(submission.template.environment.tolerations):
        item = {}
        for key, value in toleration.items():
            if key not in _TOLERATION_KEYS:
                raise _error(submission, f"environment.tolerations[{index}]: unknown key {key!r}")
            if value is not None:
                item[_TOLERATION_KEYS[key]] = value
        if "tolerationSeconds" in item and item.get("effect") != "NoExecute":
            raise _error(submission, f"environment.tolerations[{index}]: toleration_seconds needs "
                                     f"effect NoExecute (Kubernetes ignores it otherwise and refuses the pod)")
        result.append(item)
    return result


def resources_of(submission: Submission) -> dict:
    """requests and limits of cpu, memory and `nvidia.com/gpu`; {} when none is given."""
    spec = submission.template.environment.resources or {}
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    for name in ("cpu", "memory"):
        item = spec.get(name) or {}
        if item.get("requests") is not None:
            requests[name] = str(item["requests"])
        if item.get("limits") is not None:
            limits[name] = str(item["limits"])
    gpu = spec.get("gpu") or {}
    gpu_requests, gpu_limits = gpu.get("requests"), gpu.get("limits")
    if gpu_requests is not None or gpu_limits is not None:
        limit = str(gpu_limits if gpu_limits is not None else gpu_requests)
        if not _WHOLE_NUMBER.match(limit):
            raise _error(submission, f"environment.resources.gpu: {limit!r} is not a whole number of GPUs")
        if gpu_requests is not None and str(gpu_requests) != limit:
            raise _error(submission, f"environment.resources.gpu: requests ({gpu_requests}) must equal limits "
                                     f"({limit}): GPUs cannot be overcommitted")
        limits[GPU_RESOURCE] = limit
        if gpu_requests is not None:
            requests[GPU_RESOURCE] = limit
    resources = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources


def env_of(submission: Submission, outputs_file: str = OUTPUTS_FILE) -> list[dict[str, str]]:
    env = param_env(submission)
    env["POLYFLOW_PARAMS_FILE"] = PARAMS_FILE
    env["POLYFLOW_OUTPUTS_FILE"] = outputs_file
    if submission.artifact_outputs:
        env["POLYFLOW_OUTPUTS_DIR"] = pod_artifacts.OUTPUTS_DIR
    if submission.workspace is not None:
        env["POLYFLOW_WORKSPACE"] = submission.workspace.mount_path
    return [{"name": name, "value": value} for name, value in env.items()]


def env_from_of(submission: Submission) -> list[dict]:
    environment = submission.template.environment
    env_from = [{"secretRef": {"name": name}} for name in environment.secret_refs]
    env_from += [{"configMapRef": {"name": name}} for name in environment.config_map_refs]
    return env_from


def params_mount(mounts: list[dict]) -> dict:
    """The params volume's mount: the whole /polyflow directory, or params.json alone when another
    mount lies under /polyflow (a mount point cannot be made inside a read-only volume)."""
    if any(str(m["mountPath"]).startswith(PARAMS_DIR + "/") for m in mounts):
        return {"name": PARAMS_VOLUME, "mountPath": PARAMS_FILE, "subPath": "params.json", "readOnly": True}
    return {"name": PARAMS_VOLUME, "mountPath": PARAMS_DIR, "readOnly": True}


def main_container(submission: Submission, image: str | None = None, outputs_file: str = OUTPUTS_FILE) -> dict:
    """The op's container `main`: image, command and args with the params put in, the params'
    environment, envFrom, resources; with path outputs, the command wrapped for the upload
    (`pod_artifacts.wrapped`). Neither volumes nor the termination message: where the params
    file and the outputs file live is the caller's (a pod, an Argo template).

    Raises SubmitError(permanent=True) as `pod_manifest` does.
    """
    # The params as the op sees them: an artifact input's local path instead of its URI.
    submission = localized(submission, pod_artifacts.INPUTS_DIR)
    container_spec = submission.template.container
    image = image or container_spec.image
    if not image:
        raise _error(submission, "no image: the template has neither container.image nor a built image")
    command, args = render_command(submission)
    if submission.artifact_outputs:
        command, args = pod_artifacts.wrapped(submission, command, args)
    container: dict = {"name": CONTAINER, "image": image}
    if command:
        container["command"] = command
    if args:
        container["args"] = args
    if container_spec.working_dir:
        container["workingDir"] = container_spec.working_dir
    container["env"] = env_of(submission, outputs_file)
    env_from = env_from_of(submission)
    if env_from:
        container["envFrom"] = env_from
    resources = resources_of(submission)
    if resources:
        container["resources"] = resources
    return container


def placement_of(submission: Submission) -> dict:
    """The pod-level settings of the template's environment, in a pod spec's own keys:
    nodeSelector, affinity, tolerations, serviceAccountName, imagePullSecrets."""
    environment = submission.template.environment
    spec: dict = {}
    if environment.node_selector:
        spec["nodeSelector"] = {str(k): str(v) for k, v in environment.node_selector.items()}
    if environment.affinity:
        spec["affinity"] = thaw(environment.affinity)
    tolerations = tolerations_of(submission)
    if tolerations:
        spec["tolerations"] = tolerations
    if environment.service_account:
        spec["serviceAccountName"] = environment.service_account
    if environment.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in environment.image_pull_secrets]
    return spec


def pod_manifest(submission: Submission, namespace: str, image: str | None = None,
                 build: str | None = None, artifacts: pod_artifacts.ArtifactSettings | None = None) -> dict:
    """The Pod for one attempt. `image` overrides the template's (a built image);
    `build` names the build it came from (an annotation); `artifacts` the image and store of
    the artifact containers (read from settings when the attempt has artifacts and it is None).

    Raises SubmitError(permanent=True) for what Kubernetes would refuse or
    cannot run (no image, an expression that cannot be filled in, GPUs that
    are not whole numbers).
    """
    container = main_container(submission, image)
    mounts = (pod_volumes.template_mounts(submission) + pod_volumes.workspace_mount(submission)
              + pod_artifacts.op_mounts(submission))
    container["volumeMounts"] = [params_mount(mounts), *mounts]
    container["terminationMessagePath"] = OUTPUTS_FILE
    container["terminationMessagePolicy"] = "File"

    spec: dict = {"restartPolicy": "Never", "containers": [container]}
    if pod_artifacts.has_artifacts(submission):
        settings = artifacts or pod_artifacts.ArtifactSettings.from_settings()
        env = pod_artifacts.store_env(settings.store_url, settings.store_options)
        if submission.artifact_inputs:
            spec["initContainers"] = [pod_artifacts.download_container(
                submission, settings.image, env, settings.credentials_secret)]
        if submission.artifact_outputs:
            spec["containers"].append(pod_artifacts.upload_container(
                submission, settings.image, env, settings.credentials_secret))
    if submission.timeout and submission.timeout > 0:
        spec["activeDeadlineSeconds"] = int(submission.timeout)
    spec.update(placement_of(submission))
    spec["volumes"] = [{
        "name": PARAMS_VOLUME,
        "downwardAPI": {"items": [{
            "path": "params.json",
            "fieldRef": {"fieldPath": f"metadata.annotations['{PARAMS_ANNOTATION}']"},
        }]},
    }, *pod_volumes.template_volumes(submission), *pod_volumes.workspace_volume(submission),
        *pod_artifacts.volumes(submission)]

    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": submission.key,
            "namespace": namespace,
            "labels": labels_of(submission),
            "annotations": annotations_of(submission, build),
        },
        "spec": spec,
    }


def with_image(manifest: Mapping, image: str) -> dict:
    """A copy of a pod manifest whose `main` container runs `image`."""
    copy = json.loads(json.dumps(manifest))
    for container in copy["spec"]["containers"]:
        if container["name"] == CONTAINER:
            container["image"] = image
    return copy
