"""Path artifacts, volumes, a workspace and caching in the exports (DESIGN section 10): each is carried,
refused naming where it is, or warned, never dropped silently. Pure: no Airflow needed."""

from __future__ import annotations

import pytest

from polyflow.export import NotCarried, exporter
from polyflow.export.airflow_dag import describe
from tests.export.airflow_support import plans_of_texts

ARTIFACTS = """\
version: 1
kind: pipeline
name: p
ops:
  - {name: make, template: {name: make}}
  - {name: use, template: {name: use}, params: {data: '{{ ops.make.outputs.data }}'}}
templates:
  - kind: job
    name: make
    outputs: [{name: data, type: path}, {name: extra, type: path, is_optional: true}]
    container: {image: busybox, command: ['true']}
  - kind: job
    name: use
    inputs: [{name: data, type: path}]
    container: {image: busybox, command: ['true']}
"""

STORAGE = """\
version: 1
kind: pipeline
name: p
{top}ops:
  - {{name: a, template: {{name: t}}{op}}}
templates:
  - kind: job
    name: t
    container:
      image: busybox
      command: ['true']
      volume_mounts: {mounts}
    environment:
      volumes: {volumes}
"""
CLAIM = "[{name: data, persistentVolumeClaim: {claimName: shared}}]"
MOUNT = "[{name: data, mount_path: /data, read_only: true}]"


def plan_of(text: str):
    (plan,) = plans_of_texts(text)
    return plan


def storage(top: str = "", op: str = "", volumes: str = "[]", mounts: str = "[]"):
    return plan_of(STORAGE.format(top=top, op=op, volumes=volumes, mounts=mounts))


def refusals(target: str, plan, **options) -> dict[str, str]:
    with pytest.raises(NotCarried) as caught:
        exporter(target)(plan, **options)
    return {problem.where: problem.message for problem in caught.value.problems}


def warnings_of(target: str, plan, **options) -> dict[str, str]:
    return {warning.where: warning.message for warning in exporter(target)(plan, **options).warnings}


PATHS = {"ops.make.template.outputs.data", "ops.make.template.outputs.extra", "ops.use.template.inputs.data"}


def test_path_artifacts_in_pods_are_refused_each_where_it_is():
    refused = refusals("airflow", plan_of(ARTIFACTS), executor="kubernetes")
    assert set(refused) == PATHS
    assert "artifact store" in refused["ops.use.template.inputs.data"]
    assert refused["ops.make.template.outputs.data"].startswith("a path output is not carried")


def test_argo_carries_path_artifacts_in_an_object_store_only():
    # The tests' store is the default, file:// (tests/export/test_argo_artifacts.py: the object stores).
    refused = refusals("argo", plan_of(ARTIFACTS))
    assert set(refused) == {"ops.make.template.outputs.data", "ops.make.template.outputs.extra"}
    assert "ARTIFACTS_STORE" in refused["ops.make.template.outputs.data"]
    exporter("argo")(plan_of(ARTIFACTS), artifacts_store="s3://bucket/prefix")


def test_the_local_executor_carries_path_artifacts_in_the_attempt_directory():
    description, findings = describe(plan_of(ARTIFACTS), "local")
    assert findings.problems == [] and findings.warnings == []
    make, use = description.tasks
    assert make.spec["path_outputs"] == {"data": False, "extra": True}
    assert make.spec["local"]["env"]["POLYFLOW_OUTPUTS_DIR"] == make.spec["local"]["outputs_dir"]
    assert use.spec["path_inputs"] == ["data"]
    assert use.spec["local"]["inputs_dir"].endswith("/inputs")


@pytest.mark.parametrize(("target", "options"), [("airflow", {"executor": "kubernetes"}),
                                                 ("airflow", {"executor": "local"})])
def test_a_workspace_is_refused_by_airflow(target, options):
    refused = refusals(target, storage(top="workspace: {size: 1Gi}\n"), **options)
    assert set(refused) == {"workspace"}


def test_argo_carries_a_workspace_as_the_workflows_claim_every_op_mounts():
    from tests.export.argo_support import templates_by_name, validate_argo, workflow_spec

    text = STORAGE.replace("  - {{name: a, template: {{name: t}}{op}}}",
                           "  - {{name: a, template: {{name: t}}{op}}}\n  - {{name: b, template: {{name: t}}, "
                           "dependencies: [a]}}")
    plan = plan_of(text.format(top="workspace: {size: 2Gi, storage_class: fast, mount_path: /ws}\n", op="",
                               volumes=CLAIM, mounts=MOUNT))
    from polyflow.export.argo import argo_documents

    (document,), _ = argo_documents(plan)
    validate_argo(document)
    spec = workflow_spec(document)
    assert spec["volumeClaimTemplates"] == [{"metadata": {"name": "polyflow-workspace"},
                                             "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                                                      "resources": {"requests": {"storage": "2Gi"}}}}]
    assert spec["volumeClaimGC"] == {"strategy": "OnWorkflowCompletion"}
    templates = templates_by_name(document)
    for name in ("a", "b"):
        mounts = {m["name"]: m for m in templates[name]["container"]["volumeMounts"]}
        assert mounts["polyflow-workspace"] == {"name": "polyflow-workspace", "mountPath": "/ws"}
        assert mounts["data"]["mountPath"] == "/data"  # the template's own mounts stay
        assert "polyflow-workspace" not in {v["name"] for v in templates[name]["volumes"]}  # the Workflow's claim


@pytest.mark.parametrize(("target", "options", "name"), [("airflow", {"executor": "kubernetes"}, "Airflow"),
                                                         ("airflow", {"executor": "local"}, "Airflow"),
                                                         ("argo", {}, "Argo")])
def test_a_cached_op_is_warned_to_rerun(target, options, name):
    warned = warnings_of(target, storage(op=", cache: true"), **options)
    assert warned["ops.a.cache"].startswith(f"not carried: {name} runs the op every time")
    # the pipeline's cache applies to its ops
    assert "ops.a.cache" in warnings_of(target, storage(top="cache: true\n"), **options)


def test_volumes_reach_the_airflow_pod_as_manifests_builds_them():
    description, findings = describe(storage(volumes=CLAIM, mounts=MOUNT), "kubernetes")
    assert findings.problems == []
    pod = description.tasks[0].spec["pod"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "shared"}} in pod["spec"]["volumes"]
    (main,) = pod["spec"]["containers"]
    assert {"name": "data", "mountPath": "/data", "readOnly": True} in main["volumeMounts"]


def test_volumes_reach_the_argo_template():
    import yaml

    (document,) = [doc for doc in yaml.safe_load_all(exporter("argo")(storage(volumes=CLAIM, mounts=MOUNT)).text)
                   if doc and doc.get("kind") in ("Workflow", "CronWorkflow")]
    (template,) = [item for item in document["spec"]["templates"] if item["name"] == "a"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "shared"}} in template["volumes"]
    assert {"name": "data", "mountPath": "/data", "readOnly": True} in template["container"]["volumeMounts"]


def test_volumes_are_refused_on_the_local_executor():
    refused = refusals("airflow", storage(volumes=CLAIM, mounts=MOUNT), executor="local")
    assert set(refused) == {"ops.a.template.environment.volumes"}
