"""The image build state machine (build_states.py): the table, the verdicts on build pods
(pure), and the conditional moves with their record (PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest

from polyflow.backends import build_states
from polyflow.backends.build_states import (
    BUILDING,
    FAILED,
    NONE,
    STATES,
    SUCCEEDED,
    RefusedTransition,
    Transition,
    allowed,
    check,
    judge,
    move,
    start,
)
from polyflow.models import Build

LISTED = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
IMAGE = "registry.example.com/ml/pipe-t:0123456789ab"
DIGEST = "sha256:" + "ef" * 32

ALLOWED = {(NONE, BUILDING), (FAILED, BUILDING), (BUILDING, SUCCEEDED), (BUILDING, FAILED)}


@pytest.mark.parametrize("previous", (NONE, *STATES))
@pytest.mark.parametrize("status", STATES)
def test_the_table(previous, status):
    assert allowed(previous, status) == ((previous, status) in ALLOWED)
    if (previous, status) in ALLOWED:
        check(previous, status)
    else:
        with pytest.raises(RefusedTransition, match=re.escape(f"{previous or '(none)'} -> {status} is not allowed")):
            check(previous, status, IMAGE)


def test_the_states_are_the_models():
    assert set(STATES) == set(Build.Status.values)


def test_a_succeeded_build_is_final_and_unknown_states_are_refused():
    assert build_states.FINAL == {SUCCEEDED}
    assert not any(allowed(SUCCEEDED, status) for status in STATES)
    with pytest.raises(RefusedTransition, match="'pushed' is not a build state"):
        check(BUILDING, "pushed", IMAGE)


# -- verdicts (pure) ----------------------------------------------------------------------

def kaniko(phase, state=None, **status):
    containers = [{"name": "kaniko", "state": state}] if state else []
    return {"metadata": {"name": "build-pipe-t-1", "labels": {"polyflow.dev/component": "build"}},
            "status": {"phase": phase, "containerStatuses": containers, **status}}


def test_verdicts_on_build_pods():
    def on(pod, updated=LISTED - dt.timedelta(minutes=5)):
        return judge(IMAGE, "build-pipe-t-1", updated, pod, LISTED)

    succeeded = on(kaniko("Succeeded", {"terminated": {"exitCode": 0, "message": f"{DIGEST}\n"}}))
    assert (succeeded.status, succeeded.digest) == (SUCCEEDED, DIGEST)
    failed = on(kaniko("Failed", {"terminated": {"exitCode": 1, "reason": "Error", "message": "no Dockerfile"}}))
    assert (failed.status, failed.reason, failed.delete_pod) == (FAILED, "Error", False)
    assert "no Dockerfile" in failed.message
    unpullable = on(kaniko("Pending", {"waiting": {"reason": "ErrImagePull", "message": "no such image"}}))
    assert (unpullable.status, unpullable.reason, unpullable.delete_pod) == (FAILED, "ErrImagePull", True)
    running = on(kaniko("Running", {"running": {"startedAt": "2026-03-01T11:59:00Z"}}))
    assert (running.status, running.message) == (BUILDING, f"building image {IMAGE} (pod build-pipe-t-1: Running)")
    # No pod: just (re)started by another scheduler, or lost.
    assert on(None, updated=LISTED - dt.timedelta(seconds=1)).status == BUILDING
    lost = on(None)
    assert (lost.status, lost.reason) == (FAILED, "lost")
    assert "disappeared before it finished" in lost.message


# -- moves (database) ----------------------------------------------------------------------

@pytest.fixture
def history(caplog):
    caplog.set_level(logging.INFO, logger="polyflow.builds")

    def lines():
        return [record.getMessage() for record in caplog.records if record.name == "polyflow.builds"]

    return lines


def new_build():
    return start(IMAGE, "build-pipe-t-0123456789ab-1", hash="0123456789ab", pipeline="pipe", template="t",
                 namespace="polyflow")


@pytest.mark.django_db
def test_a_build_starts_once(history):
    build, first = new_build()
    assert (build.status, build.tries, build.pod) == (BUILDING, 1, "build-pipe-t-0123456789ab-1")
    assert (first.previous, first.status, first.tries) == (NONE, BUILDING, 1)
    again, second = new_build()
    assert again.pk == build.pk and second is None
    assert history() == [f"build of {IMAGE}: (none) -> building (try 1, pod build-pipe-t-0123456789ab-1)"]


@pytest.mark.django_db
def test_moves_are_conditional_on_the_row_as_read(history):
    build, _ = new_build()
    stale = Build.objects.get(pk=build.pk)
    done = move(build, SUCCEEDED, digest=DIGEST)
    assert isinstance(done, Transition) and (done.previous, done.status) == (BUILDING, SUCCEEDED)
    assert (build.status, build.digest) == (SUCCEEDED, DIGEST) and build.finished_at
    # Another scheduler judged the same pod from its own copy of the row: nothing moves twice.
    assert move(stale, FAILED, reason="lost", message="gone") is None
    assert (stale.status, stale.reason) == (SUCCEEDED, "")  # refreshed
    with pytest.raises(RefusedTransition, match="succeeded -> building is not allowed"):
        move(build, BUILDING, pod="build-pipe-t-0123456789ab-2")
    assert [line.split(": ", 1)[1] for line in history()] == [
        "(none) -> building (try 1, pod build-pipe-t-0123456789ab-1)",
        "building -> succeeded (try 1, pod build-pipe-t-0123456789ab-1)",
    ]


@pytest.mark.django_db
def test_a_failed_build_is_tried_again_under_the_next_pod_name(history):
    build, _ = new_build()
    failed = move(build, FAILED, reason="Error", message="no Dockerfile")
    assert failed.as_dict() == {
        "image": IMAGE, "previous": BUILDING, "status": FAILED, "tries": 1, "pod": "build-pipe-t-0123456789ab-1",
        "reason": "Error", "message": "no Dockerfile", "at": failed.at.isoformat()}
    with pytest.raises(RefusedTransition, match="needs the name of its pod"):
        move(build, BUILDING)
    retried = move(build, BUILDING, pod="build-pipe-t-0123456789ab-2")
    assert (retried.previous, retried.tries, retried.pod) == (FAILED, 2, "build-pipe-t-0123456789ab-2")
    assert (build.status, build.tries, build.reason, build.message, build.finished_at) == (
        BUILDING, 2, "", "", None)
    assert history()[1:] == [
        f"build of {IMAGE}: building -> failed (try 1, pod build-pipe-t-0123456789ab-1): Error no Dockerfile",
        f"build of {IMAGE}: failed -> building (try 2, pod build-pipe-t-0123456789ab-2)",
    ]
    # The history is kept on the build itself, oldest first.
    assert [(h["previous"], h["status"], h["tries"], h["pod"]) for h in build.history] == [
        ("", BUILDING, 1, "build-pipe-t-0123456789ab-1"),
        (BUILDING, FAILED, 1, "build-pipe-t-0123456789ab-1"),
        (FAILED, BUILDING, 2, "build-pipe-t-0123456789ab-2"),
    ]
