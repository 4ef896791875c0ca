"""Fixtures: a simulator per test (it starts in milliseconds) and the official client pointed at it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from kubernetes import client

from polyflow.testing.kube import KubeSimulator


@pytest.fixture
def sim():
    with KubeSimulator(port=0, run_time=0.05, pending_time=0.01) as simulator:
        yield simulator


@pytest.fixture
def api_client(sim):
    with client.ApiClient(client.Configuration(host=sim.url)) as api_client:
        yield api_client


@pytest.fixture
def api(api_client):
    return client.CoreV1Api(api_client)


def pod_manifest(name: str, command: list[str] | None = None, *, labels: dict | None = None,
                 env: dict | None = None, **spec) -> dict:
    """A minimal valid pod: one container `main`, restartPolicy Never."""
    container = {"name": "main", "image": "busybox:1.36"}
    if command is not None:
        container["command"] = command
    if env:
        container["env"] = [{"name": key, "value": value} for key, value in env.items()]
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def http(sim: KubeSimulator, method: str, path: str, body: object = None, raw: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, dict, object]:
    """A plain HTTP request to the simulator: (status, headers, decoded JSON or text)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(sim.url + path, data=data, method=method,
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, payload = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, payload = error.code, dict(error.headers), error.read()
    if headers.get("Content-Type", "").startswith("application/json"):
        return status, headers, json.loads(payload)
    return status, headers, payload.decode()
