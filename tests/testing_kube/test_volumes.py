"""downwardAPI and emptyDir volumes: made in the pod's directory, their mount paths rewritten to point there."""

from __future__ import annotations

import json
import time

import pytest
from kubernetes import client

from polyflow.testing.kube.volumes import format_map, go_quote

from .conftest import pod_manifest

PARAMS = {"lr": 0.1, "name": "résumé \"v2\""}


def downward_pod(name: str, command: list[str], args: list[str] | None = None, env: dict | None = None,
                 mount_path: str = "/polyflow", items: list[dict] | None = None, **container) -> dict:
    manifest = pod_manifest(name, command, env=env, container={
        "volumeMounts": [{"name": "params", "mountPath": mount_path, "readOnly": True}], **container})
    if args is not None:
        manifest["spec"]["containers"][0]["args"] = args
    manifest["metadata"]["labels"] = {"app": "demo", "tier": "ml"}
    manifest["metadata"]["annotations"] = {"example.com/params": json.dumps(PARAMS), "note": 'a "quoted"\nline'}
    manifest["spec"]["volumes"] = [{"name": "params", "downwardAPI": {"items": items or [
        {"path": "params.json", "fieldRef": {"fieldPath": "metadata.annotations['example.com/params']"}},
    ]}}]
    return manifest


def message_of(pod: dict) -> str:
    return pod["status"]["containerStatuses"][0]["state"]["terminated"].get("message", "")


def test_an_annotation_file_read_through_an_env_var_path(api, sim):
    api.create_namespaced_pod("default", downward_pod(
        "by-env", ["sh", "-c", 'cat "$PARAMS_FILE"'], env={"PARAMS_FILE": "/polyflow/params.json"}))
    pod = sim.wait_for_pod("by-env")
    assert pod["status"]["phase"] == "Succeeded", sim.log("by-env")
    assert json.loads(api.read_namespaced_pod_log("by-env", "default")) == PARAMS


def test_an_annotation_file_read_through_an_args_path(api, sim):
    api.create_namespaced_pod("default", downward_pod(
        "by-args", ["python3", "-c"],
        args=["import json, sys; print(json.load(open(sys.argv[1]))['lr'])", "/polyflow/params.json"]))
    assert sim.wait_for_pod("by-args")["status"]["phase"] == "Succeeded", sim.log("by-args")
    assert api.read_namespaced_pod_log("by-args", "default") == "0.1\n"


def test_every_field_a_downward_api_volume_supports(api, sim):
    items = [
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}},
        {"path": "uid", "fieldRef": {"fieldPath": "metadata.uid"}},
        {"path": "meta/labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "meta/annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
        {"path": "app", "fieldRef": {"fieldPath": "metadata.labels['app']"}, "mode": 0o400},
        {"path": "missing", "fieldRef": {"fieldPath": "metadata.labels['absent']"}},
    ]
    # workingDir inside the mount: relative paths work too.
    script = ('for f in name ns uid app missing; do printf "%s=%s;" $f "$(cat $f)"; done; echo; '
              "cat meta/labels; echo; echo ---; cat /etc/info/meta/annotations; echo; stat -c %a app")
    api.create_namespaced_pod("default", downward_pod(
        "fields", ["sh", "-c", script], mount_path="/etc/info", items=items, workingDir="/etc/info"))
    pod = sim.wait_for_pod("fields")
    assert pod["status"]["phase"] == "Succeeded", sim.log("fields")
    uid = pod["metadata"]["uid"]
    assert sim.log("fields") == (
        f"name=fields;ns=default;uid={uid};app=demo;missing=;\n"
        'app="demo"\ntier="ml"\n---\n'
        f'example.com/params={go_quote(json.dumps(PARAMS))}\nnote="a \\"quoted\\"\\nline"\n'
        "400\n"
    )
    # Defaulted as a real API server does.
    volume = pod["spec"]["volumes"][0]["downwardAPI"]
    assert volume["defaultMode"] == 0o644 and volume["items"][0]["fieldRef"]["apiVersion"] == "v1"


def test_format_map_is_the_kubelets():
    assert format_map({"b": "2", "a": 'x"\\\ty', "c": "é"}) == 'a="x\\"\\\\\\ty"\nb="2"\nc="é"'
    assert format_map({}) == ""
    assert go_quote("\x01\u200b") == '"\\x01\\u200b"'


def test_paths_are_rewritten_only_where_they_are_the_mount_path(api, sim):
    api.create_namespaced_pod("default", downward_pod(
        "only-paths", ["sh", "-c", 'echo "$A|$B|$C|$D"; echo /polyflowx /opt/polyflow/p /polyflow.bak'],
        env={"A": "/polyflow", "B": "--file=/polyflow/params.json", "C": "/polyflow-x", "D": "/a:/polyflow/b"}))
    assert sim.wait_for_pod("only-paths")["status"]["phase"] == "Succeeded"
    first, second = sim.log("only-paths").splitlines()
    a, b, c, d = first.split("|")
    rootfs = a[: -len("/polyflow")]
    assert rootfs.endswith("/rootfs") and rootfs.startswith(sim.workdir)
    assert b == f"--file={rootfs}/polyflow/params.json"
    assert c == "/polyflow-x" and d == f"/a:{rootfs}/polyflow/b"
    assert second == "/polyflowx /opt/polyflow/p /polyflow.bak"


def test_an_empty_dir_is_shared_by_its_mounts_and_paths(api, sim):
    manifest = pod_manifest("scratch", ["sh", "-c"], env={"OUT": "/scratch/out.txt"}, container={
        "args": ['echo written > "$OUT"; ls -A /cache; cat /other/out.txt; '
                 'mkdir -p /scratch/sub && echo deep > /scratch/sub/f; cat /deep/f; '
                 'echo -n "$(cat /scratch/out.txt)" > /dev/termination-log'],
        "volumeMounts": [{"name": "work", "mountPath": "/scratch"},
                         {"name": "work", "mountPath": "/other"},
                         {"name": "work", "mountPath": "/deep", "subPath": "sub"},
                         {"name": "cache", "mountPath": "/cache"}],
    })
    manifest["spec"]["volumes"] = [{"name": "work", "emptyDir": {}}, {"name": "cache"}]  # no source: an emptyDir
    api.create_namespaced_pod("default", manifest)
    pod = sim.wait_for_pod("scratch")
    assert pod["status"]["phase"] == "Succeeded", sim.log("scratch")
    assert sim.log("scratch") == "written\ndeep\n"  # /cache is empty; /other is /scratch
    assert message_of(pod) == "written"
    assert pod["spec"]["volumes"][1] == {"name": "cache", "emptyDir": {}}


def test_a_mount_path_under_tmp_does_not_rewrite_twice(api, sim):
    """The host paths it makes often start with /tmp themselves: each path is rewritten once."""
    manifest = pod_manifest("tmp", ["sh", "-c"], env={"F": "/tmp/f", "G": "$(F).bak"}, container={
        "args": ['echo x > $(F); cp "$F" "$G"; cat /tmp/f.bak; echo -n done > $(TERMINATION_LOG)'],
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    })
    manifest["spec"]["volumes"] = [{"name": "tmp", "emptyDir": {"medium": "Memory"}}]
    api.create_namespaced_pod("default", manifest)
    pod = sim.wait_for_pod("tmp")
    assert pod["status"]["phase"] == "Succeeded", sim.log("tmp")
    assert sim.log("tmp") == "x\n" and message_of(pod) == "done"


def test_other_volume_kinds_are_accepted_but_not_mounted(api, sim):
    manifest = pod_manifest("nfs", ["sh", "-c", 'echo "$S"; test -e /etc/creds || echo absent'],
                            env={"S": "/etc/creds/token"},
                            container={"volumeMounts": [{"name": "creds", "mountPath": "/etc/creds"}]})
    manifest["spec"]["volumes"] = [{"name": "creds", "nfs": {"server": "nfs.example", "path": "/x"}}]
    api.create_namespaced_pod("default", manifest)
    pod = sim.wait_for_pod("nfs")
    assert pod["status"]["phase"] == "Succeeded"
    assert sim.log("nfs") == "/etc/creds/token\nabsent\n"


def test_a_secret_volume_of_a_secret_that_does_not_exist_cannot_start(api, sim):
    manifest = pod_manifest("secret", ["true"], container={"volumeMounts": [{"name": "creds", "mountPath": "/c"}]})
    manifest["spec"]["volumes"] = [{"name": "creds", "secret": {"secretName": "creds"}}]
    api.create_namespaced_pod("default", manifest)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        statuses = (sim.pod("secret")["status"].get("containerStatuses") or [{}])
        if (statuses[0].get("state") or {}).get("waiting", {}).get("reason") == "CreateContainerConfigError":
            break
        time.sleep(0.02)
    pod = sim.pod("secret")
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"] == {
        "reason": "CreateContainerConfigError", "message": 'secret "creds" not found'}
    assert pod["spec"]["volumes"][0]["secret"] == {"secretName": "creds", "defaultMode": 0o644}


@pytest.mark.parametrize("change, field", [
    (lambda v, m: v[0]["downwardAPI"]["items"][0].update(path="/etc/x"), "spec.volumes[0].downwardAPI.items[0].path"),
    (lambda v, m: v[0]["downwardAPI"]["items"][0].update(path="../x"), "spec.volumes[0].downwardAPI.items[0].path"),
    (lambda v, m: v[0]["downwardAPI"]["items"][0]["fieldRef"].update(fieldPath="spec.nodeName"),
     "spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath"),
    (lambda v, m: v[0]["downwardAPI"]["items"][0]["fieldRef"].update(fieldPath="metadata.name['x']"),
     "spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath"),
    (lambda v, m: v.append({"name": "params", "emptyDir": {}}), "spec.volumes[1].name"),
    (lambda v, m: v[0].update(emptyDir={}), "spec.volumes[0].emptyDir"),
    (lambda v, m: m.append({"name": "params", "mountPath": "/polyflow"}),
     "spec.containers[0].volumeMounts[1].mountPath"),
    (lambda v, m: m[0].update(subPath="../up"), "spec.containers[0].volumeMounts[0].subPath"),
])
def test_what_a_real_server_refuses_in_volumes(api, sim, change, field):
    manifest = downward_pod("refused", ["true"])
    change(manifest["spec"]["volumes"], manifest["spec"]["containers"][0]["volumeMounts"])
    with pytest.raises(client.ApiException) as caught:
        api.create_namespaced_pod("default", manifest)
    assert caught.value.status == 422
    causes = json.loads(caught.value.body)["details"]["causes"]
    assert field in [cause["field"] for cause in causes], causes
