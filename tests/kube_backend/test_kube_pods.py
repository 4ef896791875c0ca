"""Reading pods (kube_pods.py, pure): Observations, signatures, expired pods."""

from __future__ import annotations

import datetime as dt

from polyflow.backends.base import FAILED, PENDING, RUNNING, SUCCEEDED
from polyflow.backends.kube_pods import (
    QUIET,
    expired_pods,
    finished_at,
    main_container,
    observe_pod,
    pod_signature,
    valid_name,
)
from polyflow.scheduler.outcomes import outcome_of

from .support import plan_of

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
OP = plan_of("""
version: 1
kind: pipeline
name: pipe
ops: [{name: op, template: {name: t}}]
templates:
  - {kind: job, name: t, outputs: [{name: loss, type: float}], container: {image: busybox, command: ['true']}}
""").op("op")


def pod(phase="Pending", state=None, name="main", labels=None, **status):
    containers = [{"name": name, "state": state}] if state is not None else []
    return {"metadata": {"name": "p", "labels": labels or {}},
            "status": {"phase": phase, "containerStatuses": containers, **status}}


def terminated(exit_code=0, message=None, finished="2026-03-01T11:00:00Z", **more):
    state = {"exitCode": exit_code, "finishedAt": finished, "startedAt": "2026-03-01T10:59:00Z", **more}
    if message is not None:
        state["message"] = message
    return {"terminated": state}


def test_pods_that_cannot_start_fail_at_once():
    waiting = pod(state={"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "nope:1"'}})
    observation = observe_pod(waiting)
    assert (observation.state, observation.reason) == (FAILED, "ImagePullBackOff")
    assert "nope:1" in observation.message
    assert observe_pod(pod(state={"waiting": {"reason": "ContainerCreating"}})).state == PENDING
    assert observe_pod({"status": {"phase": "Unknown"}}).state == RUNNING


def test_an_unschedulable_pod_says_why():
    unschedulable = pod(conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": "0/3 nodes are available"}])
    observation = observe_pod(unschedulable)
    assert (observation.state, observation.message) == (PENDING, "Unschedulable: 0/3 nodes are available")


def test_a_succeeded_pod_passes_its_termination_message_on_unparsed():
    observation = observe_pod(pod("Succeeded", terminated(message='{"loss": NaN}')))
    assert (observation.state, observation.exit_code) == (SUCCEEDED, 0)
    assert observation.outputs == '{"loss": NaN}'
    assert observation.finished_at == dt.datetime(2026, 3, 1, 11, 0, tzinfo=dt.UTC)
    # Python's json would take NaN, and the database write would then fail: the scheduler refuses it.
    outcome = outcome_of("running", 1, OP, observation, NOW)
    assert (outcome.status, outcome.reason) == ("failed", "invalid_outputs")
    assert "not a JSON number" in outcome.message
    # No message at all: no outputs.
    assert observe_pod(pod("Succeeded", terminated())).outputs is None
    assert outcome_of("running", 1, OP, observe_pod(pod("Succeeded", terminated())), NOW).status == "succeeded"


def test_failed_pods_name_the_pod_reason_before_the_containers():
    evicted = pod("Failed", terminated(137, reason="Error"), reason="Evicted", message="the node was low on memory")
    observation = observe_pod(evicted)
    assert (observation.state, observation.reason, observation.exit_code) == (FAILED, "Evicted", 137)
    assert observation.message == "the node was low on memory; exit code 137 (Error)"
    deadline = pod("Failed", terminated(143, reason="Error"), reason="DeadlineExceeded", message="deadline")
    assert observe_pod(deadline).reason == "timeout"
    oom = observe_pod(pod("Failed", terminated(137, reason="OOMKilled", message="killed")))
    assert (oom.reason, oom.message) == ("OOMKilled", "exit code 137; killed")


def test_the_container_is_found_by_name():
    build = {"metadata": {"labels": {"polyflow.dev/component": "build"}},
             "status": {"phase": "Failed", "containerStatuses": [
                 {"name": "sidecar", "state": terminated(0)},
                 {"name": "kaniko", "state": terminated(1, reason="Error")}]}}
    assert main_container(build) == "kaniko"
    assert observe_pod(build, container="kaniko").exit_code == 1
    assert main_container(pod()) == "main"


def test_finished_at_falls_back_to_conditions_then_start():
    assert finished_at(pod("Failed", conditions=[{"lastTransitionTime": "2026-03-01T10:00:00Z"}])) == dt.datetime(
        2026, 3, 1, 10, tzinfo=dt.UTC)
    assert finished_at(pod("Failed", startTime="2026-03-01T09:00:00Z")) == dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)


def test_signatures_change_only_with_what_the_scheduler_acts_on():
    created = pod()
    assert pod_signature(created) == QUIET
    # Scheduled, container being created, conditions and IPs: nothing to act on.
    assert pod_signature(pod(state={"waiting": {"reason": "ContainerCreating"}}, podIP="10.0.0.1",
                             conditions=[{"type": "PodScheduled", "status": "True"}])) == QUIET
    assert pod_signature(pod(state={"waiting": {"reason": "ErrImagePull"}})) != QUIET
    running = pod_signature(pod("Running", {"running": {}}))
    assert running == ("Running", (("main", "running"),))
    ended = pod_signature(pod("Running", terminated(0)))
    assert ended != running  # the container ended before the phase says so
    assert pod_signature(pod("Succeeded", terminated(0))) != ended
    deleting = pod("Running", {"running": {}})
    deleting["metadata"]["deletionTimestamp"] = "2026-03-01T11:00:00Z"
    assert pod_signature(deleting) == running


def test_expired_pods_are_finished_old_untracked_and_oldest_first():
    def finished(name, when, phase="Succeeded"):
        item = pod(phase, terminated(finished=when))
        item["metadata"]["name"] = name
        return item

    pods = {
        "new": finished("new", "2026-03-01T11:59:00Z"),
        "old": finished("old", "2026-03-01T10:00:00Z"),
        "older": finished("older", "2026-03-01T09:00:00Z", "Failed"),
        "tracked": finished("tracked", "2026-03-01T08:00:00Z"),
        "running": pod("Running", {"running": {}}),
        "deleting": finished("deleting", "2026-03-01T08:00:00Z"),
    }
    pods["deleting"]["metadata"]["deletionTimestamp"] = "2026-03-01T11:00:00Z"
    cutoff = dt.datetime(2026, 3, 1, 11, 0, tzinfo=dt.UTC)
    assert expired_pods(pods, {"tracked"}, cutoff) == ["older", "old"]
    assert expired_pods(pods, {"tracked"}, cutoff, limit=1) == ["older"]


def test_valid_names():
    assert valid_name("pipe-op-0f9e8d7c-1") and valid_name("build-a.b-1")
    assert not any(valid_name(name) for name in ("", "../etc", "Pipe", "-a", "a/b"))
