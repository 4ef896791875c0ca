"""`environment.volumes`, `container.volume_mounts` and a pipeline's `workspace` (DESIGN section
10): what the schema accepts and the messages of what it refuses."""

from __future__ import annotations

import pytest

from polyflow.spec.plan import Plan, WorkspaceSpec

from .support import compile_texts, errors_of

HEAD = """\
version: 1
kind: pipeline
name: p
ops:
  - {name: a, template: {name: t}}
"""


def pipeline(volumes: str = "[]", mounts: str = "[]", top: str = "") -> str:
    return HEAD + top + f"""\
templates:
  - kind: job
    name: t
    container:
      image: busybox
      command: [ls]
      volume_mounts: {mounts}
    environment:
      volumes: {volumes}
"""


def test_every_source_is_taken_as_kubernetes_writes_it():
    text = pipeline(volumes="""
        - {name: claim, persistentVolumeClaim: {claimName: data, readOnly: true}}
        - {name: settings, configMap: {name: app, items: [{key: a, path: conf/a.yaml, mode: 0444}], optional: true}}
        - {name: creds, secret: {secretName: app, defaultMode: 0400}}
        - {name: scratch, emptyDir: {medium: Memory, sizeLimit: 1Gi}}
        - {name: host, hostPath: {path: /srv, type: DirectoryOrCreate}}
        - {name: share, nfs: {server: nfs.example, path: /exports}}
        - {name: driver, csi: {driver: secrets-store.csi.k8s.io, volumeAttributes: {a: b}}}
    """, mounts="[{name: claim, mount_path: /data, read_only: true, sub_path: models}, {name: host, mount_path: /srv}]")
    plan = compile_texts(text).pipelines[0]
    template = plan.op("a").template
    assert [dict(v)["name"] for v in template.environment.volumes] == [
        "claim", "settings", "creds", "scratch", "host", "share", "driver"]
    assert dict(template.environment.volumes[2]["secret"]) == {"secretName": "app", "defaultMode": 0o400}
    assert dict(template.container.volume_mounts[0]) == {"name": "claim", "mount_path": "/data", "read_only": True,
                                                         "sub_path": "models"}
    assert Plan.from_dict(plan.to_dict()) == plan


@pytest.mark.parametrize("volumes, mounts, error", [
    ("[{name: data, persistentVolumeClaim: {}}]", "[]",
     "templates[0].environment.volumes[0].persistentVolumeClaim.claimName: required field is missing in "
     "persistentVolumeClaim"),
    ("[{name: data, persistentVolumeClaim: {claim_name: x}}]", "[]",
     "templates[0].environment.volumes[0].persistentVolumeClaim.claim_name: unknown field 'claim_name' in "
     "persistentVolumeClaim; did you mean 'claimName'? (fields: claimName, readOnly)"),
    ("[{name: data, gitRepo: {repository: x}}]", "[]",
     "templates[0].environment.volumes[0].gitRepo: unknown volume source 'gitRepo'"),
    ("[{name: data, emptyDir: {}, hostPath: {path: /x}}]", "[]",
     "templates[0].environment.volumes[0].hostPath: a volume has one source; 'data' has emptyDir, hostPath"),
    ("[{name: data}]", "[]", "templates[0].environment.volumes[0].name: volume 'data' has no source"),
    ("[{name: Data, emptyDir: {}}]", "[]", "templates[0].environment.volumes[0].name: 'Data' is not a valid name"),
    ("[{name: a, emptyDir: {}}, {name: a, emptyDir: {}}]", "[]",
     "templates[0].environment.volumes[1].name: duplicate volume 'a'"),
    ("[{name: h, hostPath: {path: srv}}]", "[]",
     "templates[0].environment.volumes[0].hostPath.path: 'srv' must be an absolute path"),
    ("[{name: c, configMap: {name: x, defaultMode: 1000}}]", "[]",
     "templates[0].environment.volumes[0].configMap.defaultMode: expected a file mode from 0 to 0777"),
    ("[{name: c, configMap: {name: x, items: [{key: a, path: ../a}]}}]", "[]",
     "templates[0].environment.volumes[0].configMap.items[0].path: '../a' must not contain '..'"),
    ("[{name: e, emptyDir: {sizeLimit: lots}}]", "[]",
     "templates[0].environment.volumes[0].emptyDir.sizeLimit: 'lots' is not a Kubernetes quantity"),
    ("[{name: data, emptyDir: {}}]", "[{name: dta, mount_path: /data}]",
     "templates[0].container.volume_mounts[0].name: volume mount 'dta' names no volume of environment.volumes; "
     "did you mean 'data'? (volumes: data)"),
    ("[{name: data, emptyDir: {}}]", "[{name: data, mount_path: data}]",
     "templates[0].container.volume_mounts[0].mount_path: 'data' must be an absolute path"),
    ("[{name: data, emptyDir: {}}]", "[{name: data, mount_path: /d, sub_path: /abs}]",
     "templates[0].container.volume_mounts[0].sub_path: '/abs' must be a relative path"),
    ("[{name: data, emptyDir: {}}]", "[{name: data, mount_path: /polyflow/outputs}]",
     "templates[0].container.volume_mounts[0].mount_path: '/polyflow/outputs' overlaps a path Polyflow mounts"),
    ("[{name: data, emptyDir: {}}]", "[{name: data, mount_path: /d}, {name: data, mount_path: /d/}]",
     "templates[0].container.volume_mounts[1].mount_path: '/d/' is mounted twice"),
    ("[{name: data, emptyDir: {}}]", "[{name: data, mountPath: /d}]",
     "templates[0].container.volume_mounts[0].mountPath: unknown field 'mountPath' in volume mount"),
])
def test_bad_volumes_and_mounts_are_refused_with_clear_messages(volumes, mounts, error):
    errors = errors_of(pipeline(volumes, mounts))
    assert any(item.startswith(error) for item in errors), errors


def test_a_workspace_becomes_the_plans():
    plan = compile_texts(pipeline(top="workspace: {size: 5Gi, storage_class: fast, access_mode: ReadWriteMany, "
                                      "mount_path: /work}\n")).pipelines[0]
    assert plan.workspace == WorkspaceSpec("5Gi", "fast", "ReadWriteMany", "/work")
    assert Plan.from_dict(plan.to_dict()).workspace == plan.workspace
    assert compile_texts(pipeline(top="workspace: {}\n")).pipelines[0].workspace == WorkspaceSpec()
    assert compile_texts(pipeline()).pipelines[0].workspace is None


@pytest.mark.parametrize("workspace, error", [
    ("{size: big}", "workspace.size: 'big' is not a Kubernetes quantity"),
    ("{access_mode: ReadWrite}", "workspace.access_mode: unknown access mode 'ReadWrite'"),
    ("{mount_path: work}", "workspace.mount_path: 'work' must be an absolute path"),
    ("{storageClass: x}", "workspace.storageClass: unknown field 'storageClass' in workspace"),
])
def test_bad_workspaces_are_refused(workspace, error):
    errors = errors_of(pipeline(top=f"workspace: {workspace}\n"))
    assert any(item.startswith(error) for item in errors), errors
