"""Image builds: a template with `build` becomes a kaniko pod first (DESIGN section 7).

Pure parts: which image a build makes and the kaniko pod that makes it.

- The image is `<repository>:<hash>`, the repository being the build's `image`
  or `<BUILD_REGISTRY>/<pipeline>-<template>`, the hash the first 12 hex digits
  of the sha256 of a canonical JSON of the build spec, the pipeline and
  template names and the context actually used (so changing
  `POLYFLOW["BUILD_CONTEXT"]` builds again). The same hash means the same
  image: a successful build is reused, never run twice.
- The context: a build's `context` with a scheme (`git://`, `s3://`, `gs://`,
  `dir://`, ...) or an absolute path is kaniko's `--context` itself; a relative
  one is a `--context-sub-path` of `POLYFLOW["BUILD_CONTEXT"]`; none means
  `BUILD_CONTEXT` as it is.
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
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


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

    def pod_name(self, number: int = 1) -> str:
        return build_pod_name(self.pipeline, self.template, self.hash, number)


def _error(submission: Submission, message: str) -> SubmitError:
    return SubmitError(f"template {submission.template.name!r} of op {submission.op!r}: build: {message}",
                       permanent=True)


def resolve_context(submission: Submission, default_context: str) -> tuple[str, str | None]:
    """(kaniko's --context, its --context-sub-path or None)."""
    build = submission.template.build
    given = (build.context or "").strip() if build else ""
    if given and (_SCHEME.match(given) or given.startswith("/")):
        return given, None
    if not default_context:
        if given:
            raise _error(submission, f"context {given!r} is a path relative to POLYFLOW['BUILD_CONTEXT'], "
                                     f"which is not set")
        raise _error(submission, "no context: give the build a context (e.g. git://host/repo.git) or set "
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


def build_pod_manifest(plan: BuildPlan, name: str, namespace: str, executor_image: str,
                       credentials_secret: str = "") -> dict:
    """The kaniko pod of one try of a build: the executor's own entrypoint with
    its arguments, the registry's credentials mounted where kaniko reads them."""
    container: dict = {
        "name": CONTAINER,
        "image": executor_image,
        "args": kaniko_args(plan),
        "terminationMessagePath": OUTPUTS_FILE,
        "terminationMessagePolicy": "File",
    }
    spec: dict = {"restartPolicy": "Never", "containers": [container]}
    if credentials_secret:
        container["volumeMounts"] = [{"name": "registry-credentials", "mountPath": CREDENTIALS_DIR,
                                      "readOnly": True}]
        spec["volumes"] = [{"name": "registry-credentials", "secret": {
            "secretName": credentials_secret,
            "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
        }}]
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
