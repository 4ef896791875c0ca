"""The API client wrapper (kube_client.py) against the simulator: errors as ApiError with the
API's reason, message and causes, retries, Retry-After, the list's resourceVersion."""

from __future__ import annotations

import time

import pytest

from polyflow.backends.base import SubmitError
from polyflow.backends.kube_client import ApiError, KubeClient
from polyflow.testing.kube import KubeSimulator

from .conftest import NAMESPACE


def pod(name, container="main", labels=True):
    metadata = {"name": name}
    if labels:
        metadata["labels"] = {"app.kubernetes.io/managed-by": "polyflow"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"restartPolicy": "Never", "containers": [{"name": container, "image": "busybox"}]}}


@pytest.fixture
def client(sim):
    return KubeClient(sim.url, NAMESPACE, backoff=0.01)


def test_a_refused_pod_names_the_api_reason_and_causes(client):
    with pytest.raises(ApiError) as caught:
        client.create_pod(pod("bad-1", container="Main_"))
    error = caught.value
    assert (error.status, error.reason, error.retryable) == (422, "Invalid", False)
    assert str(error).startswith("create pod bad-1: HTTP 422 Invalid: ")
    assert "; causes: spec.containers[0].name: " in str(error)
    with pytest.raises(SubmitError) as submitted:
        client.submit_pod(pod("bad-1", container="Main_"))
    assert submitted.value.permanent


def test_a_second_create_is_not_an_error_and_a_missing_pod_is_deleted_already(client, sim):
    assert client.create_pod(pod("twice-1")) is True
    assert client.create_pod(pod("twice-1")) is False  # 409 AlreadyExists: it is there
    client.delete_pod("never-1")  # 404: gone already
    assert [(r["verb"], r["status"]) for r in sim.requests] == [("create", 201), ("create", 409), ("delete", 404)]


def test_retry_after_is_honoured_up_to_a_second(client, sim):
    client.core  # noqa: B018 - made before the clock starts
    sim.inject("throttle", retry_after=30, verbs=["list"], count=2)
    started = time.monotonic()
    assert client.list_pods() == {}  # 30 s is too long for a tick: 1 s, twice, then listed
    assert 2.0 <= time.monotonic() - started < 2.5
    assert [r["status"] for r in sim.requests] == [429, 429, 200]


def test_what_keeps_failing_is_an_api_error_after_the_last_try(client, sim):
    sim.inject("error", status=503, verbs=["create"], count=None)
    with pytest.raises(SubmitError) as caught:
        client.submit_pod(pod("flaky-1"))
    assert not caught.value.permanent and "HTTP 503 ServiceUnavailable" in str(caught.value)
    assert [r["status"] for r in sim.requests] == [503, 503, 503]


def test_an_unreachable_server_is_a_retryable_error_with_no_answer():
    with KubeSimulator(port=0) as stopped:
        url = stopped.url  # nothing listens there once it stopped
    client = KubeClient(url, NAMESPACE, backoff=0.01, request_timeout=1)
    with pytest.raises(ApiError) as caught:
        client.list_pods()
    assert (caught.value.status, caught.value.retryable) == (0, True)
    assert f"list pods in {NAMESPACE}: no answer" in str(caught.value)


def test_a_missing_kubeconfig_says_which(tmp_path):
    missing = tmp_path / "no-such-kubeconfig"
    client = KubeClient("", NAMESPACE, config_file=str(missing))
    with pytest.raises(ApiError, match=f"configure the Kubernetes client \\(kubeconfig {missing}\\)"):
        client.core  # noqa: B018 - the property makes the client


def test_the_list_gives_its_resource_version_and_only_polyflows_pods(client, sim):
    client.create_pod(pod("ours-1"))
    client.create_pod(pod("theirs-1", labels=False))
    created = sim.resource_version
    pods, version = client.list_pods_at()
    assert set(pods) == {"ours-1"}
    # The simulator's pods go on changing phase meanwhile: the list's version is the store's at
    # the moment it was read, between the creates and now.
    assert created <= int(version) <= sim.resource_version
    assert sim.requests[-1]["query"]["labelSelector"] == "app.kubernetes.io/managed-by=polyflow"
