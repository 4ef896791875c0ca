"""Ops waiting for their image (docs/kubernetes.md, "Builds"): the backend's side of builds.

A template with `build` first needs its image: `submit` finds the `Build` of
that image (builds.py says which, build_states.py how it moves), reuses it when
it succeeded, else (re)starts its kaniko pod and records the op's pod as a
`BuildWaiter`. `sync` then reports a waiting op PENDING while the image is built,
creates its pod when the build succeeded, or fails it with the build's reason.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping

from django.db import transaction

from ..conf import polyflow_settings
from . import build_states
from .base import FAILED, PENDING, Observation, Submission
from .builds import CONTAINER as BUILD_CONTAINER
from .builds import ContextSource, build_plan, build_pod_manifest, build_pod_name, pinned_image
from .kube_client import ApiError, KubeClient
from .kube_logs import LogArchive
from .manifests import pod_manifest, with_image

logger = logging.getLogger("polyflow.backends.kubernetes")


def waiting_observation(status: str, image: str, pod: str, reason: str, message: str) -> Observation | None:
    """What an op waiting for a build in `status` observes; None once the image is there
    (its pod is to be created)."""
    if status == build_states.BUILDING:
        return Observation(PENDING, message=message or f"building image {image} (pod {pod})")
    if status == build_states.FAILED:
        return Observation(FAILED, reason=reason or "build_failed",
                           message=f"image build of {image} failed (pod {pod}): {message}".rstrip(": "))
    return None


def context_source() -> ContextSource:
    """The artifact store as the scheduler sees it, for the init container of a packed context."""
    from ..artifacts.store import settings_store

    store = settings_store()
    return ContextSource(polyflow_settings.ARTIFACTS_IMAGE, store.url, dict(store.options),
                         polyflow_settings.ARTIFACTS_CREDENTIALS_SECRET)


class KubeBuilds:
    def __init__(self, client: KubeClient, archive: LogArchive):
        self.client = client
        self.archive = archive

    # -- submit ------------------------------------------------------------------
    def submit(self, submission: Submission) -> str:
        from ..models import BuildWaiter

        plan = build_plan(submission, polyflow_settings.BUILD_REGISTRY, polyflow_settings.BUILD_CONTEXT)
        manifest = pod_manifest(submission, self.client.namespace, image=plan.image, build=plan.image)
        if BuildWaiter.objects.filter(pod=submission.key).exists():
            return submission.key  # submitted before: waiting for its image
        build, _ = build_states.start(plan.image, plan.pod_name(1), hash=plan.hash, pipeline=plan.pipeline,
                                      template=plan.template, namespace=self.client.namespace)
        if build.status == build_states.SUCCEEDED:
            self.client.submit_pod(with_image(manifest, pinned_image(build.image, build.digest)))
            return submission.key
        if build.status == build_states.FAILED:
            # Another try, under the next pod name (the failed pod may still exist). Another
            # scheduler may retry it first: then `build` is its try, refreshed.
            build_states.move(build, build_states.BUILDING, pod=build_pod_name(
                build.pipeline, build.template, build.hash, build.tries + 1), namespace=self.client.namespace)
        self.client.submit_pod(build_pod_manifest(
            plan, build.pod, self.client.namespace, polyflow_settings.BUILD_EXECUTOR_IMAGE,
            polyflow_settings.BUILD_CREDENTIALS_SECRET, context_source() if plan.packed_uri else None))
        with transaction.atomic():
            BuildWaiter.objects.get_or_create(pod=submission.key, defaults={"build": build, "manifest": manifest})
        return submission.key

    # -- sync ----------------------------------------------------------------------
    def sync(self, handles: Iterable[str], pods: Mapping[str, dict], listed_at: dt.datetime) -> dict[str, Observation]:
        """Observations of the handles (without a pod) that wait for a build; the others are not
        in the answer. Each build is judged once, however many ops wait for it."""
        from ..models import BuildWaiter

        waiters = {w.pod: w for w in BuildWaiter.objects.filter(pod__in=list(handles)).select_related("build")}
        # Each waiter has its own copy of the row: judge one, and read that one for all.
        builds: dict[int, tuple] = {}
        result = {}
        for handle, waiter in waiters.items():
            if waiter.build_id not in builds:
                builds[waiter.build_id] = (waiter.build, self._judge(waiter.build, pods, listed_at))
            build, progress = builds[waiter.build_id]
            observation = waiting_observation(build.status, build.image, build.pod, build.reason,
                                              progress or build.message)
            if observation is None:
                result[handle] = self._start_waiter(waiter, pinned_image(build.image, build.digest))
                continue
            if observation.state == FAILED:
                self.archive.archive_build_failure(handle, build)
                waiter.delete()
            result[handle] = observation
        return result

    def _judge(self, build, pods: Mapping[str, dict], listed_at: dt.datetime) -> str:
        """Move a building build as its pod says (the row is refreshed); what a build still in
        progress shows its waiting ops, else ""."""
        if build.status != build_states.BUILDING:
            return ""
        pod = pods.get(build.pod)
        verdict = build_states.judge(build.image, build.pod, build.updated_at, pod, listed_at)
        if verdict.status == build_states.BUILDING:
            return verdict.message
        if verdict.delete_pod:
            try:
                self.client.delete_pod(build.pod, 0)
            except ApiError as error:
                logger.warning("%s", error)
        if pod is not None:
            self.archive.archive(build.pod, BUILD_CONTAINER)
        build_states.move(build, verdict.status, reason=verdict.reason, message=verdict.message,
                          digest=verdict.digest)
        return ""

    def _start_waiter(self, waiter, image: str) -> Observation:
        try:
            self.client.create_pod(with_image(waiter.manifest, image))
        except ApiError as error:
            if error.status in (400, 422):
                waiter.delete()
                return Observation(FAILED, reason="submit_error", message=str(error))
            logger.warning("%s; trying again at the next sync", error)
            return Observation(PENDING, message=f"image {image} built; creating the pod: {error}")
        waiter.delete()
        return Observation(PENDING, message=f"image {image} built; pod created")

    # -- the rest ------------------------------------------------------------------
    def log(self, handle: str) -> str | None:
        """An op waiting for its image shows the build's log; None when it waits for none."""
        from ..models import BuildWaiter

        waiter = BuildWaiter.objects.filter(pod=handle).select_related("build").first()
        if waiter is None:
            return None
        build = waiter.build
        try:
            text = self.client.read_log(build.pod, BUILD_CONTAINER)
        except ApiError:
            text = self.archive.archived(build.pod) or ""
        return f"polyflow: building image {build.image} (pod {build.pod})\n{text}"

    def forget(self, handles: Iterable[str]) -> None:
        """Stopped ops never get their pod; the build goes on (other ops may need it)."""
        from ..models import BuildWaiter

        BuildWaiter.objects.filter(pod__in=list(handles)).delete()

    def waiting_on(self, build_pods: Iterable[str]) -> list[str]:
        """The op handles waiting for the builds whose pods these are (one query)."""
        from ..models import BuildWaiter

        names = list(build_pods)
        if not names:
            return []
        return list(BuildWaiter.objects.filter(build__pod__in=names, build__namespace=self.client.namespace)
                    .values_list("pod", flat=True))
