"""Pods move through Pending, Running and Succeeded or Failed; their commands really run here."""

from __future__ import annotations

import os
import time

import pytest
from kubernetes import client, watch

from polyflow.testing.kube import KubeSimulator

from .conftest import pod_manifest
from .test_api import wait_for_file


def terminated(pod: client.V1Pod) -> client.V1ContainerStateTerminated:
    return pod.status.container_statuses[0].state.terminated


def test_exit_code_termination_message_and_log_are_real(api, sim):
    created = api.create_namespaced_pod("default", pod_manifest(
        "exit3", ["sh", "-c", 'echo hi; echo -n "{\\"x\\": 1}" > $OUT; exit 3'], env={"OUT": "/dev/termination-log"},
    ))
    assert created.status.phase == "Pending"
    phases = []
    stream = watch.Watch()
    for event in stream.stream(api.list_namespaced_pod, "default", field_selector="metadata.name=exit3",
                               resource_version=created.metadata.resource_version, timeout_seconds=5):
        phases.append(event["object"].status.phase)
        if phases[-1] in ("Succeeded", "Failed"):
            stream.stop()
    assert phases == ["Pending", "Running", "Failed"]
    pod = api.read_namespaced_pod("exit3", "default")
    state = terminated(pod)
    assert (state.exit_code, state.reason, state.message) == (3, "Error", '{"x": 1}')
    assert state.started_at and state.finished_at and state.container_id.startswith("containerd://")
    assert api.read_namespaced_pod_log("exit3", "default") == "hi\n"
    assert pod.status.start_time is not None and pod.spec.node_name
    ready = {c.type: c for c in pod.status.conditions}["Ready"]
    assert (ready.status, ready.reason) == ("False", "PodFailed")


def test_success_reports_completed(api, sim, tmp_path):
    api.create_namespaced_pod("default", pod_manifest("ok", ["sh", "-c", "echo done"]))
    pod = sim.wait_for_pod("ok")
    assert pod["status"]["phase"] == "Succeeded"
    state = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (state["exitCode"], state["reason"]) == (0, "Completed") and "message" not in state
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions["PodScheduled"] == "True" and conditions["Ready"] == "False"


def test_running_pod_status(api, sim):
    api.create_namespaced_pod("default", pod_manifest("busy", ["sleep", "30"]))
    pod = sim.wait_for_pod("busy", phases=["Running"])
    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] and status["started"] and "startedAt" in status["state"]["running"]
    assert pod["status"]["podIP"].startswith("10.244.")
    assert all(c["status"] == "True" for c in pod["status"]["conditions"])


def test_termination_log_variable_path_rewrite_and_expansion(api, sim):
    api.create_namespaced_pod("default", {
        **pod_manifest("paths", ["sh", "-c"]),
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": "python:3.11",
            "command": ["sh", "-c"],
            # $(NAME) is expanded by Kubernetes; the message path itself is rewritten in the command.
            "args": ['printf "$(GREETING) from $MY_POD in $(pwd)" > /out/message; echo logged'],
            "workingDir": "/srv/app",
            "terminationMessagePath": "/out/message",
            "env": [
                {"name": "WHO", "value": "world"},
                {"name": "GREETING", "value": "hello $(WHO)"},
                {"name": "MY_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ],
        }]},
    })
    pod = sim.wait_for_pod("paths")
    message = pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
    assert message.startswith("hello world from paths in ") and message.endswith("/rootfs/srv/app")
    assert sim.log("paths") == "logged\n"


def test_termination_log_env_var(api, sim):
    api.create_namespaced_pod("default", pod_manifest("plain", ["sh", "-c", 'echo -n ok > "$TERMINATION_LOG"']))
    assert sim.wait_for_pod("plain")["status"]["containerStatuses"][0]["state"]["terminated"]["message"] == "ok"


def test_termination_message_is_limited_to_4096_bytes(api, sim):
    api.create_namespaced_pod("default", pod_manifest(
        "big", ["sh", "-c", 'head -c 10000 /dev/zero | tr "\\0" x > "$TERMINATION_LOG"']))
    message = sim.wait_for_pod("big")["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
    assert message == "x" * 4096


def test_fallback_to_logs_on_error(api, sim):
    api.create_namespaced_pod("default", pod_manifest(
        "fallback", ["sh", "-c", "echo first; echo last words; exit 2"],
        container={"terminationMessagePolicy": "FallbackToLogsOnError"}))
    state = sim.wait_for_pod("fallback")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (state["exitCode"], state["message"]) == (2, "first\nlast words")


def test_active_deadline_seconds(api, sim):
    api.create_namespaced_pod("default", pod_manifest("slow", ["sleep", "30"], activeDeadlineSeconds=1))
    started = time.monotonic()
    pod = sim.wait_for_pod("slow", timeout=5)
    assert time.monotonic() - started < 3
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["reason"] == "DeadlineExceeded"
    assert pod["status"]["message"] == "Pod was active on the node longer than the specified deadline"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 143  # SIGTERM


def test_pod_without_command_succeeds_simulated(api, sim):
    api.create_namespaced_pod("default", pod_manifest("image-only", None))
    pod = sim.wait_for_pod("image-only")
    assert pod["status"]["phase"] == "Succeeded"
    assert "simulated a successful run" in api.read_namespaced_pod_log("image-only", "default")


def test_missing_executable_succeeds_simulated(api, sim):
    api.create_namespaced_pod("default", pod_manifest(
        "kaniko", ["/kaniko/executor", "--destination", "registry/x:1"],
        container={"image": "gcr.io/kaniko-project/executor:v1.23.0"}))
    assert sim.wait_for_pod("kaniko")["status"]["phase"] == "Succeeded"
    assert "executable '/kaniko/executor' does not exist on this machine" in sim.log("kaniko")


def test_missing_executable_can_fail_instead():
    with KubeSimulator(port=0, missing_executable="fail", pending_time=0.01) as sim:
        with client.ApiClient(client.Configuration(host=sim.url)) as api_client:
            client.CoreV1Api(api_client).create_namespaced_pod("default", pod_manifest("k", ["/kaniko/executor"]))
        state = sim.wait_for_pod("k")["status"]["containerStatuses"][0]["state"]["terminated"]
        assert (state["exitCode"], state["reason"]) == (128, "StartError")


def test_no_exec_simulates_every_run(tmp_path):
    marker = tmp_path / "ran"
    with KubeSimulator(port=0, execute=False, run_time=0.01, pending_time=0.01) as sim:
        with client.ApiClient(client.Configuration(host=sim.url)) as api_client:
            client.CoreV1Api(api_client).create_namespaced_pod(
                "default", pod_manifest("n", ["touch", str(marker)]))
        assert sim.wait_for_pod("n")["status"]["phase"] == "Succeeded"
    assert not marker.exists()


def test_other_restart_policies_are_accepted(api, sim):
    manifest = pod_manifest("always", ["true"])
    manifest["spec"]["restartPolicy"] = "Always"
    api.create_namespaced_pod("default", manifest)
    assert sim.wait_for_pod("always")["status"]["phase"] == "Succeeded"  # not restarted: only Never is simulated


def test_every_container_with_a_command_runs_and_the_pod_ends_with_the_last(api, sim):
    manifest = pod_manifest("two", ["sh", "-c", "echo main"])
    manifest["spec"]["containers"].append({"name": "sidecar", "image": "envoy",
                                           "command": ["sh", "-c", "sleep 0.3; echo side; exit 3"]})
    manifest["spec"]["containers"].append({"name": "quiet", "image": "envoy"})  # no command: ends with the pod
    api.create_namespaced_pod("default", manifest)
    running = sim.wait_for_pod("two", phases=["Running"])
    assert running["status"]["phase"] == "Running"
    pod = sim.wait_for_pod("two")
    assert pod["status"]["phase"] == "Failed"  # one container failed
    states = {s["name"]: s["state"]["terminated"] for s in pod["status"]["containerStatuses"]}
    assert [states["main"]["exitCode"], states["sidecar"]["exitCode"], states["quiet"]["exitCode"]] == [0, 3, 0]
    assert states["main"]["finishedAt"] <= states["sidecar"]["finishedAt"]
    assert api.read_namespaced_pod_log("two", "default", container="main") == "main\n"
    assert api.read_namespaced_pod_log("two", "default", container="sidecar") == "side\n"
    with pytest.raises(client.ApiException) as caught:
        api.read_namespaced_pod_log("two", "default")
    assert caught.value.status == 400  # a container name must be specified


def test_stop_kills_every_process(tmp_path):
    pid_file = tmp_path / "pid"
    with KubeSimulator(port=0, pending_time=0.01) as sim:
        with client.ApiClient(client.Configuration(host=sim.url)) as api_client:
            api = client.CoreV1Api(api_client)
            # It ignores SIGTERM: deleted with a grace period of 60 s, it is still running when the simulator stops.
            api.create_namespaced_pod("default", pod_manifest(
                "stubborn", ["sh", "-c", 'trap "" TERM; echo $$$$ > "$P"; while true; do sleep 0.1; done'],
                env={"P": str(pid_file)}))
            sim.wait_for_pod("stubborn", phases=["Running"])
            wait_for_file(pid_file)
            api.delete_namespaced_pod("stubborn", "default", grace_period_seconds=60)
        workdir = sim.workdir
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    else:
        pytest.fail("a pod's process outlived the simulator")
    assert not os.path.exists(workdir)
