"""The Argo export: every document valid against Argo's schema, its DAG the plan's (compared in code)."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest

from polyflow.backends.container import as_text
from polyflow.export import NotCarried
from polyflow.export.argo import parameter_name
from polyflow.export.argo_rules import RULES, F, K, S, Upstream, condition
from polyflow.scheduler import dag
from polyflow.spec import check, parse_yaml, read_file
from polyflow.spec.plan import thaw
from polyflow.statuses import OpStatus

from ..spec.matrix_support import TEMPLATES as MATRIX_TEMPLATES
from ..spec.support import PIPELINE_HEAD, TEMPLATE
from .argo_support import (
    dag_tasks,
    depends_tasks,
    eval_depends,
    eval_when,
    export_documents,
    pod_of,
    templates_by_name,
    validate_argo,
    validate_kube,
    workflow_spec,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ACTIONS = [EXAMPLES / "actions" / "deep-wide-model.yaml"]
PHASE = {OpStatus.SUCCEEDED: "Succeeded", OpStatus.FAILED: "Failed", OpStatus.UPSTREAM_FAILED: "Omitted",
         OpStatus.SKIPPED: "Skipped"}


def plan_of(text: str):
    return check(parse_yaml(textwrap.dedent(text), "test.yaml")).pipelines[0]


def example_plan(name: str):
    raws = [doc for path in ACTIONS for doc in read_file(str(path))] + list(read_file(str(EXAMPLES / name)))
    return check(raws).pipelines[0]


def plain_example_plan(name: str):
    """An example with its path artifacts as plain values (the export refuses path artifacts with the
    tests' default store, a file:// one)."""
    return check(parse_yaml((EXAMPLES / name).read_text().replace("type: path", "type: str"), name)).pipelines[0]


def refusals(plan, **options) -> dict[str, str]:
    with pytest.raises(NotCarried) as caught:
        export_documents(plan, **options)
    return {problem.where: problem.message for problem in caught.value.problems}


def warnings_of(plan, **options) -> dict[str, str]:
    """Where -> the messages of the warnings there, joined."""
    _, result = export_documents(plan, **options)
    found: dict[str, list[str]] = {}
    for warning in result.warnings:
        found.setdefault(warning.where, []).append(warning.message)
    return {where: " | ".join(messages) for where, messages in found.items()}


# -- what the plan says, read back from the export

def simulate_polyflow(plan, ran: dict[str, str]) -> dict[str, str]:
    statuses: dict[str, str] = {}
    for name in plan.order:
        op = plan.op(name)
        node = dag.Node(op.trigger, op.skip_on_upstream_skip, op.dependencies)
        outcome = dag.decide(node, [statuses[up] for up in op.dependencies])
        statuses[name] = {dag.READY: ran[name], dag.SKIP: OpStatus.SKIPPED,
                          dag.UPSTREAM_FAILED: OpStatus.UPSTREAM_FAILED}[outcome]
    return statuses


def simulate_argo(document: dict, order, ran: dict[str, str]) -> dict[str, str]:
    tasks = dag_tasks(document)
    phases: dict[str, str] = {}
    for name in order:
        task = tasks[name]
        if "depends" in task and not eval_depends(task["depends"], phases):
            phases[name] = "Omitted"
        elif "when" in task and not eval_when(task["when"], phases):
            phases[name] = "Skipped"
        else:
            phases[name] = PHASE[ran[name]]
    return phases


def assert_matches_plan(plan, documents: list[dict]) -> None:
    document = documents[0]
    spec = workflow_spec(document)
    tasks = dag_tasks(document)
    templates = templates_by_name(document)
    assert list(tasks) == list(plan.order)
    assert spec.get("parallelism") == plan.concurrency
    assert spec.get("activeDeadlineSeconds") == plan.timeout
    workflow_parameters = {item["name"]: item["value"] for item in spec.get("arguments", {}).get("parameters", [])}
    for op in plan.ops:
        task, template = tasks[op.name], templates[op.name]
        assert depends_tasks(task.get("depends", "")) == set(op.dependencies), op.name
        retry = template.get("retryStrategy")
        if op.max_retries:
            assert retry["limit"] == str(op.max_retries)
            assert retry["retryPolicy"] == "Always"
            assert retry["backoff"]["factor"] == (2 if op.retry_exp_backoff else 1)
            assert retry["backoff"]["duration"] == f"{min(op.retry_delay, op.max_retry_delay)}s"
            assert retry["backoff"].get("cap") == (f"{op.max_retry_delay}s" if op.retry_exp_backoff else None)
        else:
            assert retry is None
        assert template.get("activeDeadlineSeconds") == op.timeout
        arguments = {item["name"]: item["value"] for item in task.get("arguments", {}).get("parameters", [])}
        declared = {item["name"] for item in template["inputs"].get("parameters", [])}
        assert set(arguments) == declared, op.name
        for name, value in op.params.items():
            if name not in arguments:
                continue
            if "{{" not in str(value) and not arguments[name].startswith("{{item."):
                parameter = parameter_name(op.name, name)
                assert arguments[name] == f"{{{{workflow.parameters.{parameter}}}}}"
                assert workflow_parameters[parameter] == as_text(thaw(value))
        env = {item["name"]: item.get("value") for item in template["container"]["env"]}
        assert env["POLYFLOW_OP_NAME"] == op.name
        if op.template.outputs:
            (output,) = template["outputs"]["parameters"]
            assert output["valueFrom"]["path"] == env["POLYFLOW_OUTPUTS_FILE"]
        assert template["container"]["image"] == op.template.container.image
        assert template.get("nodeSelector") == (dict(op.template.environment.node_selector) or None)
        assert template.get("serviceAccountName") == op.template.environment.service_account
        if op.concurrency:
            (config_map,) = [doc for doc in documents if doc["kind"] == "ConfigMap"]
            assert config_map["data"][op.name] == str(op.concurrency)
    # Trigger rules: every way the ops that run may end, the same ends on both engines.
    names = list(plan.order)
    for ends in itertools.islice(itertools.product((OpStatus.SUCCEEDED, OpStatus.FAILED), repeat=len(names)), 1024):
        ran = dict(zip(names, ends, strict=True))
        expected = {name: PHASE[status] for name, status in simulate_polyflow(plan, ran).items()}
        assert simulate_argo(document, names, ran) == expected, ran


def assert_valid(documents: list[dict]) -> None:
    for document in documents:
        if document["kind"] == "ConfigMap":
            validate_kube(document)
            continue
        validate_argo(document)
        for template in workflow_spec(document)["templates"]:
            if "container" in template:
                validate_kube(pod_of(template))


# -- trigger rules against the scheduler's own decision

@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("skip_on_upstream_skip", [False, True])
@pytest.mark.parametrize("count", [1, 2, 3])
def test_every_trigger_rule_decides_as_the_scheduler(rule, skip_on_upstream_skip, count):
    names = [f"u{index}" for index in range(count)]
    upstreams = [Upstream(name, frozenset({S, F, K})) for name in names]
    written = condition(rule, skip_on_upstream_skip, upstreams)
    node = dag.Node(rule, skip_on_upstream_skip, tuple(names))
    for statuses in itertools.product(PHASE, repeat=count):
        phases = {name: PHASE[status] for name, status in zip(names, statuses, strict=True)}
        expected = dag.decide(node, list(statuses))
        if not eval_depends(written.depends, phases):
            got = dag.UPSTREAM_FAILED
        elif written.when and not eval_when(written.when, phases):
            got = dag.SKIP
        else:
            got = dag.READY
        assert got == expected, (statuses, written)


def test_a_chain_of_all_succeeded_ops_reads_plainly():
    written = condition("all_succeeded", False, [Upstream("prepare", frozenset({S, F}))])
    assert (written.depends, written.when) == ("prepare.Succeeded", None)


# -- the examples

@pytest.mark.parametrize("name", ["quickstart.yaml", "cron.yaml", "failing.yaml"])
def test_examples_export_valid_and_as_planned(name):
    plan = plain_example_plan(name)
    documents, result = export_documents(plan)
    assert result.filename == f"{plan.name}.yaml"
    assert documents[0]["kind"] == ("CronWorkflow" if plan.schedule else "Workflow")
    assert_valid(documents)
    assert_matches_plan(plan, documents)


def test_every_example_is_exported_or_refused_with_reasons():
    accepted = {"cron.yaml"}
    refused = {
        # The tests' store is the default, a file:// one: path artifacts need an object store
        # (tests/export/test_argo_artifacts.py exports them with one).
        "quickstart.yaml": {"ops.prepare.template.outputs.train", "ops.prepare.template.outputs.test",
                            "ops.train-slow.template.outputs.model", "ops.select-best.template.outputs.best_model"},
        "failing.yaml": {"ops.extract.template.outputs.data"},
        "test-pipeline.yaml": {"ops.job1.template", "schedule.depends_on_past"},
        "tuning.yaml": {"ops.random.matrix.early_stopping", "ops.evaluate.params.grid_model",
                        "ops.evaluate.params.random_model"},
    }
    names = {path.name for path in EXAMPLES.glob("*.yaml")}
    assert names == accepted | set(refused)
    for name, wheres in refused.items():
        assert wheres <= set(refusals(example_plan(name))), name


def test_the_cron_example_carries_its_schedule():
    documents, _ = export_documents(example_plan("cron.yaml"))
    spec = documents[0]["spec"]
    assert spec["schedules"] == ["30 2 * * 1-5"]
    assert spec["timezone"] == "Europe/Paris"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 3600
    assert spec["when"] == "{{= now() >= date('2025-12-31T23:00:00Z') }}"
    extract = templates_by_name(documents[0])["extract"]
    env = {item["name"]: item["value"] for item in extract["container"]["env"]}
    assert env["POLYFLOW_SCHEDULE_AT"] == "{{workflow.scheduledTime}}"
    assert dag_tasks(documents[0])["extract"]["arguments"]["parameters"] == [
        {"name": "day", "value": "{{workflow.scheduledTime}}"}]


def test_the_quickstart_hands_outputs_on_by_jsonpath():
    documents, _ = export_documents(plain_example_plan("quickstart.yaml"))
    task = dag_tasks(documents[0])["evaluate-slow"]
    arguments = {item["name"]: item["value"] for item in task["arguments"]["parameters"]}
    assert arguments["model"] == ("{{=string(jsonpath(tasks['train-slow'].outputs.parameters['polyflow-outputs'], "
                                  "'$.model'))}}")
    notify = dag_tasks(documents[0])["notify"]
    assert "select-best.Omitted" in notify["depends"]  # upstream_failed fires one_failed
    assert "{{tasks.select-best.status}} == Omitted" in notify["when"]


# -- the spec fixtures and the features one by one

FEATURES = PIPELINE_HEAD + """\
concurrency: 3
timeout: 7200
ops:
  - name: a
    template: {name: t}
    max_retries: 3
    retry_delay: 30
    retry_exp_backoff: true
    max_retry_delay: 600
    timeout: 120
    concurrency: 2
  - name: b
    template: {name: t}
    dependencies: [a]
    trigger: all_failed
  - name: c
    template: {name: t}
    dependencies: [a, b]
    trigger: one_succeeded
    skip_on_upstream_skip: true
  - name: d
    template: {name: t}
    dependencies: [b, c]
    trigger: none_failed
    max_retries: 1
    retry_delay: 90
    max_retry_delay: 60
  - name: e
    template: {name: t}
    dependencies: [c, d]
    trigger: all_done
    skip_on_upstream_skip: true
  - name: f
    template: {name: t}
    dependencies: [d, e]
    trigger: one_done
  - name: g
    template: {name: u}
    dependencies: [f]
    trigger: one_failed
    params:
      n: '{{ ops.a.outputs.score }}'
      where: 's3://bucket/{{ globals.run_uuid }}/{{ ops.b.outputs.path }}'
templates:
  - kind: job
    name: t
    inputs:
      - {name: n, type: int, default: 1}
    outputs:
      - {name: score, type: float}
      - {name: path, type: s3_path}
    container: {image: 'python:3.11', command: [python, -c, pass]}
  - kind: job
    name: u
    inputs:
      - {name: n, type: float}
      - {name: where, type: str}
    container:
      image: 'python:3.11'
      command: [sh, -c, 'echo {{ params.where | shell_quote }} {{ params.n }} {{ globals.attempt }}']
      env: [{name: MODE, value: fast}]
      working_dir: /work
    environment:
      node_selector: {pool: gpu}
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [a]}]}]
      tolerations: [{key: gpu, operator: Exists, effect: NoExecute, toleration_seconds: 30}]
      service_account: trainer
      image_pull_secrets: [registry]
      secret_refs: [s3]
      config_map_refs: [settings]
      resources: {cpu: {requests: '1', limits: '2'}, memory: {limits: 1Gi}, gpu: {limits: 1}}
      labels: {team: ml}
      annotations: {note: hello}
"""


def test_every_feature_exports_valid_and_as_planned():
    plan = plan_of(FEATURES)
    documents, result = export_documents(plan, namespace="ml")
    assert "\x01" not in result.text  # every marker of the pod builder's input replaced
    assert [doc["kind"] for doc in documents] == ["Workflow", "ConfigMap"]
    assert_valid(documents)
    assert_matches_plan(plan, documents)
    templates = templates_by_name(documents[0])
    a, g = templates["a"], templates["g"]
    assert a["retryStrategy"]["backoff"] == {"duration": "30s", "factor": 2, "cap": "600s"}
    assert a["synchronization"] == {"semaphores": [{"configMapKeyRef": {"name": "p-polyflow-limits", "key": "a"}}]}
    assert documents[0]["metadata"]["namespace"] == documents[1]["metadata"]["namespace"] == "ml"
    container = g["container"]
    assert container["envFrom"] == [{"secretRef": {"name": "s3"}}, {"configMapRef": {"name": "settings"}}]
    assert container["resources"] == {"requests": {"cpu": "1"}, "limits": {"cpu": "2", "memory": "1Gi",
                                                                            "nvidia.com/gpu": "1"}}
    assert container["workingDir"] == "/work"
    assert g["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]
    assert g["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert g["serviceAccountName"] == "trainer" and g["nodeSelector"] == {"pool": "gpu"}
    assert g["podSpecPatch"] == '{"imagePullSecrets": [{"name": "registry"}]}'
    assert g["metadata"]["labels"]["team"] == "ml" and g["metadata"]["annotations"] == {"note": "hello"}
    # shell_quote'd in the script, escaped for Kubernetes' $(VAR) expansion; a float as it is.
    script = container["command"][2]
    assert script.startswith("echo '{{=sprig.replace('$', '$$', sprig.replace(")
    assert " {{inputs.parameters.n}} 1" in script  # no retries: attempt 1
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["MODE"] == "fast"
    assert env["POLYFLOW_PARAM_WHERE"] == "{{=sprig.replace('$', '$$', inputs.parameters['where'])}}"
    raw = g["inputs"]["artifacts"][0]["raw"]["data"]
    assert raw == '{"n": {{inputs.parameters.n}}, "where": {{=toJson(inputs.parameters[\'where\'])}}}'
    arguments = {item["name"]: item["value"] for item in dag_tasks(documents[0])["g"]["arguments"]["parameters"]}
    assert arguments["where"].startswith("s3://bucket/{{workflow.uid}}/{{=string(jsonpath(tasks['b']")
    attempt = {item["name"]: item["value"] for item in templates["d"]["container"]["env"]}["POLYFLOW_ATTEMPT"]
    assert attempt == "{{=asInt(retries) + 1}}"


SPEC_FIXTURES = {
    "support template": PIPELINE_HEAD + "ops:\n  - {name: x, template: {name: t}, params: {n: 4}}\n"
                        "  - {name: y, template: {name: t}, dependencies: [x]}\n" + TEMPLATE,
    "grid": PIPELINE_HEAD + """\
ops:
  - name: tune
    template: {name: train}
    matrix:
      kind: grid
      params:
        lr: {kind: choice, value: [0.1, 0.01]}
        depth: {kind: range, value: [2, 6, 2]}
  - {name: after, template: {name: sink}, dependencies: [tune]}
""" + MATRIX_TEMPLATES,
    "random with a seed": PIPELINE_HEAD + """\
ops:
  - name: tune
    template: {name: train}
    matrix: {kind: random, num_runs: 4, seed: 3, params: {lr: {kind: uniform, value: [0.01, 0.1]}}}
""" + MATRIX_TEMPLATES,
    "literal mapping": PIPELINE_HEAD + """\
ops:
  - name: each
    template: {name: process}
    matrix: {kind: mapping, values: [{shard: a}, {shard: b, bucket: c}]}
""" + MATRIX_TEMPLATES,
    "mapping from an output": PIPELINE_HEAD + """\
ops:
  - {name: list, template: {name: lister}}
  - name: each
    template: {name: process}
    params: {bucket: data}
    matrix: {kind: mapping, values: '{{ ops.list.outputs.parts }}'}
""" + MATRIX_TEMPLATES,
    "interval on the clock": PIPELINE_HEAD + """\
schedule: {kind: interval, frequency: 900, start_at: '2026-01-01T00:15:00+00:00', max_runs: 10,
           end_at: '2027-01-01T00:00:00+00:00'}
ops:
  - {name: x, template: {name: t}}
""" + TEMPLATE,
    "exact time": PIPELINE_HEAD + """\
schedule: {kind: exact_time, start_at: '2026-03-01T08:30:00+00:00'}
ops:
  - {name: x, template: {name: t}}
""" + TEMPLATE,
}


@pytest.mark.parametrize("name", SPEC_FIXTURES)
def test_spec_fixtures_export_valid_and_as_planned(name):
    plan = plan_of(SPEC_FIXTURES[name])
    documents, _ = export_documents(plan)
    assert_valid(documents)
    assert_matches_plan(plan, documents)


def test_a_grid_is_with_items_of_its_product():
    documents, _ = export_documents(plan_of(SPEC_FIXTURES["grid"]))
    task = dag_tasks(documents[0])["tune"]
    assert task["withItems"] == [
        {"polyflow-trial": 0, "lr": 0.1, "depth": 2}, {"polyflow-trial": 1, "lr": 0.1, "depth": 4},
        {"polyflow-trial": 2, "lr": 0.01, "depth": 2}, {"polyflow-trial": 3, "lr": 0.01, "depth": 4}]
    arguments = {item["name"]: item["value"] for item in task["arguments"]["parameters"]}
    assert arguments["lr"] == "{{item.lr}}" and arguments["polyflow-trial"] == "{{item.polyflow-trial}}"
    assert dag_tasks(documents[0])["after"]["depends"] == "tune.AnySucceeded"  # a search: one trial is enough


def test_a_seeded_random_search_has_the_scheduler_s_trials():
    from polyflow.matrix.expansion import expand

    plan = plan_of(SPEC_FIXTURES["random with a seed"])
    documents, _ = export_documents(plan)
    items = dag_tasks(documents[0])["tune"]["withItems"]
    assert [{"lr": item["lr"]} for item in items] == expand(plan.op("tune").matrix)


def test_a_mapping_from_an_output_is_with_param():
    documents, _ = export_documents(plan_of(SPEC_FIXTURES["mapping from an output"]))
    task = dag_tasks(documents[0])["each"]
    assert task["withParam"] == ("{{=toJson(jsonpath(tasks['list'].outputs.parameters['polyflow-outputs'], "
                                 "'$.parts'))}}")
    assert {"name": "shard", "value": "{{item.shard}}"} in task["arguments"]["parameters"]


def test_an_interval_on_the_clock_is_a_cron_with_its_bounds():
    documents, result = export_documents(plan_of(SPEC_FIXTURES["interval on the clock"]))
    spec = documents[0]["spec"]
    assert spec["schedules"] == ["*/15 * * * *"]
    assert spec["stopStrategy"] == {"expression": "cronworkflow.succeeded + cronworkflow.failed >= 10"}
    assert spec["when"] == "{{= now() < date('2027-01-01T00:00:00Z') }}"
    assert "schedule.start_at" not in {warning.where for warning in result.warnings}  # its slots are Polyflow's


def test_an_exact_time_is_the_cron_of_its_minute_stopped_after_one_run():
    documents, result = export_documents(plan_of(SPEC_FIXTURES["exact time"]))
    spec = documents[0]["spec"]
    assert spec["schedules"] == ["30 8 1 3 *"]
    assert spec["stopStrategy"] == {"expression": "cronworkflow.succeeded + cronworkflow.failed >= 1"}
    assert "schedule" in {warning.where for warning in result.warnings}


# -- refusals, each named where it is

def _one_op(extra: str = "", template: str = TEMPLATE, head: str = "") -> str:
    return PIPELINE_HEAD + head + "ops:\n  - name: x\n    template: {name: t}\n" + textwrap.indent(extra, "    ") \
        + template


@pytest.mark.parametrize(("text", "where"), [
    (_one_op(head="schedule: {kind: interval, frequency: 90}\n"), "schedule.frequency"),
    (_one_op(head="schedule: {kind: repeatable, limit: 3}\n"), "schedule.kind"),
    (_one_op(head="schedule: {kind: cron, cron: '0 * * * *', catchup: true}\n"), "schedule.catchup"),
    (_one_op(head="schedule: {kind: cron, cron: '0 * * * *', depends_on_past: true}\n"),
     "schedule.depends_on_past"),
    (_one_op("depends_on_past: true\n"), "ops.x.depends_on_past"),
    (_one_op(template=TEMPLATE.replace("container: {image: 'python:3.11', command: [python, -c, pass]}",
                                       "build: {dockerfile: Dockerfile}")), "ops.x.template"),
])
def test_what_argo_cannot_carry_is_refused_where_it_is(text, where):
    assert where in refusals(plan_of(text))


def test_refusals_are_all_listed_at_once():
    text = _one_op("depends_on_past: true\n", head="schedule: {kind: interval, frequency: 90}\n")
    assert {"ops.x.depends_on_past", "schedule.frequency"} <= set(refusals(plan_of(text)))


def test_early_stopping_and_best_trials_are_refused():
    text = PIPELINE_HEAD + """\
ops:
  - name: tune
    template: {name: train}
    matrix:
      kind: grid
      params: {lr: {kind: choice, value: [0.1, 0.2]}}
      metric: {name: accuracy}
      early_stopping: [{kind: failure_early_stopping, percent: 50}]
  - {name: use, template: {name: sink}, params: {f: '{{ ops.tune.best.outputs.accuracy }}'}}
  - {name: all, template: {name: sink}, params: {fs: '{{ ops.tune.outputs.accuracy }}'}}
""" + MATRIX_TEMPLATES
    problems = refusals(plan_of(text))
    assert {"ops.tune.matrix.early_stopping", "ops.use.params.f", "ops.all.params.fs"} <= set(problems)


def test_an_unresolved_action_is_refused():
    text = PIPELINE_HEAD + "ops:\n  - {name: x, template: {action: elsewhere}}\n"
    assert "ops.x.template" in refusals(plan_of(text))


def test_an_unknown_option_is_an_error():
    with pytest.raises(ValueError, match="unknown option of the argo export: executor"):
        export_documents(plan_of(SPEC_FIXTURES["support template"]), executor="local")


# -- warnings, each named where it is

@pytest.mark.parametrize(("text", "where"), [
    (_one_op(head="schedule: {kind: interval, frequency: 120, start_at: '2019-06-24T21:20:07+00:00'}\n"),
     "schedule.start_at"),
    (_one_op(head="schedule: {kind: cron, cron: '0 * * * *', max_active_runs: 3}\n"), "schedule.max_active_runs"),
    (_one_op(head="schedule: {kind: cron, cron: '0 * * * *'}\n"), "schedule.max_active_runs"),
    (_one_op(head="schedule: {kind: cron, cron: '0 * * * *'}\n"), "schedule.catchup"),
    (_one_op(head="schedule: {kind: cron, cron: '0 * * * *', end_at: '2030-01-01T00:00:00'}\n"), "schedule.end_at"),
    (_one_op(head="schedule: {kind: exact_time, start_at: '2030-01-01T00:00:30+00:00'}\n"), "schedule.start_at"),
    (_one_op(head="events: [{name: data-arrived}]\n") + "---\nversion: 1\nkind: event\nname: data-arrived\n",
     "events"),
    (PIPELINE_HEAD + "ops:\n  - {name: x, template: {name: t}}\n  - {name: y, template: {name: t}, "
                     "dependencies: [x], trigger: one_done}\n" + TEMPLATE, "ops.y.trigger"),
    (PIPELINE_HEAD + "ops:\n  - {name: x, template: {name: t}, params: {n: '{{ globals.attempt }}'}}\n" + TEMPLATE,
     "ops.x.params.n"),
])
def test_what_argo_carries_approximately_is_warned_where_it_is(text, where):
    assert where in warnings_of(plan_of(text))


@pytest.mark.parametrize(("matrix", "where"), [
    ("{kind: random, num_runs: 2, params: {lr: {kind: uniform, value: [0.1, 0.2]}}}", "ops.tune.matrix.seed"),
    ("{kind: grid, concurrency: 2, params: {lr: {kind: choice, value: [0.1]}}}", "ops.tune.matrix.concurrency"),
    ("{kind: grid, metric: {name: accuracy}, params: {lr: {kind: choice, value: [0.1]}}}", "ops.tune.matrix.metric"),
    ("{kind: grid, params: {lr: {kind: choice, value: [0.1]}}}", "ops.tune.matrix"),
])
def test_matrix_approximations_are_warned(matrix, where):
    text = PIPELINE_HEAD + f"ops:\n  - name: tune\n    template: {{name: train}}\n    matrix: {matrix}\n" \
        + MATRIX_TEMPLATES
    assert where in warnings_of(plan_of(text))


def test_a_mapping_from_an_output_warns_what_its_items_give():
    assert "ops.each.matrix.values" in warnings_of(plan_of(SPEC_FIXTURES["mapping from an output"]))


def test_a_skip_rule_over_a_search_s_failure_is_refused():
    text = PIPELINE_HEAD + """\
ops:
  - name: tune
    template: {name: train}
    matrix: {kind: grid, params: {lr: {kind: choice, value: [0.1, 0.2]}}}
  - {name: alert, template: {name: sink}, dependencies: [tune], trigger: one_failed}
""" + MATRIX_TEMPLATES
    assert "search matrix op 'tune'" in refusals(plan_of(text))["ops"]


def test_items_from_the_outputs_of_a_matrix_op_are_refused():
    text = PIPELINE_HEAD + """\
ops:
  - name: tune
    template: {name: train}
    matrix: {kind: grid, params: {lr: {kind: choice, value: [0.1, 0.2]}}}
  - name: each
    template: {name: process}
    matrix: {kind: mapping, values: '{{ ops.tune.outputs.info }}'}
""" + MATRIX_TEMPLATES
    assert "ops.each.matrix.values" in refusals(plan_of(text))


def test_an_empty_list_of_items_is_refused():
    text = PIPELINE_HEAD + """\
ops:
  - {name: each, template: {name: process}, matrix: {kind: mapping, values: []}}
""" + MATRIX_TEMPLATES
    assert "ops.each.matrix.values" in refusals(plan_of(text))


def test_what_the_pod_builder_refuses_is_refused_where_it_is():
    text = _one_op(template=TEMPLATE.replace("container:", "environment: {resources: {gpu: {limits: '0.5'}}}\n"
                                                           "    container:"))
    assert "not a whole number of GPUs" in refusals(plan_of(text))["ops.x.template"]


def test_the_trial_of_an_item_from_an_output_is_warned_empty():
    text = SPEC_FIXTURES["mapping from an output"].replace("params: {bucket: data}",
                                                           "params: {bucket: 'trial-{{ globals.trial }}'}")
    assert "carry no index" in warnings_of(plan_of(text))["ops.each.params.bucket"]


def test_a_failure_handled_downstream_is_warned_to_leave_the_workflow_succeeded():
    warned = warnings_of(plain_example_plan("quickstart.yaml"))["ops.notify.trigger"]
    assert "leaves the Workflow Succeeded, where the Polyflow run is failed" in warned
    documents, _ = export_documents(plain_example_plan("quickstart.yaml"))
    entry = templates_by_name(documents[0])[workflow_spec(documents[0])["entrypoint"]]
    assert entry["dag"]["failFast"] is False  # the other branches go on, as in a Polyflow run


def test_name_tags_and_description_are_carried():
    plan = plan_of(PIPELINE_HEAD + "description: d\ntags: [a, b]\nops:\n  - {name: x, template: {name: t}}\n"
                   + TEMPLATE)
    documents, _ = export_documents(plan, name="other")
    metadata = documents[0]["metadata"]
    assert metadata["generateName"] == "other-"
    assert metadata["annotations"] == {"polyflow.dev/description": "d", "polyflow.dev/tags": "a, b"}


def test_a_cron_workflow_name_longer_than_argo_allows_is_refused():
    name = "n" * 53
    text = _one_op(head="schedule: {kind: cron, cron: '0 * * * *'}\n").replace("name: p\n", f"name: {name}\n", 1)
    assert "at most 52 characters" in refusals(plan_of(text))["name"]
    documents, _ = export_documents(plan_of(text), name="short")
    assert documents[0]["metadata"]["name"] == "short"


def test_every_item_of_a_literal_mapping_gives_every_input():
    documents, _ = export_documents(plan_of(SPEC_FIXTURES["literal mapping"]))
    assert dag_tasks(documents[0])["each"]["withItems"] == [
        {"polyflow-trial": 0, "shard": "a", "bucket": "b"},  # the op's param (the input's default)
        {"polyflow-trial": 1, "shard": "b", "bucket": "c"}]


def test_an_item_that_lacks_an_optional_input_is_warned_empty():
    text = PIPELINE_HEAD + """\
ops:
  - {name: each, template: {name: sink}, matrix: {kind: mapping, values: [{s: a}, {f: 1.5}]}}
""" + MATRIX_TEMPLATES
    plan = plan_of(text)
    assert "Argo passes it empty" in warnings_of(plan)["ops.each.matrix.values[0]"]
    documents, _ = export_documents(plan)
    assert dag_tasks(documents[0])["each"]["withItems"] == [{"polyflow-trial": 0, "s": "a", "f": ""},
                                                            {"polyflow-trial": 1, "s": "", "f": 1.5}]


# -- the spec tests' own pipelines (module-level fixtures), with the actions they leave to a registry

def _action(name: str, inputs: str = "", version: str = "") -> str:
    return (f"---\nkind: action\nname: {name}\n{version}"
            f"template: {{kind: job, name: {name}, {inputs}container: {{image: 'i:1'}}}}\n")


def _spec_module_fixtures() -> dict[str, str]:
    from ..spec import test_cli_validate, test_plan

    trainer = _action("trainer")
    return {
        "test_plan.RICH": test_plan.RICH + _action("somewhere-else", "inputs: [{name: x, type: list}], ")
        + "---\nversion: 1\nkind: event\nname: data-arrived\n",
        "test_plan.USE_LATEST": test_plan.USE_LATEST + trainer,
        "test_plan.USE_V1": test_plan.USE_V1 + _action("trainer", version="version: 1\n"),
        "test_plan.MATRIX": test_plan.MATRIX,
        "test_cli_validate.MATRIX": test_cli_validate.MATRIX,
    }


EXPECTED_SPEC_MODULE_REFUSALS = {
    "test_plan.RICH": {"ops.c.template", "ops.c.depends_on_past", "schedule.catchup"},
    "test_plan.MATRIX": {"ops.g.matrix.early_stopping", "ops.down.params.n"},
}


@pytest.mark.parametrize("name", ["test_plan.RICH", "test_plan.USE_LATEST", "test_plan.USE_V1", "test_plan.MATRIX",
                                  "test_cli_validate.MATRIX"])
def test_the_spec_tests_pipelines_export_or_are_refused_with_reasons(name):
    plan = plan_of(_spec_module_fixtures()[name])
    if name in EXPECTED_SPEC_MODULE_REFUSALS:
        assert EXPECTED_SPEC_MODULE_REFUSALS[name] <= set(refusals(plan))
        return
    documents, _ = export_documents(plan)
    assert_valid(documents)
    assert_matches_plan(plan, documents)


def test_expressions_inside_a_dict_param_are_filled_in_its_json():
    text = PIPELINE_HEAD + """\
ops:
  - {name: up, template: {name: t}}
  - name: x
    template: {name: d}
    params: {cfg: {run: 'run-{{ globals.run_uuid }}', score: '{{ ops.up.outputs.score }}'}}
templates:
  - kind: job
    name: d
    inputs: [{name: cfg, type: dict}]
    container: {image: 'python:3.11'}
""" + TEMPLATE.replace("templates:\n", "")
    plan = plan_of(text)
    documents, _ = export_documents(plan)
    (argument,) = dag_tasks(documents[0])["x"]["arguments"]["parameters"]
    # The float keeps its type in the JSON, as in Polyflow; a reference inside a longer string is text.
    assert argument["value"] == ('{"run": "run-{{workflow.uid}}", "score": {{=toJson(jsonpath(tasks[\'up\']'
                                 '.outputs.parameters[\'polyflow-outputs\'], \'$.score\'))}}}')
    assert_valid(documents)
    assert_matches_plan(plan, documents)


# -- an interval's cron has the interval's slots (the scheduler's own slot arithmetic on both)

@pytest.mark.parametrize(("frequency", "start_at"), [
    (60, "2026-01-01T00:00:00+00:00"), (900, "2026-01-01T00:05:00+00:00"), (1200, "2026-03-29T00:40:00+00:00"),
    (3600, "2026-01-01T03:30:00+00:00"), (21600, "2026-01-01T03:30:00+00:00"), (7200, "2026-10-25T01:10:00+02:00"),
    (86400, "2026-01-01T07:45:00+00:00"), (604800, "2026-01-07T09:00:00+00:00"),
])
def test_an_interval_s_cron_has_the_interval_s_slots(frequency, start_at):
    import datetime as dt

    from polyflow.export.argo_schedule import interval_cron
    from polyflow.scheduler.schedules import slots_between
    from polyflow.spec.plan import ScheduleSpec

    anchor = dt.datetime.fromisoformat(start_at)
    cron, aligned = interval_cron(frequency, anchor)
    assert aligned
    interval = ScheduleSpec(kind="interval", start_at=anchor, frequency=frequency)
    as_cron = ScheduleSpec(kind="cron", start_at=anchor, cron=cron, timezone="UTC")
    end = anchor + dt.timedelta(seconds=frequency * 30)
    expected = slots_between(interval, anchor, anchor, end, most=100)
    got = slots_between(as_cron, anchor, anchor, end, most=100)
    assert expected.count >= 29 and len(expected.oldest) == expected.count
    assert got == expected, cron


def test_an_interval_off_the_minute_is_warned_and_one_no_cron_can_say_refused():
    from polyflow.export.argo_schedule import interval_cron

    assert interval_cron(120, None) == ("*/2 * * * *", False)
    assert interval_cron(90, None) == (None, False)
    assert interval_cron(5400, None) == (None, False)
