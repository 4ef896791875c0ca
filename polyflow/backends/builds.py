"""Image builds: a template with `build` becomes a kaniko pod first (DESIGN section 7).

Pure parts: which image a build makes and the kaniko pod that makes it.

- The image is `<repository>:<hash>`, the repository being the build's `image`
  or `<BUILD_REGISTRY>/<pipeline>-<template>`, the hash the first 12 hex digits
  of the sha256 of a canonical JSON of the build spec, the pipeline and
  template names and the context actually used (so changing
  `POLYFLOW["BUILD_CONTEXT"]` builds again). The same hash means the same
  image: a successful build is reused, never run twice.
- The context: a packed context (the spec's directory, stored by digest at
  apply time) is unpacked by the pod's init container into an emptyDir that
  kaniko reads as `dir:///workspace`, and its digest is in the hash (same files:
  the same image; a changed file: a new build). A build's `context` with a
  scheme (`git://`, `s3://`, `gs://`, `dir://`, ...) or an absolute path is
  kaniko's `--context` itself. A spec applied with no directory (the API without
  an upload) falls back on `POLYFLOW["BUILD_CONTEXT"]`: a relative context is a
  `--context-sub-path` of it, none means it as it is.
- The build pod is `build-<pipeline>-<template>-<hash>-<n>` (trimmed to a
  DNS-1123 label), n counting the tries of that build: a failed build is tried
  again, under a new name, by the next attempt of an op that needs it.
  kaniko writes the image's digest to its termination message
  (`--digest-file`), and the op's pod then runs `<image>@<digest>`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from ..spec.plan import thaw
from .base import Submission, SubmitError
from .manifests import (
    COMPONENT_LABEL,
    MANAGED_BY,
    MANAGER,
    OUTPUTS_FILE,
    PIPELINE_LABEL,
    PREFIX,
    TEMPLATE_LABEL,
)
from .naming import label

BUILD_LABEL = PREFIX + "build"  # the hash
IMAGE_ANNOTATION = PREFIX + "image"
CONTAINER = "kaniko"
CREDENTIALS_DIR = "/kaniko/.docker"
CONTEXT_CONTAINER = "context"  # the init container unpacking a packed context
CONTEXT_VOLUME = "build-context"
CONTEXT_DIR = "/workspace"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_APPLY_TIME_FIELDS = frozenset({"packed_digest", "context_sub_path"})


@dataclass(frozen=True)
class BuildPlan:
    """What one build makes, and from what."""

    pipeline: str
    template: str
    hash: str  # 12 hex digits
    image: str  # <repository>:<hash>, where kaniko pushes
    context: str
    sub_path: str | None
    dockerfile: str
    build_args: dict[str, str] = field(default_factory=dict)
    packed_uri: str | None = None  # a packed context in the artifact store, unpacked into CONTEXT_DIR
    packed_digest: str | None = None

    def pod_name(self, number: int = 1) -> str:
        return build_pod_name(self.pipeline, self.template, self.hash, number)


def _error(submission: Submission, message: str) -> SubmitError:
    return SubmitError(f"template {submission.template.name!r} of op {submission.op!r}: build: {message}",
                       permanent=True)


def resolve_context(submission: Submission, default_context: str) -> tuple[str, str | None]:
    """(kaniko's --context, its --context-sub-path or None)."""
    build = submission.template.build
    if build is not None and build.packed_uri:
        return f"dir://{CONTEXT_DIR}", build.context_sub_path
    given = (build.context or "").strip() if build else ""
    if given and (_SCHEME.match(given) or given.startswith("/")):
        return given, (build.context_sub_path if build else None)
    if not default_context:
        if given:
            raise _error(submission, f"context {given!r} is a path relative to the spec's directory, which was "
                                     f"not packed (apply it with `polyflow apply`, upload it over the API) and "
                                     f"POLYFLOW['BUILD_CONTEXT'] is not set")
        raise _error(submission, "no context: apply the spec with `polyflow apply` (its directory is the "
                                 "context), give the build a context (e.g. git://host/repo.git) or set "
                                 "POLYFLOW['BUILD_CONTEXT']")
    sub_path = given.strip("/")
    if sub_path in ("", "."):
        sub_path = None
    return default_context, sub_path


def repository_of(submission: Submission, registry: str) -> str:
    build = submission.template.build
    if build and build.image:
        repository = build.image
        # A tag of its own would be replaced by the hash: keep the repository part.
        last = repository.rsplit("/", 1)[-1]
        if ":" in last and "@" not in repository:
            repository = repository[: repository.rindex(":")]
        return repository
    if not registry:
        raise _error(submission, "POLYFLOW['BUILD_REGISTRY'] is not set and the build names no image to push")
    return f"{registry.rstrip('/')}/{submission.pipeline}-{submission.template.name}"


def build_hash(pipeline: str, template: str, build: dict, context: str, sub_path: str | None) -> str:
    # The packed context is in by its digest: where the store keeps it does not change the image.
    # The fields a build had before contexts were packed leave the hashes of the others as they were.
    build = {key: value for key, value in build.items()
             if key != "packed_uri" and not (key in _APPLY_TIME_FIELDS and value is None)}
    canonical = json.dumps({"pipeline": pipeline, "template": template, "build": build, "context": context,
                            "sub_path": sub_path}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def build_plan(submission: Submission, registry: str, default_context: str) -> BuildPlan:
    """The build an op needs; raises SubmitError(permanent=True) when settings lack what it needs."""
    build = submission.template.build
    if build is None:
        raise _error(submission, "the template has no build")
    context, sub_path = resolve_context(submission, default_context)
    repository = repository_of(submission, registry)
    spec = thaw(build)
    digest = build_hash(submission.pipeline, submission.template.name, spec, context, sub_path)
    return BuildPlan(
        pipeline=submission.pipeline,
        template=submission.template.name,
        hash=digest,
        image=f"{repository}:{digest}",
        context=context,
        sub_path=sub_path,
        dockerfile=build.dockerfile or "Dockerfile",
        build_args={str(k): str(v) for k, v in build.build_args.items()},
        packed_uri=build.packed_uri or None,
        packed_digest=build.packed_digest or None,
    )


def build_pod_name(pipeline: str, template: str, digest: str, number: int) -> str:
    return label(f"build-{pipeline}-{template}", f"-{digest}-{number}")


def kaniko_args(plan: BuildPlan) -> list[str]:
    args = [f"--context={plan.context}"]
    if plan.sub_path:
        args.append(f"--context-sub-path={plan.sub_path}")
    args += [f"--dockerfile={plan.dockerfile}", f"--destination={plan.image}"]
    args += [f"--build-arg={name}={value}" for name, value in sorted(plan.build_args.items())]
    args.append(f"--digest-file={OUTPUTS_FILE}")
    return args


@dataclass(frozen=True)
class ContextSource:
    """How the init container reaches the artifact store (the settings of the scheduler's store)."""

    image: str  # POLYFLOW["ARTIFACTS_IMAGE"]
    store_url: str
    store_options: dict = field(default_factory=dict)
    credentials_secret: str = ""  # POLYFLOW["ARTIFACTS_CREDENTIALS_SECRET"]: its keys become env


def context_init_container(plan: BuildPlan, source: ContextSource) -> dict:
    """The init container that fetches the packed context, checks its digest and unpacks it
    into the emptyDir kaniko builds from (kaniko reads s3/gs/az contexts but not file://, and
    not with every store's endpoint and credentials: one way for every store)."""
    container: dict = {
        "name": CONTEXT_CONTAINER,
        "image": source.image,
        "command": ["python", "-m", "polyflow.artifacts", "context", "--uri", plan.packed_uri,
                    "--digest", plan.packed_digest, "--into", CONTEXT_DIR],
        "env": [
            {"name": "POLYFLOW_ARTIFACTS_STORE", "value": source.store_url},
            {"name": "POLYFLOW_ARTIFACTS_STORE_OPTIONS",
             "value": json.dumps(source.store_options, sort_keys=True, separators=(",", ":"))},
        ],
        "volumeMounts": [{"name": CONTEXT_VOLUME, "mountPath": CONTEXT_DIR}],
    }
    if source.credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": source.credentials_secret}}]
    return container


def build_pod_manifest(plan: BuildPlan, name: str, namespace: str, executor_image: str,
                       credentials_secret: str = "", context_source: ContextSource | None = None) -> dict:
    """The kaniko pod of one try of a build: the executor's own entrypoint with
    its arguments, the registry's credentials mounted where kaniko reads them,
    and for a packed context the init container that unpacks it."""
    container: dict = {
        "name": CONTAINER,
        "image": executor_image,
        "args": kaniko_args(plan),
        "terminationMessagePath": OUTPUTS_FILE,
        "terminationMessagePolicy": "File",
    }
    spec: dict = {"restartPolicy": "Never", "containers": [container]}
    mounts, volumes = [], []
    if credentials_secret:
        mounts.append({"name": "registry-credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True})
        volumes.append({"name": "registry-credentials", "secret": {
            "secretName": credentials_secret,
            "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
        }})
    if plan.packed_uri:
        if context_source is None:
            raise ValueError("a packed context needs the artifact store's settings (ContextSource)")
        spec["initContainers"] = [context_init_container(plan, context_source)]
        mounts.append({"name": CONTEXT_VOLUME, "mountPath": CONTEXT_DIR})
        volumes.append({"name": CONTEXT_VOLUME, "emptyDir": {}})
    if mounts:
        container["volumeMounts"] = mounts
        spec["volumes"] = volumes
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                MANAGED_BY: MANAGER,
                COMPONENT_LABEL: "build",
                BUILD_LABEL: plan.hash,
                PIPELINE_LABEL: plan.pipeline,
                TEMPLATE_LABEL: plan.template,
            },
            "annotations": {IMAGE_ANNOTATION: plan.image},
        },
        "spec": spec,
    }


def pinned_image(image: str, digest: str) -> str:
    """`<image>@<digest>` when kaniko reported a digest, else the tagged image."""
    digest = (digest or "").strip()
    return f"{image}@{digest}" if _DIGEST.match(digest) else image
