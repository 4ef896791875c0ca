"""`KubernetesBackend.watch` (kube_watch.py): the hand-off on completion, against the API
simulator over HTTP, and the cursor's decisions (pure)."""

from __future__ import annotations

import threading
import time

import pytest

from polyflow.backends.kube_watch import Changes, Expired, StreamError, WatchCursor, matters
from polyflow.backends.kubernetes import KubernetesBackend
from polyflow.testing.kube import KubeSimulator
from tests.backends.support import submission

from .conftest import NAMESPACE
from .support import seed_plan, submission_for

pytestmark = pytest.mark.django_db

DIGEST = "sha256:" + "cd" * 32


def watches(sim) -> list[tuple[str, str | None, int | None]]:
    return [(r["verb"], r["query"].get("resourceVersion"), r["status"]) for r in sim.requests
            if r["verb"] in ("watch", "list")]


def start(backend, sim, *names, result="hang", phases=("Running",)):
    """Pods of ops that stay running (or end as `result` says), each in `phases` once started."""
    jobs = []
    for name in names:
        sim.inject("outcome", name=name, result=result, count=1)
        job = submission(command=["true"], key=name)
        backend.submit(job)
        jobs.append(job)
    for job in jobs:
        sim.wait_for_pod(job.key, NAMESPACE, phases=phases)
    return jobs


def watch_until(backend, predicate, timeout=10.0, each=3.0):
    """Call watch until `predicate(changed)`; (changed, when it returned)."""
    end = time.monotonic() + timeout
    while True:
        changed = backend.watch(each)
        returned = time.monotonic()
        if predicate(changed):
            return changed, returned
        assert returned < end, f"no such change within {timeout} s (last: {changed})"


# -- against the simulator --------------------------------------------------------------

def test_watch_reports_a_pods_end_within_milliseconds(backend, sim, request):
    assert backend.watch(0) == []  # the first call lists: no pods yet
    sim.inject("outcome", name="pipe-quick-*", result="succeed", duration=0.5)
    job = submission(command=["true"], key="pipe-quick-0f9e8d7c-1")
    backend.submit(job)
    ended = {}

    def wait_for_the_end():
        sim.wait_for_pod(job.key, NAMESPACE)  # woken by the simulator's own change, no polling
        ended["at"] = time.monotonic()

    thread = threading.Thread(target=wait_for_the_end)
    thread.start()
    changed, returned = watch_until(
        backend, lambda changed: job.key in changed and sim.pod(job.key, NAMESPACE)["status"]["phase"] == "Succeeded")
    thread.join(5)
    latency = returned - ended["at"]
    # The figure is the bench's (a property of the test's report); here, a generous bound.
    request.node.user_properties.append(("watch_latency_s", round(latency, 4)))
    assert changed == [job.key]
    assert latency < 1.0, f"the watch reported the end {latency:.3f} s after it"
    assert all(verb == "watch" for verb, _, _ in watches(sim)[1:])  # no LIST after the first call


def test_what_the_watch_saw_of_an_ended_pod_is_observed_without_a_list(backend, sim):
    assert backend.watch(0) == []
    sim.inject("outcome", name="pipe-seen-*", result="succeed", duration=0.2, message='{"loss": 0.5}')
    job = submission(command=["true"], key="pipe-seen-0f9e8d7c-1")
    backend.submit(job)
    watch_until(backend, lambda changed: job.key in changed
                and sim.pod(job.key, NAMESPACE)["status"]["phase"] == "Succeeded")
    sim.reset_requests()
    observed = backend.observed([job.key, "pipe-other-0f9e8d7c-1"])
    assert list(observed) == [job.key]  # only what the watch saw; the other is left to a sync
    assert (observed[job.key].state, observed[job.key].outputs) == ("succeeded", '{"loss": 0.5}')
    assert [r["verb"] for r in sim.requests] == ["log"]  # its log archived, as a sync does; no LIST
    assert backend.observed([job.key]) == {}  # taken once


def test_each_call_resumes_where_the_previous_left_off(backend, sim):
    jobs = start(backend, sim, *(f"pipe-held{n}-0f9e8d7c-1" for n in range(3)))
    assert backend.watch(0) == sorted(job.key for job in jobs)  # the first call: every pod counts
    sim.reset_requests()
    for job in jobs:
        sim.inject("evict", name=job.key)  # while nobody watches
        sim.wait_for_pod(job.key, NAMESPACE)
        assert backend.watch(3) == [job.key]  # exactly what changed since the last call
    assert backend.watch(0.2) == []
    seen = watches(sim)
    assert [verb for verb, _, _ in seen] == ["watch"] * 4  # resumed each time, never listed again
    versions = [int(version) for _, version, _ in seen]
    assert versions == sorted(versions) and len(set(versions)) == 4


def test_changes_that_do_not_matter_are_not_reported(backend, sim):
    assert backend.watch(0) == []
    sim.reset_requests()
    (job,) = start(backend, sim, "pipe-unschedulable-0f9e8d7c-1", result="pending", phases=("Pending",))
    # Created, then found unschedulable (a condition): still pending, nothing for the scheduler.
    assert backend.watch(0.3) == []
    assert [verb for verb, _, _ in watches(sim)] == ["watch"]  # one request for the whole call
    backend.stop([job.key])
    assert backend.watch(3) == [job.key]  # gone before it ever ran: that matters (lost)


def test_an_expired_resource_version_relists_and_reports_every_pod(kube_settings):
    with KubeSimulator(port=0, run_time=0.05, history=4) as small:
        backend = KubernetesBackend(host=small.url, backoff=0.01)
        (first,) = start(backend, small, "pipe-a-0f9e8d7c-1")
        assert backend.watch(0) == [first.key]
        # While nobody watches, more happens than the server remembers.
        others = start(backend, small, "pipe-b-0f9e8d7c-1", "pipe-c-0f9e8d7c-1")
        small.inject("vanish", name=first.key)
        small.reset_requests()
        changed = backend.watch(3)
        # 410 Expired: listed again; all of it counts as changed, the vanished pod too.
        assert changed == sorted([first.key] + [job.key for job in others])
        assert [(verb, status) for verb, _, status in watches(small)] == [("watch", 200), ("list", 200)]
        small.reset_requests()
        small.inject("evict", name=others[0].key)
        assert backend.watch(3) == [others[0].key]  # and watching goes on from the new list
        assert [verb for verb, _, _ in watches(small)] == ["watch"]


def test_a_410_answer_to_the_watch_request_relists_too(backend, sim):
    jobs = start(backend, sim, "pipe-gone-0f9e8d7c-1")
    assert backend.watch(0) == [jobs[0].key]
    sim.inject("error", status=410, verbs=["watch"], message="too old resource version")
    sim.reset_requests()
    assert backend.watch(2) == [jobs[0].key]
    assert [(verb, status) for verb, _, status in watches(sim)] == [("watch", 410), ("list", 200)]


@pytest.mark.parametrize("mode", ["close", "reset"])
def test_a_dropped_watch_is_resumed_within_the_call(backend, sim, mode):
    (job,) = start(backend, sim, f"pipe-drop{mode}-0f9e8d7c-1")
    assert backend.watch(0) == [job.key]
    sim.inject("drop_watch", events=0, mode=mode, count=3)
    timer = threading.Timer(0.3, lambda: sim.inject("evict", name=job.key))
    timer.start()
    started = time.monotonic()
    try:
        assert backend.watch(5) == [job.key]
    finally:
        timer.cancel()
    assert time.monotonic() - started < 2
    seen = watches(sim)
    assert [verb for verb, _, _ in seen] == ["list"] + ["watch"] * 4
    assert len({version for verb, version, _ in seen if verb == "watch"}) == 1  # all from the same place


def test_a_watch_dropped_after_some_events_loses_none(backend, sim):
    jobs = start(backend, sim, *(f"pipe-many{n}-0f9e8d7c-1" for n in range(4)))
    backend.watch(0)
    for job in jobs:
        sim.inject("evict", name=job.key)
        sim.wait_for_pod(job.key, NAMESPACE)
    sim.inject("drop_watch", events=1, mode="reset", count=None)
    reported = set()
    end = time.monotonic() + 10
    while reported != {job.key for job in jobs}:
        assert time.monotonic() < end, reported
        reported.update(backend.watch(1))


def test_api_errors_do_not_raise(backend, sim):
    sim.inject("error", status=503, verbs=["list"], count=None)
    started = time.monotonic()
    assert backend.watch(0.3) == []  # the first list fails: logged, the time slept out
    assert 0.3 <= time.monotonic() - started < 1.0
    sim.clear_faults()
    (job,) = start(backend, sim, "pipe-err-0f9e8d7c-1")
    assert backend.watch(1) == [job.key]  # listed at the next call
    sim.inject("error", status=500, verbs=["watch"], count=None)
    sim.inject("evict", name=job.key)
    started = time.monotonic()
    assert backend.watch(0.3) == []
    assert 0.3 <= time.monotonic() - started < 1.0
    sim.clear_faults()
    assert backend.watch(2) == [job.key]  # nothing lost: resumed from where it was


def test_a_watch_that_is_not_allowed_is_said_once(backend, sim, caplog):
    backend.watch(0)
    sim.inject("error", status=403, verbs=["watch"], count=None, message='pods is forbidden: cannot "watch"')
    for _ in range(3):
        assert backend.watch(0.05) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "HTTP 403 Forbidden" in warnings[0]


def test_an_unreachable_server_does_not_raise(kube_settings):
    with KubeSimulator(port=0) as gone:
        url = gone.url
    backend = KubernetesBackend(host=url, backoff=0.01)
    started = time.monotonic()
    assert backend.watch(0.2) == []
    assert time.monotonic() - started < 1.5


def test_no_call_blocks_much_past_its_timeout(backend, sim):
    start(backend, sim, "pipe-idle-0f9e8d7c-1")
    backend.watch(0)
    for timeout in (0.05, 0.3, 1.2):
        started = time.monotonic()
        assert backend.watch(timeout) == []
        assert timeout <= time.monotonic() - started < timeout + 0.5
    sim.inject("delay", delay=3, verbs=["watch"], count=1)  # a server slow to answer
    started = time.monotonic()
    assert backend.watch(0.5) == []
    assert time.monotonic() - started < 0.5 + 0.75


def test_a_build_pod_stands_for_the_ops_waiting_on_it(backend, sim):
    sim.inject("outcome", name="build-*", result="succeed", message=DIGEST, duration=0.3)
    assert backend.watch(0) == []
    plan = seed_plan()
    job1 = submission_for(plan, "job1")
    backend.submit(job1)  # its image is built first: a kaniko pod, the op waiting for it
    changed, _ = watch_until(backend, lambda changed: job1.key in changed and all(
        p["status"]["phase"] == "Succeeded" for p in sim.pods(NAMESPACE)))
    assert changed == [job1.key]  # the build pod's own name means nothing to the scheduler
    # The sync it hands off to creates the op's pod.
    assert backend.sync([job1.key])[job1.key].message.endswith("pod created")


# -- the cursor (pure) ----------------------------------------------------------------------

def pod(name, phase="Pending", version="1", component="op", containers=()):
    return {"metadata": {"name": name, "resourceVersion": version,
                         "labels": {"polyflow.dev/component": component}},
            "status": {"phase": phase, "containerStatuses": [{"name": "main", "state": state}
                                                             for state in containers]}}


def test_which_events_matter():
    quiet, running, done = ("Pending", ()), ("Running", (("main", "running"),)), ("Succeeded", ())
    assert not matters("ADDED", None, quiet)
    assert matters("ADDED", None, running)  # created elsewhere, already running
    assert not matters("MODIFIED", quiet, quiet)
    assert matters("MODIFIED", quiet, running) and matters("MODIFIED", running, done)
    assert matters("DELETED", running, running)  # gone while it ran: lost
    assert matters("DELETED", None, quiet)
    assert not matters("DELETED", done, done)  # its end was told; the clean-up deleted it


def test_the_cursor_follows_versions_and_reports_names_by_kind():
    cursor = WatchCursor()
    listed = {"a": pod("a", "Running", containers=[{"running": {}}]), "k": pod("k", component="build")}
    assert cursor.relist(listed, "10") == Changes(frozenset({"a"}), frozenset({"k"}))
    assert cursor.resource_version == "10"
    assert not cursor.apply({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}})
    assert cursor.resource_version == "12"
    assert not cursor.apply({"type": "ADDED", "object": pod("b", version="13")})
    done = pod("k", "Succeeded", "14", "build", [{"terminated": {"exitCode": 0}}])
    assert cursor.apply({"type": "MODIFIED", "object": done}) == Changes(builds=frozenset({"k"}))
    assert not cursor.apply({"type": "DELETED", "object": {**done, "metadata": {**done["metadata"],
                                                                                 "resourceVersion": "15"}}})
    assert cursor.apply({"type": "DELETED", "object": pod("a", "Running", "16", containers=[{"running": {}}])})
    assert cursor.resource_version == "16" and set(cursor.seen) == {"b"}
    # A relist reports what vanished meanwhile, by kind.
    cursor.seen["gone-build"] = ("Running", ())
    cursor.builds.add("gone-build")
    assert cursor.relist({}, "20") == Changes(frozenset({"b"}), frozenset({"gone-build"}))
    assert cursor.seen == {} and cursor.builds == set()


def test_error_events_expire_the_cursor_or_break_the_stream():
    cursor = WatchCursor(resource_version="5")
    with pytest.raises(Expired, match="too old"):
        cursor.apply({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired",
                                                  "message": "too old resource version: 5 (9)"}})
    with pytest.raises(StreamError, match="500 InternalError: boom"):
        cursor.apply({"type": "ERROR", "object": {"code": 500, "reason": "InternalError", "message": "boom"}})
    assert cursor.resource_version == "5"
