"""PersistentVolumeClaims, ConfigMaps and Secrets in the simulator, and what pods do with them:
claims shared by pods, configMap/secret volumes and env, init containers in order, several
containers at once, the images' Python stood for by the simulator's."""

from __future__ import annotations

import base64
import json
import os
import sys
import time

import pytest
from kubernetes import client

from .conftest import http, pod_manifest


def claim(name: str, **labels) -> dict:
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}


def test_claims_are_created_bound_listed_and_deleted(api, sim):
    created = api.create_namespaced_persistent_volume_claim("default", claim("data", team="ml"))
    assert created.status.phase == "Bound" and created.status.capacity == {"storage": "1Gi"}
    assert created.spec.volume_name.startswith("pvc-") and created.metadata.uid
    with pytest.raises(client.ApiException) as caught:
        api.create_namespaced_persistent_volume_claim("default", claim("data"))
    assert caught.value.status == 409
    api.create_namespaced_persistent_volume_claim("default", claim("other"))
    names = [c.metadata.name for c in api.list_namespaced_persistent_volume_claim(
        "default", label_selector="team=ml").items]
    assert names == ["data"]
    assert api.read_namespaced_persistent_volume_claim("data", "default").metadata.name == "data"
    api.delete_namespaced_persistent_volume_claim("data", "default")
    with pytest.raises(client.ApiException) as caught:
        api.read_namespaced_persistent_volume_claim("data", "default")
    assert caught.value.status == 404
    assert [c["metadata"]["name"] for c in sim.claims("default")] == ["other"]
    assert [(r["verb"], r["resource"]) for r in sim.requests][:2] == [
        ("create", "persistentvolumeclaims"), ("create", "persistentvolumeclaims")]


def test_objects_are_validated_strictly(api, sim):
    status, _, body = http(sim, "POST", "/api/v1/namespaces/default/persistentvolumeclaims",
                           {"metadata": {"name": "x"}, "spec": {"accessModes": "ReadWriteOnce", "size": 1}})
    assert status == 422 and "spec" in body["message"], body
    with pytest.raises(client.ApiException) as caught:
        api.create_namespaced_config_map("default", {"metadata": {"name": "Bad_Name"}, "data": {"a": "b"}})
    assert caught.value.status == 422 and "metadata.name" in caught.value.body
    with pytest.raises(client.ApiException) as caught:
        api.create_namespaced_secret("default", {"metadata": {"name": "s"}, "data": {"a": "not base64!"}})
    assert caught.value.status == 422


def test_config_maps_and_secrets_are_replaced_and_deleted(api):
    api.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    api.replace_namespaced_config_map("c", "default", {"metadata": {"name": "c"}, "data": {"a": "2"}})
    assert api.read_namespaced_config_map("c", "default").data == {"a": "2"}
    secret = api.create_namespaced_secret("default", {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    assert secret.data == {"k": base64.b64encode(b"v").decode()} and secret.type == "Opaque"
    api.delete_namespaced_secret("s", "default")
    assert api.list_namespaced_secret("default").items == []


def test_a_claim_is_a_directory_shared_by_the_pods_that_mount_it(api, sim):
    api.create_namespaced_persistent_volume_claim("default", claim("shared"))
    mount = {"volumeMounts": [{"name": "ws", "mountPath": "/ws"}]}
    volumes = [{"name": "ws", "persistentVolumeClaim": {"claimName": "shared"}}]
    api.create_namespaced_pod("default", pod_manifest("writer", ["sh", "-c", "echo hi > /ws/f"], container=mount,
                                                      volumes=volumes))
    assert sim.wait_for_pod("writer")["status"]["phase"] == "Succeeded"
    api.create_namespaced_pod("default", pod_manifest("reader", ["cat", "/ws/f"], container=mount, volumes=volumes))
    assert sim.wait_for_pod("reader")["status"]["phase"] == "Succeeded"
    assert sim.log("reader") == "hi\n"
    directory = sim.claim_directory("default", "shared")
    assert os.path.isfile(os.path.join(directory, "f"))
    api.delete_namespaced_persistent_volume_claim("shared", "default")
    assert not os.path.exists(directory)


def test_a_pod_waits_for_its_claim(api, sim):
    api.create_namespaced_pod("default", pod_manifest(
        "early", ["true"], container={"volumeMounts": [{"name": "ws", "mountPath": "/ws"}]},
        volumes=[{"name": "ws", "persistentVolumeClaim": {"claimName": "late"}}]))
    time.sleep(0.2)
    pod = sim.pod("early")
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["conditions"][0]["message"] == (
        '0/1 nodes are available: persistentvolumeclaim "late" not found.')
    api.create_namespaced_persistent_volume_claim("default", claim("late"))
    assert sim.wait_for_pod("early")["status"]["phase"] == "Succeeded"


def test_config_map_and_secret_volumes_and_env(api, sim):
    api.create_namespaced_config_map("default", {"metadata": {"name": "settings"},
                                                 "data": {"mode": "fast", "extra": "x", "LEVEL": "3"}})
    api.create_namespaced_secret("default", {"metadata": {"name": "creds"}, "stringData": {"token": "t0k"}})
    script = ('import json, os, stat; s = os.stat("/cfg/conf/mode");'
              'print(json.dumps({"mode": open("/cfg/conf/mode").read(), "listing": sorted(os.listdir("/cfg")),'
              '"perm": oct(stat.S_IMODE(s.st_mode)), "token": open("/sec/token").read(),'
              '"level": os.environ["CFG_LEVEL"], "t": os.environ["TOKEN"], "absent": "NOPE" in os.environ}))')
    manifest = pod_manifest("configured", ["python", "-c", script], container={
        "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}, {"name": "sec", "mountPath": "/sec"}],
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
                {"name": "NOPE", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "k", "optional": True}}}],
    }, volumes=[{"name": "cfg", "configMap": {"name": "settings", "items": [{"key": "mode", "path": "conf/mode"}],
                                              "defaultMode": 0o440}},
                {"name": "sec", "secret": {"secretName": "creds"}}])
    api.create_namespaced_pod("default", manifest)
    assert sim.wait_for_pod("configured")["status"]["phase"] == "Succeeded", sim.log("configured")
    assert json.loads(sim.log("configured")) == {"mode": "fast", "listing": ["conf"], "perm": "0o440",
                                                 "token": "t0k", "level": "3", "t": "t0k", "absent": False}


def test_init_containers_run_in_order_before_the_containers(api, sim):
    manifest = pod_manifest("ordered", ["sh", "-c", "cat /shared/log; echo main >> /shared/log"],
                            container={"volumeMounts": [{"name": "shared", "mountPath": "/shared"}]},
                            volumes=[{"name": "shared", "emptyDir": {}}])
    manifest["spec"]["initContainers"] = [
        {"name": f"init-{n}", "image": "busybox", "command": ["sh", "-c", f"echo init {n} >> /shared/log"],
         "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]} for n in (1, 2)]
    api.create_namespaced_pod("default", manifest)
    pod = sim.wait_for_pod("ordered")
    assert pod["status"]["phase"] == "Succeeded"
    assert sim.log("ordered") == "init 1\ninit 2\n"
    assert [s["state"]["terminated"]["exitCode"] for s in pod["status"]["initContainerStatuses"]] == [0, 0]
    assert api.read_namespaced_pod_log("ordered", "default", container="init-2") == ""


def test_a_failed_init_container_fails_the_pod_and_the_containers_never_start(api, sim):
    manifest = pod_manifest("broken", ["sh", "-c", "echo never"])
    manifest["spec"]["initContainers"] = [
        {"name": "fetch", "image": "busybox", "command": ["sh", "-c", "echo cannot fetch >&2; exit 2"],
         "terminationMessagePolicy": "FallbackToLogsOnError"},
        {"name": "after", "image": "busybox", "command": ["sh", "-c", "echo never either"]}]
    api.create_namespaced_pod("default", manifest)
    pod = sim.wait_for_pod("broken")
    assert pod["status"]["phase"] == "Failed"
    first, second = pod["status"]["initContainerStatuses"]
    assert first["state"]["terminated"]["exitCode"] == 2
    assert first["state"]["terminated"]["message"] == "cannot fetch"
    assert "terminated" not in second["state"]
    assert pod["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert sim.log("broken", container="main") == ""


def test_python_in_a_container_is_the_simulators(api, sim):
    api.create_namespaced_pod("default", pod_manifest(
        "py", ["sh", "-c", 'python -c "import sys, polyflow; print(sys.prefix)"']))
    assert sim.wait_for_pod("py")["status"]["phase"] == "Succeeded", sim.log("py")
    assert sim.log("py").strip() == sys.prefix


def test_init_containers_run_before_a_first_container_whose_executable_is_missing(api, sim, tmp_path):
    marker = tmp_path / "fetched"
    manifest = pod_manifest("build", ["/kaniko/executor", "--context=dir:///workspace"])
    manifest["spec"]["initContainers"] = [{"name": "fetch", "image": "busybox",
                                           "command": ["sh", "-c", f"echo context > {marker}"]}]
    api.create_namespaced_pod("default", manifest)
    pod = sim.wait_for_pod("build")
    assert pod["status"]["phase"] == "Succeeded"
    assert marker.read_text() == "context\n"
    assert "does not exist on this machine" in sim.log("build")


def test_an_outcome_rule_runs_no_init_container(api, sim, tmp_path):
    marker = tmp_path / "ran"
    sim.inject("outcome", name="scripted", result="succeed")
    manifest = pod_manifest("scripted", ["true"])
    manifest["spec"]["initContainers"] = [{"name": "init", "image": "busybox",
                                           "command": ["sh", "-c", f"touch {marker}"]}]
    api.create_namespaced_pod("default", manifest)
    pod = sim.wait_for_pod("scripted")
    assert pod["status"]["phase"] == "Succeeded" and not marker.exists()
    assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


def test_a_second_container_that_cannot_start_fails_the_pod():
    from polyflow.testing.kube import KubeSimulator

    with KubeSimulator(port=0, pending_time=0.01, missing_executable="fail") as sim:
        api = client.CoreV1Api(client.ApiClient(client.Configuration(host=sim.url)))
        manifest = pod_manifest("two", ["true"])
        manifest["spec"]["containers"].append({"name": "side", "image": "x", "command": ["/no/such/binary"]})
        api.create_namespaced_pod("default", manifest)
        pod = sim.wait_for_pod("two")
        assert pod["status"]["phase"] == "Failed"
        side = pod["status"]["containerStatuses"][1]["state"]["terminated"]
        assert (side["exitCode"], side["reason"]) == (128, "StartError")
