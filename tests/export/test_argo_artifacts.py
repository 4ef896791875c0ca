"""Path artifacts in the Argo export: Argo's artifacts in Polyflow's store, compared with the plan in code."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from polyflow.spec import check, parse_yaml, read_file
from polyflow.spec.references import env_var_name, references_in

from .argo_support import dag_tasks, export_documents, templates_by_name, workflow_spec
from .test_argo import EXAMPLES, assert_matches_plan, assert_valid, refusals, warnings_of

S3 = {"artifacts_store": "s3://bucket/some/prefix", "artifacts_store_options": {"endpoint_url": "http://minio:9000"},
      "artifacts_credentials_secret": "polyflow-s3"}
WORKFLOW_KEY = "{{workflow.name}}/{{workflow.uid}}"


def plan_of(text: str):
    return check(parse_yaml(textwrap.dedent(text), "test.yaml")).pipelines[0]


def quickstart():
    return check(list(read_file(str(EXAMPLES / "quickstart.yaml")))).pipelines[0]


def env_of(template: dict) -> dict[str, str]:
    return {item["name"]: item.get("value") for item in template["container"]["env"]}


def params_file(template: dict) -> dict:
    """The raw params artifact's JSON, each Argo tag taken as a 0 or a string (its text is a template)."""
    (raw,) = [item for item in template["inputs"]["artifacts"] if item["name"] == "polyflow-params"]
    text = re.sub(r'"\{\{[^}]*\}\}"', '"tag"', raw["raw"]["data"])
    return json.loads(re.sub(r"\{\{[^}]*\}\}", "0", text))


def path_inputs_of(plan, op) -> dict[str, tuple[str, str]]:
    """Read from the plan here, not with the export's own function: input -> (upstream, output)."""
    found = {}
    for io in op.template.inputs:
        value = op.params.get(io.name)
        if io.type != "path" or not isinstance(value, str):
            continue
        (ref,) = references_in(value)
        assert ref.whole and ref.part == "outputs"
        assert plan.op(ref.op).template.output(ref.name).type == "path"
        found[io.name] = (ref.op, ref.name)
    return found


def assert_artifacts_match_plan(plan, document: dict, store_prefix: str, kind: str = "s3") -> None:
    tasks, templates = dag_tasks(document), templates_by_name(document)
    for op in plan.ops:
        template, task = templates[op.name], tasks[op.name]
        env = env_of(template)
        outputs = [io for io in op.template.outputs if io.type == "path"]
        artifacts = {item["name"]: item for item in template.get("outputs", {}).get("artifacts", [])}
        assert set(artifacts) == {io.name for io in outputs}, op.name
        if outputs:
            outputs_dir = env["POLYFLOW_OUTPUTS_DIR"]
            (mount,) = [m for m in template["container"]["volumeMounts"] if m["mountPath"] == outputs_dir]
            (volume,) = [v for v in template["volumes"] if v["name"] == mount["name"]]
            assert volume == {"name": mount["name"], "emptyDir": {}}
        else:
            assert "POLYFLOW_OUTPUTS_DIR" not in env
        for io in outputs:
            artifact = artifacts[io.name]
            assert artifact["path"] == f"{env['POLYFLOW_OUTPUTS_DIR']}/{io.name}"
            assert artifact.get("optional", False) == io.is_optional
            key_field = "blob" if kind == "azure" else "key"
            assert artifact[kind][key_field] == f"{store_prefix}argo/{WORKFLOW_KEY}/{op.name}/{io.name}.tgz"
        sources = path_inputs_of(plan, op)
        given = {item["name"]: item["from"] for item in task.get("arguments", {}).get("artifacts", [])}
        assert given == {name: f"{{{{tasks.{up}.outputs.artifacts.{output}}}}}"
                         for name, (up, output) in sources.items()}, op.name
        declared = {item["name"]: item for item in template["inputs"]["artifacts"] if item["name"] != "polyflow-params"}
        assert set(declared) == set(sources), op.name
        parameters = {item["name"] for item in template["inputs"].get("parameters", [])}
        for name, (upstream, output) in sources.items():
            assert upstream in task["depends"]
            assert output in {item["name"] for item in templates[upstream]["outputs"]["artifacts"]}
            local = declared[name]["path"]
            assert set(declared[name]) == {"name", "path"}  # the location is the upstream output's
            assert env[env_var_name(name)] == local
            assert params_file(template)[name] == local
            assert name not in parameters


def test_the_quickstart_carries_its_data_sets_and_models_as_artifacts():
    plan = quickstart()
    documents, _ = export_documents(plan, **S3)
    assert_valid(documents)
    assert_matches_plan(plan, documents)
    assert_artifacts_match_plan(plan, documents[0], "some/prefix/")
    templates = templates_by_name(documents[0])
    (model,) = templates["train-slow"]["outputs"]["artifacts"]
    assert model == {"name": "model", "path": "/polyflow/outputs/model", "s3": {
        "bucket": "bucket", "endpoint": "minio:9000", "insecure": True,
        "accessKeySecret": {"name": "polyflow-s3", "key": "AWS_ACCESS_KEY_ID"},
        "secretKeySecret": {"name": "polyflow-s3", "key": "AWS_SECRET_ACCESS_KEY"},
        "key": f"some/prefix/argo/{WORKFLOW_KEY}/train-slow/model.tgz"}}
    # The non-path outputs still go through the outputs file.
    arguments = {p["name"]: p["value"] for p in dag_tasks(documents[0])["select-best"]["arguments"]["parameters"]}
    assert set(arguments) == {"accuracy_a", "accuracy_b"}
    assert "polyflow-outputs" in arguments["accuracy_a"]


PATHS = """\
version: 1
kind: pipeline
name: p
ops:
  - {name: make, template: {name: make}}
  - name: use
    template: {name: use}
    params: {src: '{{ ops.make.outputs.out }}', extra: '{{ ops.make.outputs.maybe }}', n: 3}
templates:
  - kind: job
    name: make
    outputs:
      - {name: out, type: path}
      - {name: maybe, type: path, is_optional: true}
      - {name: score, type: float}
    container: {image: 'i:1', command: [sh, -c, 'echo > $POLYFLOW_OUTPUTS_DIR/out']}
  - kind: job
    name: use
    inputs:
      - {name: src, type: path}
      - {name: extra, type: path}
      - {name: n, type: int}
    container: {image: 'i:1', command: [cat, '{{ params.src }}', '{{ params.extra | shell_quote }}', '{{ params.n }}']}
"""


def test_a_path_input_is_the_local_path_in_its_command_env_and_params_file():
    plan = plan_of(PATHS)
    documents, _ = export_documents(plan, **S3)
    assert_valid(documents)
    assert_matches_plan(plan, documents)
    assert_artifacts_match_plan(plan, documents[0], "some/prefix/")
    use = templates_by_name(documents[0])["use"]
    assert use["container"]["command"] == ["cat", "/polyflow/inputs/src", "/polyflow/inputs/extra",
                                           "{{inputs.parameters.n}}"]
    assert [item["name"] for item in use["inputs"]["parameters"]] == ["n"]


def test_an_optional_path_output_is_an_optional_artifact():
    documents, _ = export_documents(plan_of(PATHS), **S3)
    artifacts = {a["name"]: a for a in templates_by_name(documents[0])["make"]["outputs"]["artifacts"]}
    assert artifacts["maybe"]["optional"] is True
    assert "optional" not in artifacts["out"]


def test_the_credentials_secret_is_referred_to_only_when_set():
    options = {**S3, "artifacts_credentials_secret": ""}
    documents, _ = export_documents(plan_of(PATHS), **options)
    assert_valid(documents)
    s3 = templates_by_name(documents[0])["make"]["outputs"]["artifacts"][0]["s3"]
    assert "accessKeySecret" not in s3 and "secretKeySecret" not in s3
    assert s3["useSDKCreds"] is True  # the SDK's chain, as Polyflow's containers without a Secret
    documents, _ = export_documents(plan_of(PATHS), **S3)
    s3 = templates_by_name(documents[0])["make"]["outputs"]["artifacts"][0]["s3"]
    assert s3["accessKeySecret"] == {"name": "polyflow-s3", "key": "AWS_ACCESS_KEY_ID"}
    assert "useSDKCreds" not in s3


@pytest.mark.parametrize(("options", "endpoint", "insecure", "region"), [
    ({}, "s3.amazonaws.com", False, None),
    ({"client_kwargs": {"endpoint_url": "https://s3.example.com:8443", "region_name": "eu-west-1"}},
     "s3.example.com:8443", False, "eu-west-1"),
    ({"endpoint_url": "http://minio.store.svc:9000/"}, "minio.store.svc:9000", True, None),
])
def test_the_s3_endpoint_comes_from_the_store_options(options, endpoint, insecure, region):
    documents, _ = export_documents(plan_of(PATHS), artifacts_store="s3://b", artifacts_store_options=options)
    assert_valid(documents)
    s3 = templates_by_name(documents[0])["make"]["outputs"]["artifacts"][0]["s3"]
    assert (s3["endpoint"], s3["insecure"], s3.get("region")) == (endpoint, insecure, region)
    assert s3["key"] == f"argo/{WORKFLOW_KEY}/make/out.tgz"  # a store at the bucket's root


def test_store_options_argo_does_not_read_are_warned():
    warnings = warnings_of(plan_of(PATHS), artifacts_store="s3://b",
                           artifacts_store_options={"anon": True, "client_kwargs": {"verify": False}})
    assert "anon, client_kwargs.verify" in warnings["ops.make.template.outputs.out"]


def test_a_gs_store_is_gcs_artifacts():
    plan = plan_of(PATHS)
    documents, _ = export_documents(plan, artifacts_store="gs://bucket/pre/", artifacts_store_options={},
                                    artifacts_credentials_secret="")
    assert_valid(documents)
    assert_artifacts_match_plan(plan, documents[0], "pre/", kind="gcs")
    artifact = templates_by_name(documents[0])["make"]["outputs"]["artifacts"][0]
    assert artifact == {"name": "out", "path": "/polyflow/outputs/out",
                        "gcs": {"bucket": "bucket", "key": f"pre/argo/{WORKFLOW_KEY}/make/out.tgz"}}
    warnings = warnings_of(plan, artifacts_store="gs://bucket/pre", artifacts_credentials_secret="gcs-key")
    assert "serviceAccountKeySecret" in warnings["ops.make.template.outputs.out"]


def test_an_azure_store_needs_its_account():
    plan = plan_of(PATHS)
    documents, _ = export_documents(plan, artifacts_store="az://container/pre",
                                    artifacts_store_options={"account_name": "acct"},
                                    artifacts_credentials_secret="az")
    assert_valid(documents)
    assert_artifacts_match_plan(plan, documents[0], "pre/", kind="azure")
    azure = templates_by_name(documents[0])["make"]["outputs"]["artifacts"][0]["azure"]
    assert azure == {"endpoint": "https://acct.blob.core.windows.net", "container": "container",
                     "accountKeySecret": {"name": "az", "key": "AZURE_STORAGE_ACCOUNT_KEY"},
                     "blob": f"pre/argo/{WORKFLOW_KEY}/make/out.tgz"}
    found = refusals(plan, artifacts_store="az://container/pre", artifacts_store_options={})
    assert "account_name" in found["ops.make.template.outputs.out"]


def test_a_file_store_is_refused_naming_the_setting():
    for options in ({}, {"artifacts_store": "file:///srv/artifacts"}):
        found = refusals(plan_of(PATHS), **options)
        assert set(found) == {"ops.make.template.outputs.out", "ops.make.template.outputs.maybe"}
        assert "ARTIFACTS_STORE" in found["ops.make.template.outputs.out"]
        assert "Argo's pods cannot reach it" in found["ops.make.template.outputs.out"]


def test_the_store_is_read_from_django_s_settings_by_default(settings):
    settings.POLYFLOW = {**getattr(settings, "POLYFLOW", {}), "ARTIFACTS_STORE": "s3://from-settings/x",
                         "ARTIFACTS_CREDENTIALS_SECRET": "creds"}
    documents, _ = export_documents(plan_of(PATHS))
    s3 = templates_by_name(documents[0])["make"]["outputs"]["artifacts"][0]["s3"]
    assert (s3["bucket"], s3["key"]) == ("from-settings", f"x/argo/{WORKFLOW_KEY}/make/out.tgz")
    assert s3["accessKeySecret"]["name"] == "creds"


def test_a_pipeline_without_path_artifacts_needs_no_store():
    documents, _ = export_documents(plan_of(PATHS.replace("type: path", "type: str")))
    assert "artifacts" not in templates_by_name(documents[0])["make"]["outputs"]


MATRIX = """\
version: 1
kind: pipeline
name: p
ops:
  - {name: make, template: {name: make}}
  - name: grid
    template: {name: use}
    params: {src: '{{ ops.make.outputs.out }}'}
    matrix: {kind: grid, params: {n: {kind: choice, value: [1, 2]}}}
  - name: list
    template: {name: lister}
  - name: each
    template: {name: use}
    params: {src: '{{ ops.make.outputs.out }}'}
    matrix: {kind: mapping, values: '{{ ops.list.outputs.items }}'}
templates:
  - kind: job
    name: make
    outputs: [{name: out, type: path}]
    container: {image: 'i:1', command: [sh]}
  - kind: job
    name: lister
    outputs: [{name: items, type: list}]
    container: {image: 'i:1', command: [sh]}
  - kind: job
    name: use
    inputs: [{name: src, type: path}, {name: n, type: int, default: 0}]
    outputs: [{name: result, type: path}]
    container: {image: 'i:1', command: [sh]}
"""


def test_the_trials_of_a_matrix_op_store_their_artifacts_apart():
    plan = plan_of(MATRIX)
    documents, _ = export_documents(plan, **S3)
    assert_valid(documents)
    templates, tasks = templates_by_name(documents[0]), dag_tasks(documents[0])
    grid_key = templates["grid"]["outputs"]["artifacts"][0]["s3"]["key"]
    assert grid_key == f"some/prefix/argo/{WORKFLOW_KEY}/grid/{{{{inputs.parameters.polyflow-trial}}}}/result.tgz"
    each_key = templates["each"]["outputs"]["artifacts"][0]["s3"]["key"]
    assert each_key == f"some/prefix/argo/{WORKFLOW_KEY}/each/{{{{pod.name}}}}/result.tgz"
    # Every trial reads the one upstream artifact.
    assert tasks["grid"]["arguments"]["artifacts"] == [{"name": "src",
                                                        "from": "{{tasks.make.outputs.artifacts.out}}"}]


CONSUMERS = MATRIX.replace("""  - name: list
    template: {name: lister}
""", """  - name: list
    template: {name: lister}
  - name: after
    template: {name: gather}
    params: {paths: '{{ ops.grid.outputs.result }}'}
  - name: text
    template: {name: text}
    params: {where: '{{ ops.make.outputs.out }}'}
""") + """\
  - kind: job
    name: text
    inputs: [{name: where, type: str}]
    container: {image: 'i:1', command: [sh]}
  - kind: job
    name: gather
    inputs: [{name: paths, type: any}]
    container: {image: 'i:1', command: [sh]}
"""


def test_what_cannot_be_carried_exactly_is_refused_where_it_is():
    found = refusals(plan_of(CONSUMERS), **S3)
    assert "one list are not carried" in found["ops.after.params.paths"]
    assert "location of a path output as text" in found["ops.text.params.where"]


def test_the_best_trial_s_path_output_is_refused():
    text = MATRIX.replace("matrix: {kind: grid, params: {n: {kind: choice, value: [1, 2]}}}",
                          "matrix: {kind: grid, metric: {name: score}, params: {n: {kind: choice, value: [1, 2]}}}") \
        .replace("outputs: [{name: result, type: path}]", "outputs: [{name: result, type: path}, "
                                                           "{name: score, type: float}]") \
        .replace("  - name: list\n", "  - name: best\n    template: {name: use}\n"
                                     "    params: {src: '{{ ops.grid.best.outputs.result }}'}\n  - name: list\n")
    found = refusals(plan_of(text), **S3)
    assert "no best trial" in found["ops.best.params.src"]


def test_a_cron_workflow_carries_its_artifacts_too():
    text = PATHS.replace("name: p\n", "name: p\nschedule: {kind: cron, cron: '0 3 * * *'}\n", 1)
    plan = plan_of(text)
    documents, _ = export_documents(plan, **S3)
    assert documents[0]["kind"] == "CronWorkflow"
    assert_valid(documents)
    assert_artifacts_match_plan(plan, documents[0], "some/prefix/")
    assert workflow_spec(documents[0])["templates"]
