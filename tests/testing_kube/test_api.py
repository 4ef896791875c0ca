"""The Kubernetes REST protocol for pods, through the official client (and plain HTTP where the
client refuses to send what is being tested)."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, watch

from .conftest import http, pod_manifest


def wait_for_file(path, timeout: float = 5.0) -> None:
    """Until the pod's command wrote `path` (it runs a moment after the pod is Running)."""
    import time

    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.01)


def status_body(error: client.ApiException) -> dict:
    body = json.loads(error.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == error.status
    return body


def test_create_answers_201_with_the_stored_pod(api, sim):
    created = api.create_namespaced_pod("default", pod_manifest("first", ["true"]))
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert int(created.metadata.resource_version) > 0
    assert created.metadata.namespace == "default"
    assert created.status.phase == "Pending"
    # Defaults a real API server writes.
    assert created.spec.dns_policy == "ClusterFirst" and created.spec.service_account_name == "default"
    assert created.spec.containers[0].termination_message_path == "/dev/termination-log"
    assert created.spec.containers[0].image_pull_policy == "IfNotPresent"
    assert created.status.qos_class == "BestEffort"
    record = sim.requests[-1]
    assert (record["method"], record["verb"], record["name"], record["status"]) == ("POST", "create", "first", 201)


def test_generate_name(api):
    created = api.create_namespaced_pod("default", {**pod_manifest("x"), "metadata": {"generateName": "job-"}})
    assert created.metadata.name.startswith("job-") and len(created.metadata.name) == 9


def test_get_and_status(api):
    api.create_namespaced_pod("polyflow", pod_manifest("one", ["true"]))
    assert api.read_namespaced_pod("one", "polyflow").metadata.name == "one"
    assert api.read_namespaced_pod_status("one", "polyflow").metadata.name == "one"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=train", ["a", "b"]),
        ("app==train", ["a", "b"]),
        ("app!=train", ["c", "d"]),
        ("tier", ["a", "c"]),
        ("!tier", ["b", "d"]),
        ("app in (train, serve)", ["a", "b", "c"]),
        ("app notin (train)", ["c", "d"]),
        ("app=train,tier=gpu", ["a"]),
        ("app in (train,serve),!tier", ["b"]),
        ("polyflow.dev/run=r1", ["a", "c"]),
        ("", ["a", "b", "c", "d"]),
    ],
)
def test_list_with_label_selectors(api, selector, expected):
    labels = {
        "a": {"app": "train", "tier": "gpu", "polyflow.dev/run": "r1"},
        "b": {"app": "train"},
        "c": {"app": "serve", "tier": "cpu", "polyflow.dev/run": "r1"},
        "d": {},
    }
    for name, pod_labels in labels.items():
        api.create_namespaced_pod("default", pod_manifest(name, ["true"], labels=pod_labels))
    pods = api.list_namespaced_pod("default", label_selector=selector)
    assert [pod.metadata.name for pod in pods.items] == expected
    assert int(pods.metadata.resource_version) > 0


def test_list_all_namespaces_and_field_selector(api, sim):
    api.create_namespaced_pod("default", pod_manifest("a", ["true"], labels={"app": "x"}))
    api.create_namespaced_pod("polyflow", pod_manifest("b", ["true"], labels={"app": "x"}))
    everywhere = api.list_pod_for_all_namespaces(label_selector="app=x")
    assert [(p.metadata.namespace, p.metadata.name) for p in everywhere.items] == [("default", "a"), ("polyflow", "b")]
    assert sim.requests[-1]["path"] == "/api/v1/pods"
    named = api.list_pod_for_all_namespaces(field_selector="metadata.name=b")
    assert [p.metadata.name for p in named.items] == ["b"]
    assert api.list_namespaced_pod("nowhere").items == []  # as a real server: an empty list


def test_list_pages_with_limit_and_continue(api):
    for name in ("p1", "p2", "p3"):
        api.create_namespaced_pod("default", pod_manifest(name, ["true"]))
    first = api.list_namespaced_pod("default", limit=2)
    assert [p.metadata.name for p in first.items] == ["p1", "p2"]
    assert first.metadata.remaining_item_count == 1
    second = api.list_namespaced_pod("default", limit=2, _continue=first.metadata._continue)
    assert [p.metadata.name for p in second.items] == ["p3"] and not second.metadata._continue


def test_bad_label_selector_is_400(api):
    with pytest.raises(client.ApiException) as caught:
        api.list_namespaced_pod("default", label_selector="app in (a")
    assert caught.value.status == 400
    assert status_body(caught.value)["reason"] == "BadRequest"


def test_missing_pod_is_404(api):
    with pytest.raises(client.ApiException) as caught:
        api.read_namespaced_pod("ghost", "default")
    body = status_body(caught.value)
    assert caught.value.status == 404
    assert (body["reason"], body["details"]) == ("NotFound", {"name": "ghost", "kind": "pods"})
    assert body["message"] == 'pods "ghost" not found'
    with pytest.raises(client.ApiException) as caught:
        api.delete_namespaced_pod("ghost", "default")
    assert caught.value.status == 404


def test_unknown_namespace_is_404(api):
    with pytest.raises(client.ApiException) as caught:
        api.create_namespaced_pod("nowhere", pod_manifest("a", ["true"]))
    body = status_body(caught.value)
    assert caught.value.status == 404 and body["message"] == 'namespaces "nowhere" not found'


def test_extra_namespaces(sim):
    sim.add_namespace("team-a")
    status, _, body = http(sim, "POST", "/api/v1/namespaces/team-a/pods", pod_manifest("a", ["true"]))
    assert status == 201 and body["metadata"]["namespace"] == "team-a"


def test_same_name_is_409(api):
    api.create_namespaced_pod("default", pod_manifest("twice", ["true"]))
    with pytest.raises(client.ApiException) as caught:
        api.create_namespaced_pod("default", pod_manifest("twice", ["true"]))
    body = status_body(caught.value)
    assert caught.value.status == 409 and body["reason"] == "AlreadyExists"
    assert body["details"] == {"name": "twice", "kind": "pods"}


def test_invalid_names_and_labels_are_422_with_causes(api, sim):
    manifest = pod_manifest("Not_A_Name", ["true"], labels={"bad key": "v", "ok": "x" * 64})
    manifest["spec"]["containers"][0]["name"] = "Main"
    with pytest.raises(client.ApiException) as caught:
        api.create_namespaced_pod("default", manifest)
    body = status_body(caught.value)
    assert caught.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["kind"] == "Pod" and body["details"]["name"] == "Not_A_Name"
    fields = [cause["field"] for cause in body["details"]["causes"]]
    assert fields == ["metadata.name", "metadata.labels", "metadata.labels", "spec.containers[0].name"]
    assert body["message"].startswith('Pod "Not_A_Name" is invalid: [metadata.name: Invalid value')
    assert sim.pods() == []


def test_name_longer_than_253_is_refused(sim):
    status, _, body = http(sim, "POST", "/api/v1/namespaces/default/pods", pod_manifest("a" * 254, ["true"]))
    assert status == 422
    assert "must be no more than 253 characters" in body["details"]["causes"][0]["message"]
    status, _, body = http(sim, "POST", "/api/v1/namespaces/default/pods", pod_manifest("a" * 253, ["true"]))
    assert status == 201
    assert sim.wait_for_pod("a" * 253)["status"]["phase"] == "Succeeded"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (lambda pod: pod["spec"]["containers"][0].update(bogus=1), "spec.containers[0].bogus",
         "FieldValueNotSupported"),
        (lambda pod: pod["spec"].update(restartPolicy="Sometimes"), "spec.restartPolicy", "FieldValueNotSupported"),
        (lambda pod: pod["spec"]["containers"][0].pop("image"), "spec.containers[0].image", "FieldValueRequired"),
        (lambda pod: pod["spec"].update(containers=[]), "spec.containers", "FieldValueRequired"),
        (lambda pod: pod["spec"]["containers"][0].update(ports=[{"containerPort": "http"}]),
         "spec.containers[0].ports[0].containerPort", "FieldValueTypeInvalid"),
        (lambda pod: pod["spec"]["containers"].append({"name": "main", "image": "x"}), "spec.containers[1].name",
         "FieldValueDuplicate"),
        (lambda pod: pod["spec"]["containers"][0].update(volumeMounts=[{"name": "data", "mountPath": "/d"}]),
         "spec.containers[0].volumeMounts[0].name", "FieldValueNotFound"),
        (lambda pod: pod["spec"].update(activeDeadlineSeconds=0), "spec.activeDeadlineSeconds", "FieldValueInvalid"),
        (lambda pod: pod["metadata"].pop("name"), "metadata.name", "FieldValueRequired"),
    ],
)
def test_what_a_real_server_refuses_is_422(sim, change, field, reason):
    manifest = pod_manifest("a", ["true"])
    change(manifest)
    status, _, body = http(sim, "POST", "/api/v1/namespaces/default/pods", manifest)
    assert status == 422, body
    assert {"field": field, "reason": reason} in [
        {"field": c["field"], "reason": c["reason"]} for c in body["details"]["causes"]
    ]


def test_malformed_json_is_400_and_other_methods_405(sim):
    status, _, body = http(sim, "POST", "/api/v1/namespaces/default/pods", raw=b'{"kind": "Pod",')
    assert status == 400 and body["reason"] == "BadRequest" and body["kind"] == "Status"
    status, _, body = http(sim, "PUT", "/api/v1/namespaces/default/pods/a", pod_manifest("a"))
    assert status == 405 and body["reason"] == "MethodNotAllowed"
    status, _, body = http(sim, "GET", "/apis/batch/v1/jobs")
    assert status == 404 and body["reason"] == "NotFound"


def test_yaml_body_is_accepted(sim):
    manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: y}\nspec:\n  containers: [{name: c, image: busybox}]\n"
    status, _, body = http(sim, "POST", "/api/v1/namespaces/default/pods", raw=manifest.encode(),
                           content_type="application/yaml")
    assert status == 201 and body["metadata"]["name"] == "y"


def test_discovery_and_version(api_client, sim):
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    resources = client.CoreV1Api(api_client).get_api_resources().resources
    assert {"pods", "pods/log"} <= {resource.name for resource in resources}
    version = client.VersionApi(api_client).get_code()
    assert f"{version.major}.{version.minor}" == sim.kube_version
    assert http(sim, "GET", "/healthz")[2] == "ok"
    assert client.CoreV1Api(api_client).read_namespace("polyflow").status.phase == "Active"


def test_delete_goes_through_deletion_timestamp_and_kills_the_process(api, sim, tmp_path):
    pid_file = tmp_path / "pid"
    # `$$$$`: Kubernetes expands `$(VAR)` in commands and reduces `$$` to `$`.
    api.create_namespaced_pod("default", pod_manifest(
        "sleeper", ["sh", "-c", 'echo $$$$ > "$PID_FILE"; exec sleep 30'], env={"PID_FILE": str(pid_file)}))
    sim.wait_for_pod("sleeper", phases=["Running"])
    wait_for_file(pid_file)
    stream = watch.Watch().stream(api.list_namespaced_pod, "default", resource_version=sim.pod("sleeper")[
        "metadata"]["resourceVersion"], timeout_seconds=5)
    deleted = api.delete_namespaced_pod("sleeper", "default", grace_period_seconds=5)
    assert deleted.metadata.deletion_timestamp is not None
    assert deleted.metadata.deletion_grace_period_seconds == 5
    events = []
    for event in stream:
        events.append((event["type"], event["object"].status.phase))
        if event["type"] == "DELETED":
            break
    # SIGTERM ended `sleep` (143): the pod failed, then it was removed.
    assert events == [("MODIFIED", "Running"), ("MODIFIED", "Failed"), ("DELETED", "Failed")]
    last = sim.requests[-1]
    assert (last["verb"], last["status"]) == ("watch", 200)
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)
    with pytest.raises(client.ApiException) as caught:
        api.read_namespaced_pod("sleeper", "default")
    assert caught.value.status == 404


def test_delete_with_delete_options_body(api, sim):
    api.create_namespaced_pod("default", pod_manifest("gone", ["sleep", "30"]))
    sim.wait_for_pod("gone", phases=["Running"])
    api.delete_namespaced_pod("gone", "default", body=client.V1DeleteOptions(grace_period_seconds=0))
    assert sim.pod("gone") is None
    assert sim.requests[-1]["verb"] == "delete"


def test_delete_collection(api, sim):
    for name in ("a", "b", "c"):
        api.create_namespaced_pod("default", pod_manifest(name, ["true"], labels={"set": "1" if name != "c" else "2"}))
    for name in ("a", "b", "c"):
        sim.wait_for_pod(name)
    api.delete_collection_namespaced_pod("default", label_selector="set=1")
    assert [pod["metadata"]["name"] for pod in sim.pods()] == ["c"]


def test_logs_tail_container_and_errors(api, sim):
    api.create_namespaced_pod("default", pod_manifest("talk", ["sh", "-c", "printf 'one\\ntwo\\nthree\\n'"]))
    sim.wait_for_pod("talk")
    assert api.read_namespaced_pod_log("talk", "default") == "one\ntwo\nthree\n"
    assert api.read_namespaced_pod_log("talk", "default", tail_lines=2) == "two\nthree\n"
    assert api.read_namespaced_pod_log("talk", "default", container="main", follow=False) == "one\ntwo\nthree\n"
    assert api.read_namespaced_pod_log("talk", "default", limit_bytes=3) == "one"
    with pytest.raises(client.ApiException) as caught:
        api.read_namespaced_pod_log("talk", "default", container="other")
    assert caught.value.status == 400
    with pytest.raises(client.ApiException) as caught:
        api.read_namespaced_pod_log("nobody", "default")
    assert caught.value.status == 404
    assert http(sim, "GET", "/api/v1/namespaces/default/pods/talk/log")[1]["Content-Type"].startswith("text/plain")


def test_log_of_a_pod_not_started_is_400(api, sim):
    sim.inject("outcome", name="stuck", result="pending")
    api.create_namespaced_pod("default", pod_manifest("stuck", ["true"]))
    with pytest.raises(client.ApiException) as caught:
        api.read_namespaced_pod_log("stuck", "default")
    assert caught.value.status == 400
    assert "is waiting to start" in status_body(caught.value)["message"]


def test_followed_log_streams_until_the_container_ends(api, sim):
    api.create_namespaced_pod("default", pod_manifest("chatty", ["sh", "-c", "echo a; sleep 0.2; echo b"]))
    sim.wait_for_pod("chatty", phases=["Running", "Succeeded"])
    lines = list(watch.Watch().stream(api.read_namespaced_pod_log, "chatty", "default"))
    assert lines == ["a", "b"]


def test_watch_streams_the_lifecycle(api, sim):
    created = api.create_namespaced_pod("default", pod_manifest("w", ["true"], labels={"watch": "me"}))
    api.create_namespaced_pod("default", pod_manifest("other", ["true"]))
    seen = []
    stream = watch.Watch()
    for event in stream.stream(api.list_namespaced_pod, "default", label_selector="watch=me", timeout_seconds=5,
                               resource_version=created.metadata.resource_version):
        assert event["object"].metadata.name == "w"
        seen.append((event["type"], event["object"].status.phase, event["object"].spec.node_name))
        if event["object"].status.phase == "Succeeded":
            stream.stop()
    assert seen == [("MODIFIED", "Pending", "kube-simulator"), ("MODIFIED", "Running", "kube-simulator"),
                    ("MODIFIED", "Succeeded", "kube-simulator")]
    # Without a resourceVersion a watch starts with the current state: one ADDED per pod.
    sim.inject("drop_watch", events=2)
    initial = list(watch.Watch().stream(api.list_namespaced_pod, "default", timeout_seconds=5))
    assert [(e["type"], e["object"].metadata.name) for e in initial] == [("ADDED", "other"), ("ADDED", "w")]


def test_watch_from_a_resource_version_sends_only_later_events(api, sim):
    api.create_namespaced_pod("default", pod_manifest("before", ["true"]))
    sim.wait_for_pod("before")
    listed = api.list_namespaced_pod("default")
    api.create_namespaced_pod("default", pod_manifest("after", ["true"]))
    events = []
    stream = watch.Watch()
    for event in stream.stream(api.list_namespaced_pod, "default", resource_version=listed.metadata.resource_version,
                               timeout_seconds=5):
        events.append((event["type"], event["object"].metadata.name, event["object"].status.phase))
        if event["object"].status.phase == "Succeeded":
            stream.stop()
    assert {name for _, name, _ in events} == {"after"}
    assert events[0] == ("ADDED", "after", "Pending")
    assert sim.requests[-1]["query"]["resourceVersion"] == listed.metadata.resource_version


def test_watch_timeout_and_watch_1(sim, api):
    import time

    started = time.monotonic()
    assert list(watch.Watch().stream(api.list_namespaced_pod, "default", timeout_seconds=1)) == []
    assert 0.9 < time.monotonic() - started < 3
    api.create_namespaced_pod("default", pod_manifest("x", ["true"]))
    sim.inject("drop_watch", events=1)  # end the stream after its first event
    status, _, event = http(sim, "GET", "/api/v1/namespaces/default/pods?watch=1")
    assert status == 200
    assert event["type"] == "ADDED" and event["object"]["kind"] == "Pod"
    assert sim.requests[-1]["verb"] == "watch"


def test_watch_from_a_forgotten_resource_version_is_410(api):
    from polyflow.testing.kube import KubeSimulator

    with KubeSimulator(port=0, history=3, run_time=0.01, pending_time=0.01) as small:
        with client.ApiClient(client.Configuration(host=small.url)) as api_client:
            core = client.CoreV1Api(api_client)
            core.create_namespaced_pod("default", pod_manifest("a", ["true"]))
            small.wait_for_pod("a")
            with pytest.raises(client.ApiException) as caught:
                list(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version="1",
                                          timeout_seconds=2))
            assert caught.value.status == 410
