"""The containers that move an attempt's artifacts in its pod (DESIGN section 10; the choice and
why: docs/kubernetes.md, "Artifacts in pods"). Pure: a Submission and settings in, pod parts out.

- download: an init container `polyflow-download` (ARTIFACTS_IMAGE) runs `python -m
  polyflow.artifacts pull --items JSON` into an emptyDir the op sees at /polyflow/inputs;
- the op's container gets POLYFLOW_OUTPUTS_DIR=/polyflow/outputs (an emptyDir) and its command
  wrapped by `/bin/sh`, which passes signals on to it and, when it ends, writes its exit code
  to /polyflow/status/exit-code (an emptyDir shared with the upload);
- upload: a container `polyflow-upload` (ARTIFACTS_IMAGE) that waits for that file and, when
  the op exited 0, runs `python -m polyflow.artifacts push --items JSON --manifest URI`; when it
  exited otherwise it uploads nothing and ends 0 (the op's container fails the pod).

The artifact containers get POLYFLOW_ARTIFACTS_STORE, POLYFLOW_ARTIFACTS_STORE_OPTIONS and, when
ARTIFACTS_CREDENTIALS_SECRET is set, that Secret's keys as env (envFrom). The op's container
gets neither: the store's credentials are not the op's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from .base import Submission, SubmitError

DOWNLOAD_CONTAINER = "polyflow-download"
UPLOAD_CONTAINER = "polyflow-upload"
INPUTS_DIR = "/polyflow/inputs"
OUTPUTS_DIR = "/polyflow/outputs"
STATUS_DIR = "/polyflow/status"
EXIT_FILE = f"{STATUS_DIR}/exit-code"
INPUTS_VOLUME = "polyflow-inputs"
OUTPUTS_VOLUME = "polyflow-outputs"
STATUS_VOLUME = "polyflow-status"

# The op's command under /bin/sh: the shell is the container's PID 1, which ignores signals it
# has no handler for, so it traps SIGTERM and passes it on; `wait` returns early when a trapped
# signal arrives, hence the loop until the op is really gone. The exit code is written last.
WRAPPER = (
    '"$@" & child=$!\n'
    "trap 'kill -TERM \"$child\" 2>/dev/null' TERM INT\n"
    'wait "$child"; code=$?\n'
    'while kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done\n'
    f'echo "$code" > {EXIT_FILE}.tmp && mv {EXIT_FILE}.tmp {EXIT_FILE}\n'
    'exit "$code"\n'
)
# The upload: waits for the op's exit code (the file appears whole: it is renamed into place).
UPLOADER = (
    "trap 'exit 143' TERM INT\n"
    f"while [ ! -f {EXIT_FILE} ]; do sleep 0.2; done\n"
    f'read -r code < {EXIT_FILE}\n'
    'if [ "$code" != 0 ]; then echo "polyflow: the op exited with code $code: no outputs to upload"; exit 0; fi\n'
    'exec python -m polyflow.artifacts push --items "$1" --manifest "$2"\n'
)


@dataclass(frozen=True)
class ArtifactSettings:
    """What the artifact containers need from settings (POLYFLOW["ARTIFACTS_*"])."""

    image: str
    store_url: str
    store_options: Mapping = field(default_factory=dict)
    credentials_secret: str = ""

    @classmethod
    def from_settings(cls) -> ArtifactSettings:
        from ..artifacts.store import store_url
        from ..conf import polyflow_settings as values

        return cls(values.ARTIFACTS_IMAGE, store_url(values.ARTIFACTS_STORE, values.HOME),
                   dict(values.ARTIFACTS_STORE_OPTIONS or {}), values.ARTIFACTS_CREDENTIALS_SECRET or "")


def has_artifacts(submission: Submission) -> bool:
    return bool(submission.artifact_inputs or submission.artifact_outputs)


def pull_items(submission: Submission) -> list[dict]:
    return [{"name": name, "uri": item.uri, "path": f"{INPUTS_DIR}/{name}", "kind": item.kind}
            for name, item in sorted(submission.artifact_inputs.items())]


def push_items(submission: Submission) -> list[dict]:
    return [{"name": name, "path": f"{OUTPUTS_DIR}/{name}", "uri": item.uri, "optional": item.optional}
            for name, item in sorted(submission.artifact_outputs.items())]


def _items_json(items: list[dict]) -> str:
    # Written for Kubernetes' $(VAR) expansion of args: a URI's `$` stays a `$`.
    return json.dumps(items, sort_keys=True, separators=(",", ":")).replace("$", "$$")


def store_env(store_url: str, store_options: Mapping) -> list[dict]:
    return [{"name": "POLYFLOW_ARTIFACTS_STORE", "value": store_url},
            {"name": "POLYFLOW_ARTIFACTS_STORE_OPTIONS",
             "value": json.dumps(dict(store_options or {}), sort_keys=True)}]


def _artifact_container(name: str, image: str, command: list[str], mounts: list[dict], env: list[dict],
                        credentials_secret: str) -> dict:
    container = {"name": name, "image": image, "command": command, "env": env, "volumeMounts": mounts,
                 # The error it printed is what the op run's message says.
                 "terminationMessagePolicy": "FallbackToLogsOnError"}
    if credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": credentials_secret}}]
    return container


def download_container(submission: Submission, image: str, env: list[dict], credentials_secret: str) -> dict:
    command = ["python", "-m", "polyflow.artifacts", "pull", "--items", _items_json(pull_items(submission))]
    return _artifact_container(DOWNLOAD_CONTAINER, image, command,
                               [{"name": INPUTS_VOLUME, "mountPath": INPUTS_DIR}], env, credentials_secret)


def upload_container(submission: Submission, image: str, env: list[dict], credentials_secret: str) -> dict:
    if not submission.manifest_uri:
        raise SubmitError(f"op {submission.op!r}: path outputs but no manifest URI to record them at",
                          permanent=True)
    command = ["/bin/sh", "-c", UPLOADER, UPLOAD_CONTAINER, _items_json(push_items(submission)),
               submission.manifest_uri.replace("$", "$$")]
    mounts = [{"name": OUTPUTS_VOLUME, "mountPath": OUTPUTS_DIR, "readOnly": True},
              {"name": STATUS_VOLUME, "mountPath": STATUS_DIR}]
    return _artifact_container(UPLOAD_CONTAINER, image, command, mounts, env, credentials_secret)


def wrapped(submission: Submission, command: list[str], args: list[str]) -> tuple[list[str], list[str]]:
    """The op's command and args under the wrapper that tells the upload how it ended."""
    if not command:
        raise SubmitError(
            f"template {submission.template.name!r} of op {submission.op!r}: path outputs need "
            f"container.command on Kubernetes: the upload waits for the command to end, and the image's "
            f"own entrypoint is not known here", permanent=True)
    return ["/bin/sh", "-c", WRAPPER, submission.op], [*command, *args]


def op_mounts(submission: Submission) -> list[dict]:
    mounts = []
    if submission.artifact_inputs:
        mounts.append({"name": INPUTS_VOLUME, "mountPath": INPUTS_DIR})
    if submission.artifact_outputs:
        mounts.append({"name": OUTPUTS_VOLUME, "mountPath": OUTPUTS_DIR})
        mounts.append({"name": STATUS_VOLUME, "mountPath": STATUS_DIR})
    return mounts


def volumes(submission: Submission) -> list[dict]:
    names = [INPUTS_VOLUME] if submission.artifact_inputs else []
    if submission.artifact_outputs:
        names += [OUTPUTS_VOLUME, STATUS_VOLUME]
    return [{"name": name, "emptyDir": {}} for name in names]
