"""Fault injection (from Python and over HTTP) and the record of requests."""

from __future__ import annotations

import json
import os
import time

import pytest
import urllib3
from kubernetes import client, watch

from polyflow.testing.kube import FaultError

from .conftest import http, pod_manifest
from .test_api import wait_for_file


def test_error_burst_then_success(api, sim):
    fault = sim.inject("error", status=503, count=2, verbs=["create"])
    assert fault["kind"] == "error" and fault["count"] == 2
    for _ in range(2):
        with pytest.raises(client.ApiException) as caught:
            api.create_namespaced_pod("default", pod_manifest("p", ["true"]))
        body = json.loads(caught.value.body)
        assert caught.value.status == 503 and body["reason"] == "ServiceUnavailable"
    assert sim.pods() == []  # a failed create stored nothing
    api.create_namespaced_pod("default", pod_manifest("p", ["true"]))
    assert [(r["verb"], r["status"], r["fault"], r["name"]) for r in sim.requests] == [
        ("create", 503, "error", "p"), ("create", 503, "error", "p"), ("create", 201, None, "p"),
    ]
    assert sim.faults() == []  # used up


def test_processed_error_is_a_lost_response(api, sim):
    # The pod is created, but the client is told 504: its retry meets 409 AlreadyExists.
    sim.inject("error", status=504, verbs=["create"], processed=True)
    with pytest.raises(client.ApiException) as caught:
        api.create_namespaced_pod("default", pod_manifest("once", ["true"]))
    assert caught.value.status == 504 and json.loads(caught.value.body)["reason"] == "Timeout"
    assert [p["metadata"]["name"] for p in sim.pods()] == ["once"]
    with pytest.raises(client.ApiException) as caught:
        api.create_namespaced_pod("default", pod_manifest("once", ["true"]))
    assert caught.value.status == 409
    assert [(r["status"], r["fault"]) for r in sim.requests] == [(504, "error"), (409, None)]


def test_error_matches_verbs_and_path(api, sim):
    api.create_namespaced_pod("polyflow", pod_manifest("p", ["true"]))
    sim.inject("error", status=500, count=None, verbs=["list"], path="/namespaces/polyflow/")
    api.read_namespaced_pod("p", "polyflow")  # a get: not matched
    api.list_namespaced_pod("default")  # another namespace: not matched
    for _ in range(3):  # count None: until cleared
        with pytest.raises(client.ApiException) as caught:
            api.list_namespaced_pod("polyflow")
        assert caught.value.status == 500
    [active] = sim.faults()
    assert active["fired"] == 3
    sim.clear_faults(active["id"])
    assert api.list_namespaced_pod("polyflow").items


def test_skip_lets_requests_through_first(api, sim):
    sim.inject("error", status=500, skip=1, verbs=["GET"])
    api.list_namespaced_pod("default")
    with pytest.raises(client.ApiException):
        api.list_namespaced_pod("default")
    api.list_namespaced_pod("default")


def test_throttle_answers_429_with_retry_after(api, sim):
    sim.inject("throttle", retry_after=2, verbs=["create"])
    with pytest.raises(client.ApiException) as caught:
        api.create_namespaced_pod("default", pod_manifest("p", ["true"]))
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "2"
    body = json.loads(caught.value.body)
    assert body["reason"] == "TooManyRequests" and body["details"]["retryAfterSeconds"] == 2
    assert sim.requests[-1]["fault"] == "throttle"


def test_the_client_itself_retries_a_throttled_get(api, sim):
    # urllib3 (under the official client) honours Retry-After on 429 for GET and DELETE, not for POST.
    sim.inject("throttle", retry_after=0, verbs=["list"])
    api.list_namespaced_pod("default")
    assert [(r["verb"], r["status"]) for r in sim.requests] == [("list", 429), ("list", 200)]


def test_delay_answers_late(api, sim):
    sim.inject("delay", delay=0.3, verbs=["get"])
    started = time.monotonic()
    with pytest.raises(client.ApiException):
        api.read_namespaced_pod("ghost", "default")
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    api.list_namespaced_pod("default")
    assert time.monotonic() - started < 0.3


def test_delay_beyond_the_client_timeout(api, sim):
    # A read timeout: urllib3 retries the GET itself, which is answered at once.
    sim.inject("delay", delay=0.5, verbs=["list"])
    api.list_namespaced_pod("default", _request_timeout=0.1)
    assert [(r["verb"], r["fault"]) for r in sim.requests] == [("list", "delay"), ("list", None)]


def test_dropped_watch_ends_after_n_events(api, sim):
    for name in ("a", "b", "c"):
        api.create_namespaced_pod("default", pod_manifest(name, ["true"]))
    sim.inject("drop_watch", events=2)
    events = list(watch.Watch().stream(api.list_namespaced_pod, "default", timeout_seconds=5))
    assert [e["object"].metadata.name for e in events] == ["a", "b"]


def test_dropped_watch_resumes_from_the_last_resource_version(api, sim):
    # Without timeout_seconds the client reconnects from the last resourceVersion it saw.
    api.create_namespaced_pod("default", pod_manifest("x", ["true"]))
    sim.wait_for_pod("x")
    sim.inject("drop_watch", events=1)
    types = []
    for event in watch.Watch().stream(api.list_namespaced_pod, "default"):
        types.append(event["type"])
        if event["type"] == "ADDED":
            api.delete_namespaced_pod("x", "default")  # while the stream is down
        if event["type"] == "DELETED":
            break
    assert types == ["ADDED", "MODIFIED", "DELETED"]
    watches = [r for r in sim.requests if r["verb"] == "watch"]
    assert len(watches) == 2 and "resourceVersion" in watches[1]["query"]


def test_reset_watch_breaks_the_connection(api, sim):
    api.create_namespaced_pod("default", pod_manifest("a", ["true"]))
    sim.inject("drop_watch", events=1, mode="reset")
    received = []
    with pytest.raises(urllib3.exceptions.ProtocolError):
        for event in watch.Watch().stream(api.list_namespaced_pod, "default", timeout_seconds=5):
            received.append(event)
    assert len(received) == 1


def test_evict_a_running_pod(api, sim):
    api.create_namespaced_pod("default", pod_manifest("victim", ["sleep", "30"]))
    sim.wait_for_pod("victim", phases=["Running"])
    result = sim.inject("evict", name="victim", message="The node was low on resource: ephemeral-storage.")
    assert result["pods"] == ["default/victim"]
    pod = sim.wait_for_pod("victim")
    assert (pod["status"]["phase"], pod["status"]["reason"]) == ("Failed", "Evicted")
    assert pod["status"]["message"] == "The node was low on resource: ephemeral-storage."
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137


def test_oom_kill_a_running_pod(api, sim):
    api.create_namespaced_pod("default", pod_manifest("hungry", ["sleep", "30"]))
    sim.wait_for_pod("hungry", phases=["Running"])
    sim.inject("oom", name="hung*")
    pod = api.read_namespaced_pod("hungry", "default")
    deadline = time.monotonic() + 5
    while pod.status.phase != "Failed" and time.monotonic() < deadline:
        sim.wait_for_pod("hungry", timeout=5)
        pod = api.read_namespaced_pod("hungry", "default")
    state = pod.status.container_statuses[0].state.terminated
    assert (pod.status.phase, state.reason, state.exit_code) == ("Failed", "OOMKilled", 137)


def test_vanish_deletes_behind_the_clients_back(api, sim, tmp_path):
    pid_file = tmp_path / "pid"
    api.create_namespaced_pod("default", pod_manifest(
        "ghost", ["sh", "-c", 'echo $$$$ > "$P"; exec sleep 30'], env={"P": str(pid_file)}))
    pod = sim.wait_for_pod("ghost", phases=["Running"])
    wait_for_file(pid_file)
    sim.reset_requests()
    events = watch.Watch().stream(api.list_namespaced_pod, "default",
                                  resource_version=pod["metadata"]["resourceVersion"], timeout_seconds=5)
    sim.inject("vanish", name="ghost")
    assert next(events)["type"] == "DELETED"
    assert sim.pod("ghost") is None
    assert [r["verb"] for r in sim.requests] == ["watch"]  # nobody asked for a delete
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        sim.wait_for_pod("ghost", gone=True, timeout=0.05)
    else:
        pytest.fail("the pod's process survived")


def test_pod_faults_need_a_matching_pod(sim):
    with pytest.raises(LookupError):
        sim.inject("evict", name="nobody")


def test_bad_faults_are_refused(sim):
    with pytest.raises(FaultError):
        sim.inject("meteor")
    with pytest.raises(FaultError):
        sim.inject("error", status=200)
    with pytest.raises(FaultError):
        sim.inject("error", colour="red")
    with pytest.raises(FaultError):
        sim.inject("outcome", name="x", result="explode")


@pytest.mark.parametrize(
    ("params", "phase", "exit_code", "reason"),
    [
        ({"result": "succeed"}, "Succeeded", 0, "Completed"),
        ({"result": "fail", "exit_code": 7, "message": '{"loss": 0.5}'}, "Failed", 7, "Error"),
        ({"result": "oom"}, "Failed", 137, "OOMKilled"),
        ({"result": "evict"}, "Failed", 137, "Error"),
    ],
)
def test_outcomes_replace_the_command(api, sim, tmp_path, params, phase, exit_code, reason):
    marker = tmp_path / "ran"
    sim.inject("outcome", name="train-*", **params)
    api.create_namespaced_pod("default", pod_manifest("train-1", ["touch", str(marker)]))
    pod = sim.wait_for_pod("train-1")
    state = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (pod["status"]["phase"], state["exitCode"], state["reason"]) == (phase, exit_code, reason)
    assert state.get("message", "") == params.get("message", "")
    if params["result"] == "evict":
        assert pod["status"]["reason"] == "Evicted"
    assert not marker.exists()


def test_outcome_count_duration_log_and_vanish(api, sim):
    sim.inject("outcome", name="job-*", result="vanish", count=1)
    sim.inject("outcome", name="job-*", result="fail", exit_code=2, duration=0.01, log="scripted\n")
    api.create_namespaced_pod("default", pod_manifest("job-1", ["true"]))
    api.create_namespaced_pod("default", pod_manifest("job-2", ["true"]))
    api.create_namespaced_pod("default", pod_manifest("other", ["true"]))
    assert sim.wait_for_pod("job-1", gone=True) is None
    assert sim.wait_for_pod("job-2")["status"]["phase"] == "Failed"
    assert api.read_namespaced_pod_log("job-2", "default") == "scripted\n"
    assert sim.wait_for_pod("other")["status"]["phase"] == "Succeeded"


def test_outcome_hang_runs_until_deleted(api, sim):
    sim.inject("outcome", name="forever", result="hang")
    api.create_namespaced_pod("default", pod_manifest("forever", ["true"]))
    sim.wait_for_pod("forever", phases=["Running"])
    api.delete_namespaced_pod("forever", "default", grace_period_seconds=1)
    assert sim.wait_for_pod("forever", gone=True) is None


def test_faults_over_http(sim, api):
    status, _, fault = http(sim, "POST", "/_sim/faults", {"kind": "error", "status": 500, "verbs": ["list"]})
    assert status == 201 and fault["id"] and fault["verbs"] == ["list"]
    status, _, listed = http(sim, "GET", "/_sim/faults")
    assert listed["items"] == [fault]
    with pytest.raises(client.ApiException):
        api.list_namespaced_pod("default")
    assert http(sim, "GET", "/_sim/faults")[2]["items"] == []

    http(sim, "POST", "/_sim/faults", {"kind": "throttle", "count": None})
    assert http(sim, "DELETE", "/_sim/faults")[0] == 200
    assert http(sim, "GET", "/_sim/faults")[2]["items"] == []
    status, _, body = http(sim, "POST", "/_sim/faults", {"kind": "error", "status": "x"})
    assert status == 400 and body["kind"] == "Status"
    status, _, body = http(sim, "POST", "/_sim/faults", {"kind": "evict", "name": "nobody"})
    assert status == 404
    assert http(sim, "DELETE", "/_sim/faults/9999")[0] == 404

    api.create_namespaced_pod("default", pod_manifest("live", ["sleep", "30"]))
    sim.wait_for_pod("live", phases=["Running"])
    status, _, result = http(sim, "POST", "/_sim/faults", {"kind": "oom", "name": "live"})
    assert status == 201 and result["pods"] == ["default/live"]
    assert sim.wait_for_pod("live")["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "OOMKilled"
    # The control requests are not in the record of Kubernetes requests.
    assert all(not r["path"].startswith("/_sim") for r in sim.requests)


def test_request_record_over_http_and_in_python(api, sim):
    api.create_namespaced_pod("default", pod_manifest("r", ["true"]))
    api.list_namespaced_pod("default", label_selector="a=b")
    with pytest.raises(client.ApiException):
        api.read_namespaced_pod("missing", "default")
    status, _, record = http(sim, "GET", "/_sim/requests")
    assert status == 200 and record["items"] == sim.requests
    items = record["items"]
    assert [(i["seq"], i["method"], i["verb"], i["status"]) for i in items] == [
        (1, "POST", "create", 201), (2, "GET", "list", 200), (3, "GET", "get", 404),
    ]
    assert items[1]["query"] == {"labelSelector": "a=b"} and items[1]["path"] == "/api/v1/namespaces/default/pods"
    assert items[2]["name"] == "missing" and items[2]["namespace"] == "default" and items[0]["time"] > 0
    assert http(sim, "GET", "/_sim/requests?since=2")[2]["items"] == [items[2]]
    assert http(sim, "GET", "/_sim/requests?verb=list")[2]["items"] == [items[1]]
    assert http(sim, "DELETE", "/_sim/requests")[0] == 200
    assert sim.requests == []
    api.list_namespaced_pod("default")
    sim.reset_requests()
    assert http(sim, "GET", "/_sim/requests")[2]["items"] == []


def test_pods_and_reset_over_http(sim, api):
    api.create_namespaced_pod("default", pod_manifest("keep", ["sleep", "30"], labels={"k": "v"}))
    assert [p["metadata"]["name"] for p in http(sim, "GET", "/_sim/pods?labelSelector=k%3Dv")[2]["items"]] == ["keep"]
    assert [p["metadata"]["name"] for p in sim.pods(label_selector="k=v")] == ["keep"]
    sim.inject("error", count=None)
    assert http(sim, "POST", "/_sim/reset")[0] == 200
    assert sim.pods() == [] and sim.faults() == [] and sim.requests == []
    assert http(sim, "POST", "/_sim/namespaces", {"name": "ci"})[0] == 201
    assert "ci" in sim.namespaces()
