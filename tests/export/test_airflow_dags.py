"""Every pipeline of examples/ and of the spec fixtures that the Airflow export accepts, loaded in a
real Airflow (2.10 and 3.x, each in its own venv) and compared in code with its Polyflow plan; the
pod of a KubernetesPodOperator task compared with the one Polyflow's Kubernetes backend makes."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from polyflow.backends import manifests
from polyflow.backends.base import Submission
from polyflow.export import NotCarried, exporter
from tests.export.airflow_support import ROOT, airflow, plans_of, plans_of_texts  # noqa: F401  (a fixture)
from tests.spec.matrix_support import TEMPLATES

# Polyflow's trigger rules and what Airflow must show for each (DESIGN section 5, Airflow's TriggerRule).
AIRFLOW_RULE = {"all_succeeded": "all_success", "all_failed": "all_failed", "all_done": "all_done",
                "one_succeeded": "one_success", "one_failed": "one_failed", "one_done": "one_done",
                "none_failed": "none_failed"}


def spec_fixture(name: str, body: str, templates: str = TEMPLATES) -> str:
    return f"version: 1\nkind: pipeline\nname: {name}\n" + textwrap.dedent(body) + templates


# Pipelines written like the spec tests' fixtures (tests/spec/matrix_support.py's templates), one
# per group of features the export carries.
SPEC_FIXTURES = {
    "retries-and-timeouts": """\
        concurrency: 3
        timeout: 900
        ops:
          - {name: a, template: {name: lister}, max_retries: 3, retry_delay: 10, retry_exp_backoff: true,
             max_retry_delay: 100, timeout: 30, concurrency: 2}
          - {name: b, template: {name: process}, params: {shard: '{{ ops.a.outputs.count }} rows'},
             max_retries: 1, retry_delay: 0}
        """,
    "every-trigger": "ops:\n  - {name: up1, template: {name: lister}}\n  - {name: up2, template: {name: lister}}\n"
                     + "".join(f"  - {{name: {rule.replace('_', '-')}, template: {{name: lister}}, "
                               f"dependencies: [up1, up2], trigger: {rule}}}\n" for rule in AIRFLOW_RULE)
                     + "  - {name: skips, template: {name: lister}, dependencies: [up1], trigger: all_done,"
                       " skip_on_upstream_skip: true}\n",
    "interval": """\
        schedule: {kind: interval, frequency: 3600, start_at: '2026-01-01T00:00:00+00:00',
                   end_at: '2027-01-01T00:00:00+00:00', catchup: true, max_active_runs: 3, depends_on_past: true}
        ops:
          - {name: a, template: {name: lister}}
          - {name: b, template: {name: lister}, dependencies: [a]}
        """,
    "interval-max-runs": """\
        schedule: {kind: interval, frequency: 600, start_at: '2026-01-01T00:00:00+00:00', max_runs: 5}
        ops:
          - {name: a, template: {name: lister}}
        """,
    "cron-in-a-zone": """\
        schedule: {kind: cron, cron: '0 6 * * 1-5', timezone: America/New_York, start_at: '2026-03-01T00:00:00',
                   end_at: '2026-12-01T00:00:00', max_active_runs: 2}
        ops:
          - {name: a, template: {name: lister}, depends_on_past: true}
        """,
    "exact-time": """\
        schedule: {kind: exact_time, start_at: '2026-06-01T12:00:00+00:00'}
        ops:
          - {name: a, template: {name: lister}}
        """,
    "mapping": """\
        ops:
          - {name: list-shards, template: {name: lister}}
          - name: literal
            template: {name: process}
            matrix: {kind: mapping, concurrency: 2, values: [{shard: a}, {shard: b, bucket: c}]}
          - name: over-output
            template: {name: process}
            matrix: {kind: mapping, values: '{{ ops.list-shards.outputs.parts }}'}
          - {name: sink, template: {name: sink}, params: {l: '{{ ops.over-output.outputs.rows }}'}}
        """,
}


def example_plans():
    plans = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        # test-pipeline uses the action of examples/actions/: given together, as `polyflow validate` is.
        extra = [ROOT / "examples" / "actions" / "deep-wide-model.yaml"] if path.name == "test-pipeline.yaml" else []
        plans.extend(plans_of(path, *extra))
    return plans


def spec_plans():
    return [plan for name, body in SPEC_FIXTURES.items() for plan in plans_of_texts(spec_fixture(name, body))]


# What the export refuses among them (each refusal is tested on its own in test_airflow_export.py).
# The kubernetes executor refuses path artifacts (the quickstart's, failing's, tuning's).
REFUSED = {("tuning", "kubernetes"), ("tuning", "local"), ("test-pipeline", "kubernetes"),
           ("test-pipeline", "local"), ("quickstart", "kubernetes"), ("failing", "kubernetes")}


def exported_folder(tmp_path, executor: str, plans) -> tuple[dict, set]:
    folder = tmp_path / f"dags-{executor}"
    folder.mkdir()
    accepted, refused = {}, set()
    for plan in plans:
        try:
            exported = exporter("airflow")(plan, executor=executor)
        except NotCarried:
            refused.add((plan.name, executor))
            continue
        (folder / exported.filename).write_text(exported.text)
        accepted[plan.name] = plan
    return {"folder": folder, "plans": accepted}, refused


def instant(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


def expected_schedule(plan) -> dict:
    schedule = plan.schedule
    if schedule is None:
        return {"timetable": "NullTimetable"}
    if schedule.kind == "interval":
        return {"timetable": "DeltaTriggerTimetable", "delta": float(schedule.frequency)}
    if schedule.kind == "cron":
        return {"timetable": "CronTriggerTimetable", "cron": schedule.cron, "timezone": schedule.timezone}
    return {"timetable": "OnceTimetable"}


def assert_dag_matches(plan, dag: dict, executor: str, airflow_version: str) -> None:
    schedule = expected_schedule(plan)
    if plan.schedule is not None and plan.schedule.kind == "interval" and airflow_version.startswith("2.10"):
        schedule["timetable"] = "DeltaDataIntervalTimetable"  # 2.10 has no DeltaTriggerTimetable (a warning says so)
    assert dag["schedule"] == schedule
    if plan.schedule is not None:
        if plan.schedule.start_at is not None:
            assert instant(dag["start_date"]) == plan.schedule.start_at
        end = plan.schedule.end_at
        if plan.schedule.max_runs is not None:  # the last slot of max_runs
            end = plan.schedule.start_at + dt.timedelta(seconds=plan.schedule.frequency * (plan.schedule.max_runs - 1))
        assert instant(dag["end_date"]) == end
        assert dag["catchup"] is plan.schedule.catchup
        assert dag["max_active_runs"] == plan.schedule.max_active_runs
    else:
        assert dag["catchup"] is False
    if plan.concurrency is not None:
        assert dag["max_active_tasks"] == plan.concurrency
    assert dag["dagrun_timeout"] == (None if plan.timeout is None else float(plan.timeout))
    assert dag["tags"] == sorted(plan.tags)

    assert set(dag["tasks"]) == {op.name for op in plan.ops}
    for op in plan.ops:
        task = dag["tasks"][op.name]
        where = f"{plan.name}.{op.name}"
        assert task["operator"] == ("PolyflowLocalTask" if executor == "local" else "PolyflowPodTask"), where
        assert task["upstream"] == sorted(op.dependencies), where
        assert task["trigger_rule"] == AIRFLOW_RULE[op.trigger], where
        assert task["retries"] == op.max_retries, where
        assert task["retry_delay"] == op.retry_delay, where
        assert task["retry_exponential_backoff"] == (2.0 if op.retry_exp_backoff else 0.0), where
        assert task["max_retry_delay"] == op.max_retry_delay, where
        assert task["execution_timeout"] == (None if op.timeout is None else float(op.timeout)), where
        assert task["depends_on_past"] is op.depends_on_past, where
        assert task["max_active_tis_per_dag"] == op.concurrency, where
        assert task["mapped"] is (op.matrix is not None), where
        if op.matrix is not None:
            assert task["max_active_tis_per_dagrun"] == op.matrix.concurrency, where


@pytest.mark.parametrize("executor", ["kubernetes", "local"])
def test_every_exported_dag_loads_in_airflow_as_its_plan(airflow, executor, tmp_path):  # noqa: F811
    plans = example_plans() + (spec_plans() if executor == "kubernetes" else [])
    exported, refused = exported_folder(tmp_path, executor, plans)
    assert refused == {item for item in REFUSED if item[1] == executor}
    # Of the examples, cron alone has no path artifact for the kubernetes executor to refuse.
    assert len(exported["plans"]) == (1 + len(SPEC_FIXTURES) if executor == "kubernetes" else 3)
    found = airflow.inspect(exported["folder"])
    assert found["import_errors"] == {}
    assert set(found["dags"]) == set(exported["plans"])
    for name, plan in exported["plans"].items():
        assert_dag_matches(plan, found["dags"][name], executor, airflow.version)


def test_a_pod_task_submits_the_pod_polyflow_makes(airflow, tmp_path):  # noqa: F811
    """KubernetesPodOperator builds its pod from the manifest Polyflow's backend makes, with the
    references read from XCom and the run's id and try in place of Polyflow's."""
    # The quickstart with its artifacts as plain values: the kubernetes executor refuses path artifacts.
    (plan,) = plans_of_texts((ROOT / "examples" / "quickstart.yaml").read_text().replace("type: path", "type: str"))
    exported, _ = exported_folder(tmp_path, "kubernetes", [plan])
    run_id = "manual__2026-05-01T10:00:00+00:00"
    published = {"train": "/data/train.csv", "test": "/data/test.csv"}
    found = airflow.inspect(exported["folder"], pods={"quickstart": {"train-fast": {
        "run_id": run_id, "try_number": 2, "xcom": {"prepare": published}}}})
    pod = found["pods"]["quickstart"]["train-fast"]

    op = plan.op("train-fast")
    params = {**op.params, "data": published["train"]}
    expected = manifests.pod_manifest(Submission(
        key="quickstart-train-fast", pipeline="quickstart", op="train-fast", run_uuid=run_id, attempt=2,
        template=op.template, params=params, globals={"run_uuid": run_id, "schedule_at": None,
                                                      "op_name": "train-fast", "attempt": 2},
        timeout=op.timeout), "default")
    (main,) = [item for item in pod["spec"]["containers"] if item["name"] == "main"]
    (want,) = expected["spec"]["containers"]
    assert main["image"] == want["image"]
    assert main["command"] == want["command"] and main.get("args", []) == want.get("args", [])
    env = {item["name"]: item["value"] for item in want["env"]}
    env["POLYFLOW_OUTPUTS_FILE"] = "/airflow/xcom/return.json"  # back through the operator's XCom sidecar
    assert {item["name"]: item["value"] for item in main["env"]} == env
    assert {key: value for key, value in main.items() if key in ("terminationMessagePath", "workingDir")} == {
        key: value for key, value in want.items() if key in ("terminationMessagePath", "workingDir")}
    assert pod["metadata"]["annotations"] == expected["metadata"]["annotations"]
    labels = {key: value for key, value in expected["metadata"]["labels"].items() if key != manifests.RUN_LABEL}
    assert labels.items() <= pod["metadata"]["labels"].items()
    assert pod["metadata"]["labels"][manifests.RUN_LABEL] == "manual__2026-05-01T10-00-00-00-00"
    assert expected["spec"]["volumes"][0] in pod["spec"]["volumes"]
    assert pod["spec"]["restartPolicy"] == "Never"
