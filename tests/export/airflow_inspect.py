"""Run with the Airflow venv's python (not Polyflow's): load DAG files in a real Airflow, print them as JSON.

    python airflow_inspect.py DAG_FOLDER OUT.json [PODS.json]

Writes to OUT.json (Airflow logs on stdout) {"import_errors": {file: error}, "dags": {dag_id: {...}},
"pods": {...}}: per DAG its schedule, dates, catchup, max_active_runs, max_active_tasks, dagrun_timeout and per task its
operator, upstream tasks, trigger rule, retries, retry delays, exponential backoff,
max_retry_delay, execution_timeout, depends_on_past, concurrency and whether it is mapped.

With PODS.json ({dag_id: {task_id: {"run_id", "try_number", "xcom": {task: {key: value}}}}}), the pod
each named KubernetesPodOperator task would submit for that context, as KubernetesPodOperator
builds it (`build_pod_request_obj`), in Kubernetes' JSON. No cluster is reached: a kubeconfig
naming an unreachable server only lets the operator's hook make its client.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: 'https://127.0.0.1:9'}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


def seconds(value):
    return None if value is None else value.total_seconds()


def schedule_of(dag) -> dict:
    """The timetable's class and its cron, time zone or delta (Airflow 3's SDK names, else Airflow 2's)."""
    timetable = dag.timetable
    found = {"timetable": type(timetable).__name__}
    cron = getattr(timetable, "expression", None) or getattr(timetable, "_expression", None)
    if cron is not None:
        found["cron"] = cron
        zone = getattr(timetable, "timezone", None) or getattr(timetable, "_timezone", None)
        found["timezone"] = getattr(zone, "name", str(zone))
    delta = getattr(timetable, "delta", None) or getattr(timetable, "_delta", None)
    if delta is not None:
        found["delta"] = delta.total_seconds()
    return found


def task_of(task) -> dict:
    backoff = task.retry_exponential_backoff
    mapped = type(task).__name__ == "MappedOperator"
    operator = task.operator_class if mapped else type(task)
    return {
        "operator": getattr(operator, "__name__", str(operator)),
        "mapped": mapped,
        "upstream": sorted(task.upstream_task_ids),
        "trigger_rule": str(getattr(task.trigger_rule, "value", task.trigger_rule)),
        "retries": task.retries,
        "retry_delay": seconds(task.retry_delay),
        "retry_exponential_backoff": float(backoff) if not isinstance(backoff, bool) else (2.0 if backoff else 0.0),
        "max_retry_delay": seconds(task.max_retry_delay),
        "execution_timeout": seconds(task.execution_timeout),
        "depends_on_past": task.depends_on_past,
        "max_active_tis_per_dag": task.max_active_tis_per_dag,
        "max_active_tis_per_dagrun": getattr(task, "max_active_tis_per_dagrun", None),
    }


def dag_of(dag) -> dict:
    return {
        "schedule": schedule_of(dag),
        "start_date": dag.start_date.isoformat() if dag.start_date else None,
        "end_date": dag.end_date.isoformat() if dag.end_date else None,
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "max_active_tasks": dag.max_active_tasks,
        "dagrun_timeout": seconds(dag.dagrun_timeout),
        "description": dag.description,
        "tags": sorted(dag.tags),
        "tasks": {task.task_id: task_of(task) for task in dag.tasks},
    }


class FakeTaskInstance:
    """What a pod task reads of its task instance before submitting: its try, map index and XCom."""

    def __init__(self, dag_id, task_id, try_number, xcom):
        self.dag_id, self.task_id, self.try_number, self.map_index = dag_id, task_id, try_number, -1
        self._xcom = xcom

    def xcom_pull(self, task_ids, key="return_value", **_):
        return self._xcom.get(task_ids, {}).get(key)  # each output under its own key, as the DAG pushes them


def pod_of(dag, task_id, given) -> dict:
    from kubernetes.client import ApiClient

    task = dag.get_task(task_id)
    context = {"ti": FakeTaskInstance(dag.dag_id, task_id, given["try_number"], given["xcom"]),
               "run_id": given["run_id"], "logical_date": None, "dag": dag, "task": task}
    task.pod_template_dict = task.polyflow_pod(context)
    pod = task.build_pod_request_obj(context)
    return ApiClient().sanitize_for_serialization(pod)


def main() -> None:
    warnings.simplefilter("ignore")
    if len(sys.argv) > 3:  # before the kubernetes client is imported: it reads $KUBECONFIG then
        config = os.path.join(tempfile.mkdtemp(), "kubeconfig")
        with open(config, "w") as stream:
            stream.write(KUBECONFIG)
        os.environ["KUBECONFIG"] = config
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3
    except ImportError:
        from airflow.models import DagBag  # Airflow 2
    bag = DagBag(dag_folder=sys.argv[1])  # AIRFLOW__CORE__LOAD_EXAMPLES=False: no examples
    result = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
              "dags": {dag_id: dag_of(dag) for dag_id, dag in bag.dags.items()}, "pods": {}}
    if len(sys.argv) > 3:
        with open(sys.argv[3]) as stream:
            wanted = json.load(stream)
        for dag_id, tasks in wanted.items():
            dag = bag.dags[dag_id]
            result["pods"][dag_id] = {task_id: pod_of(dag, task_id, given) for task_id, given in tasks.items()}
    with open(sys.argv[2], "w") as out:
        json.dump(result, out, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
