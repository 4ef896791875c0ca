"""The life of an image build (DESIGN section 7, docs/kubernetes.md "Builds").

A `Build` row is one image. Its status moves only as this table allows, and
only through `start` and `move` here, each a conditional write (the row as it
was read: status, try and pod), so two schedulers judging the same build pod
move it once, and each move that happened is recorded as a `Transition`:

    (none) ──start──► building ──its pod succeeded──► succeeded   final: the image is reused, never rebuilt
                        ▲   └──its pod failed, or vanished──► failed
                        └───────── retry: the next try, under the next pod name ──┘

The pure part (`TRANSITIONS`, `allowed`, `check`, `judge`) decides; `start` and
`move` write. The history is logged (logger `polyflow.builds`) and returned;
the `Build` model has no field to keep it in yet (see docs/kubernetes.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from django.db import transaction
from django.utils import timezone

from .base import FAILED as FAILED_OBSERVATION
from .base import SUCCEEDED as SUCCEEDED_OBSERVATION
from .builds import CONTAINER as BUILD_CONTAINER
from .kube_pods import observe_pod, phase_of, termination_message

logger = logging.getLogger("polyflow.builds")

NONE = ""  # no row yet
BUILDING, SUCCEEDED, FAILED = "building", "succeeded", "failed"  # Build.Status
STATES = (BUILDING, SUCCEEDED, FAILED)
# to-state -> the states a build may come from.
TRANSITIONS: dict[str, frozenset[str]] = {
    BUILDING: frozenset({NONE, FAILED}),  # the first try; the next try of a failed build
    SUCCEEDED: frozenset({BUILDING}),
    FAILED: frozenset({BUILDING}),  # its pod failed, could not start, or vanished
}
FINAL = frozenset({SUCCEEDED})  # a failed build is final only until an op needs the image again
# A build row this recent whose pod the LIST did not show is being (re)started
# by another scheduler, not lost.
START_GRACE = 10.0


class RefusedTransition(ValueError):
    """A move the table does not allow (a bug of the caller, not a state of the world)."""


@dataclass(frozen=True)
class Transition:
    """One move of one build: the history's unit."""

    image: str
    previous: str  # NONE for the first
    status: str
    tries: int
    pod: str  # the try's kaniko pod
    reason: str = ""
    message: str = ""
    at: dt.datetime | None = None

    def as_dict(self) -> dict:
        data = asdict(self)
        data["at"] = self.at.isoformat() if self.at else None
        return data


def allowed(previous: str, status: str) -> bool:
    return previous in TRANSITIONS.get(status, frozenset())


def check(previous: str, status: str, image: str = "") -> None:
    if status not in TRANSITIONS:
        raise RefusedTransition(f"build of {image or 'an image'}: {status!r} is not a build state "
                                f"(states: {', '.join(STATES)})")
    if not allowed(previous, status):
        sources = ", ".join(sorted(s or "(none)" for s in TRANSITIONS[status]))
        raise RefusedTransition(f"build of {image or 'an image'}: {previous or '(none)'} -> {status} is not "
                                f"allowed (a build becomes {status} only from: {sources})")


# -- what a build pod says (pure) ------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """What a building build's pod (or its absence) says: stay BUILDING (with the message
    its waiting ops show), or move to SUCCEEDED (with kaniko's digest) or FAILED."""

    status: str
    reason: str = ""
    message: str = ""
    digest: str = ""
    # The pod failed before it ended (an image that cannot be pulled): it would wait forever.
    delete_pod: bool = False


def judge(image: str, pod_name: str, updated_at: dt.datetime | None, pod: Mapping | None,
          listed_at: dt.datetime) -> Verdict:
    """The verdict on a BUILDING build, from its pod as listed at `listed_at` (None: not listed)."""
    if pod is None:
        if updated_at and updated_at > listed_at - dt.timedelta(seconds=START_GRACE):
            return Verdict(BUILDING, message=f"building image {image} (pod {pod_name} starting)")
        return Verdict(FAILED, "lost", f"the build pod {pod_name} disappeared before it finished")
    observation = observe_pod(pod, container=BUILD_CONTAINER)
    if observation.state == SUCCEEDED_OBSERVATION:
        return Verdict(SUCCEEDED, digest=(termination_message(pod, BUILD_CONTAINER) or "").strip())
    if observation.state == FAILED_OBSERVATION:
        return Verdict(FAILED, observation.reason, observation.message,
                       delete_pod=phase_of(pod) not in ("Succeeded", "Failed"))
    detail = f": {observation.message}" if observation.message else ""
    return Verdict(BUILDING, message=f"building image {image} (pod {pod_name}: {phase_of(pod)}{detail})")


# -- writing (the only code that writes Build.status) ------------------------------------

def record(transition: Transition) -> Transition:
    log = logger.warning if transition.status == FAILED else logger.info
    log("build of %s: %s -> %s (try %d, pod %s)%s", transition.image, transition.previous or "(none)",
        transition.status, transition.tries, transition.pod,
        f": {transition.reason} {transition.message}".rstrip() if transition.reason else "")
    return transition


def start(image: str, pod: str, **fields) -> tuple[object, Transition | None]:
    """The build of `image`, made BUILDING (first try, pod `pod`) if it did not exist:
    (the row, the transition, or None when it existed)."""
    from ..models import Build

    check(NONE, BUILDING, image)
    first = Transition(image, NONE, BUILDING, 1, pod, at=timezone.now())
    with transaction.atomic():
        build, created = Build.objects.get_or_create(image=image, defaults={
            **fields, "pod": pod, "tries": 1, "status": BUILDING, "history": [first.as_dict()]})
    if not created:
        return build, None
    return build, record(first)


def move(build, status: str, *, reason: str = "", message: str = "", digest: str = "", pod: str | None = None,
         now: dt.datetime | None = None, **fields) -> Transition | None:
    """Move `build` (as it was read) to `status`; the transition, or None when another
    scheduler moved it first. `build` is refreshed either way. A retry (FAILED -> BUILDING)
    counts the next try and names its pod."""
    from ..models import Build

    check(build.status, status, build.image)
    now = now or timezone.now()
    values = {"status": status, "reason": reason[:64], "message": message, "updated_at": now, **fields}
    tries = build.tries
    if status == BUILDING:
        if not pod:
            raise RefusedTransition(f"build of {build.image}: another try needs the name of its pod")
        tries += 1
        values.update(tries=tries, pod=pod, digest="", finished_at=None)
    else:
        values.update(digest=digest[:128], finished_at=now)
    transition = Transition(build.image, build.status, status, tries, values.get("pod", build.pod), values["reason"],
                            message, now)
    # The condition is on the row as it was read, so the history read with it is the current one.
    values["history"] = [*(build.history or []), transition.as_dict()]
    moved = Build.objects.filter(pk=build.pk, status=build.status, tries=build.tries, pod=build.pod).update(**values)
    build.refresh_from_db()
    if not moved:
        return None
    return record(transition)
