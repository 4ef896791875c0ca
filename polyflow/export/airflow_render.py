"""A `DagDescription` written out as an Airflow DAG file's Python source (pure).

One file imports on Airflow 2.10 and 3.x: each import tries Airflow 3's module
first (the Task SDK, the standard provider), then Airflow 2's; the one
difference of meaning, the exponential backoff (a flag on 2, a multiplier on
3), is decided by the file from the Airflow it is loaded in, unless
`airflow_version` pins it.
"""

from __future__ import annotations

import datetime as dt
import inspect
import pprint
from pathlib import Path

from ..backends import container
from ..spec import references
from . import airflow_runtime
from .airflow_dag import DagDescription, TaskDescription

# The Polyflow functions airflow_runtime uses, pasted with it (their own source, not a copy kept here).
PASTED = (container._KUBE_REFERENCE, container.kube_expand, container.kube_literal, container.jsonable,
          container.as_text, container.as_received, references._as_text, references._plain)
_BEGIN, _END = "# polyflow-functions-begin", "# polyflow-functions-end"

IMPORTS = '''\
from __future__ import annotations

import airflow

try:  # Airflow 3: the Task SDK
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:
    from airflow.exceptions import AirflowSkipException
'''

TIMETABLE_IMPORTS = '''\
try:
    from airflow.sdk import CronTriggerTimetable, DeltaTriggerTimetable
except ImportError:
    from airflow.timetables.trigger import CronTriggerTimetable
    try:
        from airflow.timetables.trigger import DeltaTriggerTimetable
    except ImportError:  # Airflow 2.10: a slot's run starts one interval after it (see the export's warning)
        from airflow.timetables.interval import DeltaDataIntervalTimetable as DeltaTriggerTimetable
'''

LOCAL_TASK = '''\
try:
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:
    from airflow.operators.bash import BashOperator


class PolyflowLocalTask(BashOperator):
    """An op run as Polyflow's local backend runs it: its command in an attempt directory of its own,
    with the params' environment, $POLYFLOW_PARAMS_FILE and $POLYFLOW_OUTPUTS_FILE."""

    template_fields = ()  # the command is Polyflow's, prepared at export: Airflow's Jinja must not read it

    def __init__(self, *, polyflow_op, polyflow_trial=None, **kwargs):
        # exit code 99 is a failure in Polyflow, not a skip
        super().__init__(bash_command="true", skip_on_exit_code=None, append_env=True, **kwargs)
        self.polyflow_op = polyflow_op
        self.polyflow_trial = polyflow_trial

    def execute(self, context):
        op_spec = OPS[self.polyflow_op]
        check_upstream_skips(self, context)
        globals_ = run_globals(context, self.polyflow_op)
        params = values_of(op_spec, xcom_lookup(context, globals_, TASKS, GROUPS), self.polyflow_trial)
        directory = attempt_directory(context, DAG_ID, self.polyflow_op)
        os.makedirs(directory, exist_ok=True)
        local = op_spec["local"]
        params = take_inputs(op_spec, params, fill(local["inputs_dir"], {DIRECTORY: directory}))
        outputs_dir = fill(local["outputs_dir"], {DIRECTORY: directory})
        if os.path.isdir(outputs_dir):
            shutil.rmtree(outputs_dir)  # a retry's path outputs are its own
        os.makedirs(outputs_dir)
        argv, env, cwd = local_process(op_spec, params, globals_, directory)
        os.makedirs(cwd, exist_ok=True)
        with open(fill(op_spec["local"]["params_file"], {DIRECTORY: directory}), "w", encoding="utf-8") as out:
            out.write(params_json(params))
        outputs_file = fill(op_spec["local"]["outputs_file"], {DIRECTORY: directory})
        if os.path.exists(outputs_file):
            os.remove(outputs_file)  # a retry's outputs are its own
        # A trailing comment: BashOperator reads a command ending in .sh as a script file's name.
        self.bash_command = f"exec {shlex.join(argv)}  # polyflow op {self.polyflow_op}"
        self.env, self.cwd = env, cwd
        super().execute(context)
        outputs = read_outputs(outputs_file)
        # As in Polyflow, a path output's value is set by it (what the op wrote for it is replaced).
        outputs.update(written_outputs(op_spec, outputs_dir))
        return push_outputs(self, context, outputs)
'''

POD_TASK = '''\
try:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
except ImportError:
    from airflow.providers.cncf.kubernetes.operators.kubernetes_pod import KubernetesPodOperator


class PolyflowPodTask(KubernetesPodOperator):
    """An op run in the pod Polyflow's Kubernetes backend would create (backends/manifests.py),
    its outputs written to KubernetesPodOperator's XCom file."""

    template_fields = ()  # the pod is Polyflow's, prepared at export: Airflow's Jinja must not read it

    def __init__(self, *, polyflow_op, polyflow_trial=None, **kwargs):
        op_spec = OPS[polyflow_op]
        super().__init__(name=op_spec["pod"]["metadata"]["name"], namespace=op_spec["pod"]["metadata"]["namespace"],
                         base_container_name="main", do_xcom_push=bool(op_spec["outputs"]), **kwargs)
        self.polyflow_op = polyflow_op
        self.polyflow_trial = polyflow_trial

    def polyflow_pod(self, context):
        op_spec = OPS[self.polyflow_op]
        globals_ = run_globals(context, self.polyflow_op)
        params = values_of(op_spec, xcom_lookup(context, globals_, TASKS, GROUPS), self.polyflow_trial)
        return pod_of(op_spec, params, globals_)

    def execute(self, context):
        check_upstream_skips(self, context)
        self.pod_template_dict = self.polyflow_pod(context)
        return push_outputs(self, context, super().execute(context) or {})
'''

HELPERS = '''\
def check_upstream_skips(task, context):
    """skip_on_upstream_skip: Airflow has no such setting; the task skips itself."""
    if OPS[task.polyflow_op]["skip_on_upstream_skip"]:
        skipped = upstream_skipped(context, sorted(task.upstream_task_ids))
        if skipped:
            raise AirflowSkipException(f"skip_on_upstream_skip: upstream {', '.join(skipped)} skipped")


def push_outputs(task, context, outputs):
    """Each output under its own XCom key. The return value is the output a mapping downstream maps
    over (Airflow maps only over a return value), else all of them."""
    for name, value in outputs.items():
        context["ti"].xcom_push(key=name, value=value)
    feeds = OPS[task.polyflow_op]["feeds"]
    return outputs.get(feeds) if feeds else outputs
'''


def runtime_source() -> str:
    """airflow_runtime's source with the Polyflow functions it imports pasted in their place."""
    source = Path(airflow_runtime.__file__).read_text(encoding="utf-8")
    head, rest = source.split(_BEGIN, 1)
    _, tail = rest.split(_END, 1)
    pasted = []
    for item in PASTED:
        if isinstance(item, type(container._KUBE_REFERENCE)):
            pasted.append(f"_KUBE_REFERENCE = re.compile({item.pattern!r})\n")
        else:
            pasted.append(inspect.getsource(item))
    body = head.split('"""', 2)[2]  # without the module's docstring: the file has its own
    body = body.replace("from __future__ import annotations\n", "")
    return body + "\n\n".join(pasted) + tail


def backoff_value(airflow_version: str | None) -> str:
    if airflow_version is None:
        return "2.0 if AIRFLOW_3 else True"
    return "2.0" if int(airflow_version.split(".")[0]) >= 3 else "True"


def _seconds(value: int | None) -> str:
    return "None" if value is None else f"dt.timedelta(seconds={value})"


def _datetime(value: dt.datetime | None) -> str:
    if value is None:
        return "None"
    return f"dt.datetime.fromisoformat({value.isoformat()!r})"


def schedule_source(description: DagDescription) -> tuple[str, str, str]:
    """The DAG's `schedule`, `start_date` and `end_date` arguments."""
    schedule = description.schedule
    if schedule.kind is None:
        return "None", _datetime(dt.datetime(2024, 1, 1, tzinfo=dt.UTC)), "None"
    if schedule.kind == "once":
        return '"@once"', _datetime(schedule.start), "None"
    if schedule.kind == "delta":
        value = f"DeltaTriggerTimetable(dt.timedelta(seconds={schedule.seconds}))"
    else:
        value = f"CronTriggerTimetable({schedule.cron!r}, timezone={schedule.timezone!r})"
    return value, _datetime(schedule.start), _datetime(schedule.end)


def task_source(task: TaskDescription, operator: str) -> str:
    arguments = [
        f"task_id={task.task_id!r}",
        f"trigger_rule={task.trigger_rule!r}",
        f"retries={task.retries}",
        f"retry_delay={_seconds(task.retry_delay)}",
        f"max_retry_delay={_seconds(task.max_retry_delay)}",
        f"execution_timeout={_seconds(task.execution_timeout)}",
        f"depends_on_past={task.depends_on_past}",
    ]
    if task.exponential_backoff:
        arguments.append("retry_exponential_backoff=EXPONENTIAL_BACKOFF")
    if task.max_active_tis_per_dag is not None:
        arguments.append(f"max_active_tis_per_dag={task.max_active_tis_per_dag}")
    if task.max_active_tis_per_dagrun is not None:
        arguments.append(f"max_active_tis_per_dagrun={task.max_active_tis_per_dagrun}")
    arguments.append(f"polyflow_op={task.task_id!r}")
    joined = ",\n        ".join(arguments)
    if task.expand_items is not None:
        trials = pprint.pformat(list(task.expand_items), width=100)
        return (f"    tasks[{task.task_id!r}] = {operator}.partial(\n        {joined},\n"
                f"    ).expand(polyflow_trial={trials})\n")
    if task.expand_from is not None:
        upstream, _ = task.expand_from  # the upstream returns that output (see push_outputs)
        return (f"    tasks[{task.task_id!r}] = {operator}.partial(\n        {joined},\n"
                f"    ).expand(polyflow_trial=tasks[{upstream!r}].output)\n")
    return f"    tasks[{task.task_id!r}] = {operator}(\n        {joined},\n    )\n"


def render(description: DagDescription, *, airflow_version: str | None = None, header: str = "") -> str:
    local = description.executor == "local"
    operator = "PolyflowLocalTask" if local else "PolyflowPodTask"
    feeds = {task.expand_from[0]: task.expand_from[1] for task in description.tasks if task.expand_from}
    ops = {task.task_id: {**task.spec, "skip_on_upstream_skip": task.skip_on_upstream_skip,
                          "feeds": feeds.get(task.task_id)}
           for task in description.tasks}
    schedule, start, end = schedule_source(description)
    dag_arguments = [
        f"dag_id={description.dag_id!r}",
        f"description={description.description!r}",
        f"tags={list(description.tags)!r}",
        f"schedule={schedule}",
        f"start_date={start}",
        f"end_date={end}",
        f"catchup={description.catchup}",
        f"dagrun_timeout={_seconds(description.dagrun_timeout)}",
    ]
    if description.max_active_runs is not None:
        dag_arguments.append(f"max_active_runs={description.max_active_runs}")
    if description.max_active_tasks is not None:
        dag_arguments.append(f"max_active_tasks={description.max_active_tasks}")
    # Downstream tasks of a mapping over an upstream's output must come after it: plan order is topological.
    tasks = "".join(task_source(task, operator) for task in description.tasks)
    edges = "".join(f"    tasks[{upstream!r}] >> tasks[{task.task_id!r}]\n"
                    for task in description.tasks for upstream in task.upstream)
    parts = [
        f'"""{header or "An Airflow DAG exported by Polyflow."}\n\nExported by `polyflow export airflow`: '
        f'export the pipeline again rather than editing this file."""\n',
        IMPORTS,
        TIMETABLE_IMPORTS if description.schedule.kind in ("delta", "cron") else "",
        "\n" + runtime_source().strip("\n") + "\n",
        "\n\nAIRFLOW_3 = int(airflow.__version__.split('.')[0]) >= 3\n",
        "# Airflow 3 takes the backoff's multiplier (2: the delay doubles), Airflow 2 a flag (it doubles).\n",
        f"EXPONENTIAL_BACKOFF = {backoff_value(airflow_version)}\n",
        f"DAG_ID = {description.dag_id!r}\n",
        f"TASKS = {pprint.pformat({task.task_id: task.task_id for task in description.tasks}, width=110)}\n",
        f"GROUPS = frozenset({sorted(description.groups)!r})\n",
        f"OPS = {pprint.pformat(ops, width=110, sort_dicts=False)}\n\n\n",
        HELPERS,
        "\n\n",
        LOCAL_TASK if local else POD_TASK,
        "\n\nwith DAG(\n    " + ",\n    ".join(dag_arguments) + ",\n) as dag:\n",
        "    tasks = {}\n",
        tasks,
        edges,
    ]
    return "".join(parts)
