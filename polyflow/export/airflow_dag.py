"""A plan as an Airflow DAG, described in plain data (pure): what the renderer writes out.

`describe(plan, executor)` decides everything: the DAG's arguments (schedule,
catchup, runs and tasks at once, run timeout), one task per op with its
trigger rule, retries, timeout and concurrency, and what the task runs: the
pod Polyflow's Kubernetes backend would create (`backends/manifests.py`) or
the command, environment and files of the local backend, both prepared with
Polyflow's own code and placeholders for the values only a run knows
(`airflow_runtime.py` fills them in inside Airflow). Every feature is either
carried, carried with a `Warning_` saying how it is emulated, or listed as a
problem (the export refuses the plan with all of them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..backends import manifests
from ..backends.base import Submission, SubmitError
from ..backends.container import param_env, render_command
from ..backends.local_runner import INPUTS, OUTPUTS, OUTPUTS_DIR, PARAMS
from ..scheduler.artifacts import artifact_inputs, path_outputs
from ..spec.plan import OpSpec, Plan, ScheduleSpec, thaw

# _EXPRESSION: the spec's own pattern of an expression, so a text splits where Polyflow renders it.
from ..spec.references import _EXPRESSION, env_var_name, parse_expression, references_in, walk_strings
from .airflow_runtime import ATTEMPT, DIRECTORY, RUN_UUID, SCHEDULE_AT, TRIAL, placeholder
from .base import Warning_, judged_by_last_tasks

EXECUTORS = ("kubernetes", "local")
# Where KubernetesPodOperator's sidecar reads a task's XCom from.
AIRFLOW_XCOM_FILE = "/airflow/xcom/return.json"

# Polyflow's trigger rules and Airflow's names for them (DESIGN section 5; Airflow's TriggerRule).
TRIGGER_RULES = {
    "all_succeeded": "all_success",
    "all_failed": "all_failed",
    "all_done": "all_done",
    "one_succeeded": "one_success",
    "one_failed": "one_failed",
    "one_done": "one_done",
    "none_failed": "none_failed",
}
# Where Airflow's rule decides otherwise than Polyflow's, in one case each.
TRIGGER_DIFFERENCES = {
    "one_succeeded": "when every upstream was skipped Airflow skips the task, where Polyflow marks the op "
                     "upstream_failed",
    "one_done": "Airflow counts only succeeded and failed upstreams as done: an op whose upstreams were all "
                "skipped is skipped, where Polyflow runs it (a skipped upstream is final there)",
}


@dataclass(frozen=True)
class ScheduleDescription:
    kind: str | None  # None (triggered only), "cron", "delta" or "once"
    cron: str | None = None
    timezone: str = "UTC"
    seconds: int | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None


@dataclass(frozen=True)
class TaskDescription:
    task_id: str
    upstream: tuple[str, ...]
    trigger_rule: str
    retries: int
    retry_delay: int
    exponential_backoff: bool
    max_retry_delay: int
    execution_timeout: int | None
    depends_on_past: bool
    max_active_tis_per_dag: int | None
    max_active_tis_per_dagrun: int | None
    skip_on_upstream_skip: bool  # emulated in the task: see airflow_runtime.upstream_skipped
    spec: Mapping  # what airflow_runtime reads: params, the pod or the local process
    expand_items: tuple | None = None  # a mapping matrix's literal items
    expand_from: tuple[str, str] | None = None  # (upstream task, output): a mapping over an upstream's output


@dataclass(frozen=True)
class DagDescription:
    dag_id: str
    description: str
    tags: tuple[str, ...]
    executor: str
    schedule: ScheduleDescription
    catchup: bool
    max_active_runs: int | None
    max_active_tasks: int | None
    dagrun_timeout: int | None
    tasks: tuple[TaskDescription, ...]
    groups: frozenset[str] = field(default_factory=frozenset)  # mapped tasks: their outputs are lists


@dataclass
class Findings:
    warnings: list[Warning_] = field(default_factory=list)
    problems: list[Warning_] = field(default_factory=list)

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(Warning_(where, message))

    def refuse(self, where: str, message: str) -> None:
        self.problems.append(Warning_(where, message))


def describe(plan: Plan, executor: str = "kubernetes", *, now: dt.datetime | None = None,
             namespace: str = "default") -> tuple[DagDescription, Findings]:
    """The DAG for `plan`, and what could be carried only approximately or not at all."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    findings = Findings()
    schedule = describe_schedule(plan.schedule, findings, now or dt.datetime.now(dt.UTC))
    groups = frozenset(op.name for op in plan.ops if op.matrix is not None)
    tasks = tuple(describe_task(plan, plan.op(name), executor, groups, findings, namespace)
                  for name in plan.order)
    feeding: dict[str, set] = {}
    for task in tasks:
        if task.expand_from is not None:
            feeding.setdefault(task.expand_from[0], set()).add(task.expand_from[1])
    for upstream, outputs in feeding.items():
        if len(outputs) > 1:
            findings.refuse(f"ops.{upstream}.outputs", f"mappings over several of its outputs "
                                                       f"({', '.join(sorted(outputs))}): Airflow maps only over a "
                                                       f"task's one return value")
    held = [op.name for op in plan.ops if op.depends_on_past]
    if held:
        where = "schedule.depends_on_past" if plan.schedule is not None and plan.schedule.depends_on_past \
            else f"ops.{held[0]}.depends_on_past" if len(held) == 1 else "depends_on_past"
        findings.warn(where, f"Airflow's depends_on_past (ops {', '.join(held)}) holds manual runs too and, with "
                             f"catchup false, compares with the previous DAG run of any kind; Polyflow holds only "
                             f"runs of a slot, by the run of the previous slot")
    if plan.events:
        findings.warn("events", f"runs on events ({', '.join(plan.events)}) are not carried: Airflow has no "
                                f"Polyflow events; trigger the DAG through Airflow (its API or an Asset) instead")
    if plan.concurrency is not None and (plan.schedule is None or plan.schedule.max_active_runs != 1):
        findings.warn("concurrency", f"Polyflow limits each run to {plan.concurrency} op runs at once; "
                                     f"Airflow's max_active_tasks limits all active runs of the DAG together")
    if plan.timeout is not None:
        findings.warn("timeout", "Airflow's dagrun_timeout fails the DAG run and marks its running tasks "
                                 "skipped (Polyflow stops them); Airflow 2 applies it to scheduled runs only")
    judged = judged_by_last_tasks(plan, "Airflow", "DAG run")
    if judged is not None:
        findings.warn(judged.where, judged.message)
    for where, message in unsupported_storage(plan, executor):
        findings.refuse(where, message)
    for op in plan.ops:
        if op.cache:
            findings.warn(f"ops.{op.name}.cache", CACHE_WARNING.format(target="Airflow"))
    max_active_runs = plan.schedule.max_active_runs if plan.schedule is not None else None
    description = DagDescription(
        dag_id=plan.name,
        description=plan.description,
        tags=tuple(plan.tags),
        executor=executor,
        schedule=schedule,
        catchup=bool(plan.schedule and plan.schedule.catchup),
        max_active_runs=max_active_runs,
        max_active_tasks=plan.concurrency,
        dagrun_timeout=plan.timeout,
        tasks=tasks,
        groups=groups,
    )
    return description, findings


# Shared with the Argo export: neither target has Polyflow's record of earlier op runs to reuse.
CACHE_WARNING = ("not carried: {target} runs the op every time (Polyflow reuses an earlier successful run with "
                 "the same template, params and input digests)")


def unsupported_storage(plan: Plan, executor: str) -> list[tuple[str, str]]:
    """The pipeline's workspace, and on the local executor the templates' volumes: not carried.

    A pod task's volumes and mounts are carried, in the pod manifests.py makes; the workspace is not,
    since it is a claim Polyflow creates for each run and deletes at its end, which no task does."""
    found = []
    if plan.workspace is not None:
        found.append(("workspace", "a claim per run that every op mounts: the DAG creates and deletes none "
                                   "(give the ops a volume of an existing claim through environment.volumes)"))
    if executor == "local":
        for op in plan.ops:
            template = op.template
            if template is not None and (template.environment.volumes or template.container.volume_mounts):
                found.append((f"ops.{op.name}.template.environment.volumes",
                              "Kubernetes volumes are not carried by the local executor, which runs commands on "
                              "the Airflow worker (export with --executor kubernetes)"))
    return found


def describe_schedule(schedule: ScheduleSpec | None, findings: Findings, now: dt.datetime) -> ScheduleDescription:
    if schedule is None:
        return ScheduleDescription(kind=None)
    start = schedule.start_at
    if start is None and schedule.kind != "exact_time":
        # Polyflow starts a schedule when the pipeline is applied; a DAG file needs a date.
        start = now.replace(microsecond=0)
        findings.warn("schedule.start_at", f"not given: the DAG starts at the export's time, {start.isoformat()} "
                                           f"(Polyflow starts a schedule when the pipeline is applied)")
    if schedule.kind == "repeatable":
        findings.refuse("schedule", "a repeatable schedule (runs one after another, limit "
                                    f"{schedule.limit}) has no Airflow timetable")
        return ScheduleDescription(kind=None)
    end = schedule.end_at
    if schedule.max_runs is not None:
        if schedule.kind == "interval":
            # The last slot of max_runs, counted from start_at, is a fixed time: Airflow's end_date.
            last = start + dt.timedelta(seconds=schedule.frequency * (schedule.max_runs - 1))
            end = last if end is None else min(end, last)
            findings.warn("schedule.max_runs", f"carried as end_date {end.isoformat()}, the last of "
                                               f"{schedule.max_runs} slots from start_at: a slot Airflow drops "
                                               f"(catchup false) is not made up for")
        else:
            findings.refuse("schedule.max_runs", "a cron schedule ending after a number of runs has no Airflow "
                                                 "equivalent (give end_at instead)")
    if schedule.kind == "interval":
        return ScheduleDescription(kind="delta", seconds=schedule.frequency, start=start, end=end)
    if schedule.kind == "cron":
        return ScheduleDescription(kind="cron", cron=schedule.cron, timezone=schedule.timezone, start=start, end=end)
    if schedule.kind == "exact_time":
        return ScheduleDescription(kind="once", start=start)
    findings.refuse("schedule", f"schedule kind {schedule.kind!r} has no Airflow timetable")
    return ScheduleDescription(kind=None)


def describe_task(plan: Plan, op: OpSpec, executor: str, groups: frozenset[str], findings: Findings,
                  namespace: str) -> TaskDescription:
    where = f"ops.{op.name}"
    trigger = TRIGGER_RULES.get(op.trigger)
    if trigger is None:
        findings.refuse(f"{where}.trigger", f"trigger rule {op.trigger!r} has no Airflow equivalent")
        trigger = "all_success"
    elif op.trigger in TRIGGER_DIFFERENCES and op.dependencies:
        findings.warn(f"{where}.trigger", f"{op.trigger} is Airflow's {trigger}, except that "
                                          f"{TRIGGER_DIFFERENCES[op.trigger]}")
    if op.skip_on_upstream_skip and op.dependencies and op.trigger != "all_succeeded":
        # all_success skips on a skipped upstream by itself; the other rules need the task to look.
        findings.warn(f"{where}.skip_on_upstream_skip",
                      "Airflow has no such setting: the task checks its upstreams' states when it starts and "
                      "skips itself if one was skipped (Polyflow decides it before the op is ready, so the "
                      "task shows as skipped after starting rather than never starting)")
    if op.retry_exp_backoff and op.max_retries:
        findings.warn(f"{where}.retry_exp_backoff",
                      "Airflow's exponential backoff adds a jitter: the delay after try n is between "
                      "retry_delay * 2**(n-1) and twice that (Polyflow waits exactly the former), capped at "
                      "max_retry_delay")
    if op.concurrency is not None and op.matrix is not None:
        findings.warn(f"{where}.concurrency", "on a matrix op, Airflow counts each trial as a running task "
                                              "against max_active_tis_per_dag, as Polyflow counts each trial's run")
    spec, expand_items, expand_from = task_spec(plan, op, executor, groups, findings, namespace)
    return TaskDescription(
        task_id=op.name,
        upstream=op.dependencies,
        trigger_rule=trigger,
        retries=op.max_retries,
        retry_delay=op.retry_delay,
        exponential_backoff=op.retry_exp_backoff,
        max_retry_delay=op.max_retry_delay,
        execution_timeout=op.timeout,
        depends_on_past=op.depends_on_past,
        max_active_tis_per_dag=op.concurrency,
        max_active_tis_per_dagrun=op.matrix.concurrency if op.matrix is not None else None,
        skip_on_upstream_skip=op.skip_on_upstream_skip and op.trigger != "all_succeeded",
        spec=spec,
        expand_items=expand_items,
        expand_from=expand_from,
    )


# -- what a task runs -----------------------------------------------------------------


def param_spec(value: object, where: str, findings: Findings) -> dict:
    """A param as airflow_runtime.resolve reads it: literal, reference, text with references, or nested."""
    if isinstance(value, str):
        refs = list(references_in(value))
        if not refs:
            return {"lit": value}
        for ref in refs:
            if ref.namespace == "ops" and ref.part != "outputs":
                findings.refuse(where, f"'{{{{ {ref} }}}}': a matrix's best trial has no Airflow equivalent "
                                       f"(Airflow ranks no mapped task instances)")
        if len(refs) == 1 and refs[0].whole:
            return _reference(refs[0])
        return {"text": _text_parts(value)}
    if isinstance(value, Mapping):
        return {"dict": {str(key): param_spec(item, where, findings) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {"list": [param_spec(item, where, findings) for item in value]}
    return {"lit": value}


def _reference(ref, filters: tuple[str, ...] = ()) -> dict:
    spec = {"global": ref.name} if ref.namespace == "globals" else {"ref": [ref.op, ref.name]}
    if filters:
        spec["filters"] = list(filters)
    return spec


def _text_parts(text: str) -> list:
    parts: list = []
    position = 0
    for match in _EXPRESSION.finditer(text):
        if match.start() > position:
            parts.append(text[position:match.start()])
        ref = parse_expression(match.group(1))
        parts.append(_reference(ref, ref.filters))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    return parts


def _has_references(value: object) -> bool:
    return any("{{" in text for _, text in walk_strings(value))


def task_spec(plan: Plan, op: OpSpec, executor: str, groups: frozenset[str], findings: Findings,
              namespace: str) -> tuple[dict, tuple | None, tuple[str, str] | None]:
    where = f"ops.{op.name}"
    template = op.template
    if template is None:
        findings.refuse(f"{where}.template", f"action {op.action} is not resolved: give its file too, or export "
                                             f"the pipeline applied on a server (its registry resolves it)")
        return {}, None, None
    expand_items, expand_from = matrix_expansion(op, groups, findings)
    mapped = op.matrix is not None
    runtime = [name for name, value in op.params.items() if _has_references(value)]
    if mapped:  # a trial may set any input: each is filled in at run time
        runtime = list(dict.fromkeys([*runtime, *(io.name for io in template.inputs)]))
    params = {name: param_spec(value, f"{where}.params.{name}", findings) for name, value in op.params.items()}
    prepared = dict(op.params)
    for name in runtime:  # an input a trial leaves unset is taken out at run time
        prepared[name] = placeholder("param " + name)
    submission = Submission(
        key=f"{plan.name}-{op.name}"[:63].rstrip("-"),
        pipeline=plan.name,
        op=op.name,
        run_uuid=placeholder(RUN_UUID),
        attempt=placeholder(ATTEMPT),  # type: ignore[arg-type]  (a placeholder where a run has a number)
        template=template,
        params=prepared,
        globals={RUN_UUID: placeholder(RUN_UUID), SCHEDULE_AT: placeholder(SCHEDULE_AT), "op_name": op.name,
                 ATTEMPT: placeholder(ATTEMPT), TRIAL: placeholder(TRIAL) if mapped else None},
        timeout=op.timeout,
        trial=placeholder(TRIAL) if mapped else None,  # type: ignore[arg-type]
    )
    spec: dict = {
        "params": params,
        "runtime": runtime,
        "env_names": {name: env_var_name(name) for name in runtime},
        "outputs": [io.name for io in template.outputs],
    }
    spec.update(artifact_spec(plan, op, executor, groups, findings))
    if template.build is not None:
        findings.refuse(f"{where}.template.build", f"template {template.name!r} builds its image: Airflow builds "
                                                   f"none (build it first and give container.image)")
        return spec, expand_items, expand_from
    if executor == "kubernetes":
        spec["pod"] = pod_spec(submission, namespace, findings, where)
    else:
        spec["local"] = local_spec(submission, findings, where)
    return spec, expand_items, expand_from


def pod_spec(submission: Submission, namespace: str, findings: Findings, where: str) -> dict:
    try:
        pod = manifests.pod_manifest(submission, namespace)
    except SubmitError as error:
        findings.refuse(f"{where}.template", str(error))
        return {}
    # Outputs go back through KubernetesPodOperator's XCom sidecar rather than the termination message.
    for container in pod["spec"]["containers"]:
        for item in container["env"]:
            if item["name"] == "POLYFLOW_OUTPUTS_FILE":
                item["value"] = AIRFLOW_XCOM_FILE
    return pod


def local_spec(submission: Submission, findings: Findings, where: str) -> dict:
    container = submission.template.container
    if not container.command:
        findings.refuse(f"{where}.template.container.command",
                        f"template {submission.template.name!r} has no command: the local executor runs commands "
                        f"on the Airflow worker, as Polyflow's local backend does, and runs no image")
        return {}
    command, args = render_command(submission)
    directory = placeholder(DIRECTORY)
    if container.working_dir and container.working_dir.startswith("/"):
        cwd = container.working_dir
    elif container.working_dir:
        cwd = f"{directory}/{container.working_dir}"
    else:
        cwd = directory
    env = param_env(submission)
    env["POLYFLOW_PARAMS_FILE"] = f"{directory}/{PARAMS}"
    env["POLYFLOW_OUTPUTS_FILE"] = f"{directory}/{OUTPUTS}"
    env["POLYFLOW_OUTPUTS_DIR"] = f"{directory}/{OUTPUTS_DIR}"
    return {"argv": [*command, *args], "env": env, "cwd": cwd, "params_file": f"{directory}/{PARAMS}",
            "outputs_file": f"{directory}/{OUTPUTS}", "inputs_dir": f"{directory}/{INPUTS}",
            "outputs_dir": f"{directory}/{OUTPUTS_DIR}"}


def artifact_spec(plan: Plan, op: OpSpec, executor: str, groups: frozenset[str], findings: Findings) -> dict:
    """The op's path outputs ({name: optional}) and path inputs ([name]) as airflow_runtime carries them.

    Local: the tasks run on the Airflow worker's machine, as ops on Polyflow's local backend, so a
    path output is carried as the absolute path of what the op wrote in its attempt directory, and a
    path input as a copy of it in the task's own inputs directory. Kubernetes: a pod's files are gone
    when it ends and the export carries no artifact store, so such a plan is refused."""
    where = f"ops.{op.name}.template"
    outputs = {io.name: io.is_optional for io in path_outputs(op.template)}
    inputs = artifact_inputs(plan, op, op.params)
    if executor == "kubernetes":
        for name in outputs:
            findings.refuse(f"{where}.outputs.{name}", _POD_ARTIFACTS.format(kind="a path output"))
        for name in inputs:
            findings.refuse(f"{where}.inputs.{name}", _POD_ARTIFACTS.format(kind="a path input"))
        return {}
    for name, (upstream, output) in inputs.items():
        if upstream in groups:
            findings.refuse(f"{where}.inputs.{name}", f"path output {output!r} of matrix op {upstream!r}: its "
                                                      f"trials' files are a list, which a path input is not")
    return {"path_outputs": outputs, "path_inputs": sorted(inputs)}


_POD_ARTIFACTS = ("{kind} is not carried by the kubernetes executor: Polyflow moves it through its artifact "
                  "store with containers of its own around the op's, which the exported pod does not have "
                  "(export with --executor local, or pass the data through a store the op itself reads)")


def matrix_expansion(op: OpSpec, groups: frozenset[str], findings: Findings
                     ) -> tuple[tuple | None, tuple[str, str] | None]:
    matrix = op.matrix
    where = f"ops.{op.name}.matrix"
    if matrix is None:
        return None, None
    if matrix.kind != "mapping":
        findings.refuse(where, f"a {matrix.kind} search has no Airflow equivalent: its group succeeds when one "
                               f"trial did and ranks the trials by a metric, where Airflow fails a mapped task's "
                               f"downstream when any instance failed and ranks none (kind mapping is carried, "
                               f"through dynamic task mapping)")
        return None, None
    if isinstance(matrix.values, str):
        refs = list(references_in(matrix.values))
        ref = refs[0] if len(refs) == 1 and refs[0].whole and refs[0].namespace == "ops" else None
        if ref is None or ref.part != "outputs":
            findings.refuse(f"{where}.values", f"{matrix.values!r}: only a whole '{{{{ ops.X.outputs.Y }}}}' maps "
                                               f"over an upstream's output in Airflow")
            return None, None
        if ref.op in groups:
            findings.refuse(f"{where}.values", f"mapping over the outputs of matrix op {ref.op!r}: Airflow maps "
                                               f"over one task instance's XCom, not a mapped task's")
            return None, None
        return None, (ref.op, ref.name)
    return tuple(thaw(matrix.values or ())), None
