"""Export to Argo Workflows: a plan as a `Workflow`, or a `CronWorkflow` for a schedule (pure).

One DAG template (the entrypoint) with a task per op, and a container template
per op built by Polyflow's own pod builder (`backends/manifests.py`): the same
image, command, args, env, envFrom, resources, node selector, affinity,
tolerations, service account, labels and annotations as the pod Polyflow
would create. What differs is where values come from (`argo_values`), how
trigger rules are written (`argo_rules`) and the schedule (`argo_schedule`).
docs/interop-argo.md lists every feature and how it is carried; the rule of
`export/base.py` holds: what Argo cannot say is refused (NotCarried, all at
once) or carried approximately with a warning, never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import yaml

from ..backends import pod_volumes
from ..backends.base import Submission, SubmitError
from ..backends.container import as_text
from ..backends.manifests import (
    ATTEMPT_LABEL,
    MANAGED_BY,
    MANAGER,
    PARAMS_FILE,
    PIPELINE_LABEL,
    RUN_LABEL,
    TRIAL_LABEL,
    labels_of,
    main_container,
    placement_of,
)
from ..matrix.errors import MatrixError
from ..matrix.expansion import expand
from ..scheduler.artifacts import artifact_inputs, path_outputs
from ..spec.plan import OpSpec, Plan, thaw
from ..spec.references import ExpressionError, Reference, references_in, render, walk_strings
from . import argo_artifacts
from .airflow_dag import CACHE_WARNING
from .argo_artifacts import Location, StoreRefused
from .argo_rules import plan_conditions
from .argo_schedule import DEFAULT_STARTING_DEADLINE, cron_fields
from .argo_values import OUTPUTS_PARAMETER, TRIAL_INPUT, Markers, Value, input_value, literal, output_value
from .base import Export, NotCarried, Warning_, judged_by_last_tasks

API_VERSION = "argoproj.io/v1alpha1"
OUTPUTS_DIR = "/polyflow-outputs"
OUTPUTS_FILE = f"{OUTPUTS_DIR}/outputs.json"
OUTPUTS_VOLUME = "polyflow-outputs"
PARAMS_ARTIFACT = "polyflow-params"
DAG_TEMPLATE = "polyflow-dag"
ARTIFACT_OPTIONS = ("artifacts_store", "artifacts_store_options", "artifacts_credentials_secret")
OPTIONS = ("name", "namespace", "starting_deadline_seconds", *ARTIFACT_OPTIONS)
# Argo names a CronWorkflow's runs <name>-<10 digits>: the name leaves room for them.
MAX_CRON_NAME = 52


def export(plan: Plan, **options) -> Export:
    """The plan as Argo YAML: the Workflow (or CronWorkflow), and a ConfigMap of semaphores
    when an op has a concurrency. Raises NotCarried listing what Argo cannot carry."""
    documents, warnings = argo_documents(plan, **options)
    text = yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True, width=120)
    return Export(target="argo", text=text, filename=f"{plan.name}.yaml", media_type="application/yaml",
                  warnings=tuple(warnings))


def argo_documents(plan: Plan, **options) -> tuple[list[dict], list[Warning_]]:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown option{'s' if len(unknown) > 1 else ''} of the argo export: "
                         f"{', '.join(unknown)} (options: {', '.join(OPTIONS)})")
    builder = _Builder(plan, options.get("namespace"),
                       int(options.get("starting_deadline_seconds") or DEFAULT_STARTING_DEADLINE),
                       options.get("name") or plan.name,
                       {key: options[key] for key in ARTIFACT_OPTIONS if key in options})
    documents = builder.build()
    if builder.problems:
        raise NotCarried("argo", builder.problems)
    return documents, builder.warnings


PATH_AS_TEXT = ("'{{{{ {ref} }}}}': the location of a path output as text is not carried: Argo hands the "
                "artifact on to an input of type path (`from`), and what the store holds at its key is Argo's "
                "tar.gz archive, not the file Polyflow's URI names")


def _insert_env(container: dict, name: str, value: str, after: str) -> None:
    env = container.setdefault("env", [])
    index = next((i + 1 for i, item in enumerate(env) if item.get("name") == after), len(env))
    env.insert(index, {"name": name, "value": value})


def parameter_name(op: str, param: str) -> str:
    """A workflow parameter for an op's param: op names have no `_`, so the first one splits."""
    return f"{op}_{param}"


def _has_expression(value: object) -> bool:
    return any("{{" in text for _, text in walk_strings(value))


class _Builder:
    def __init__(self, plan: Plan, namespace: str | None, starting_deadline: int, name: str,
                 artifact_options: Mapping[str, object] | None = None):
        self.plan = plan
        self.artifact_options = dict(artifact_options or {})
        self._location: Location | StoreRefused | None = None
        self.name = name
        self.namespace = namespace
        self.starting_deadline = starting_deadline
        self.problems: list[Warning_] = []
        self.warnings: list[Warning_] = []
        self.cron = plan.schedule is not None
        self.workflow_parameters: list[dict] = []
        self.semaphores: dict[str, str] = {}
        names = {op.name for op in plan.ops}
        self.dag_name = DAG_TEMPLATE if DAG_TEMPLATE not in names else f"{DAG_TEMPLATE}-0"
        self.limits_name = f"{name}-polyflow-limits"

    def refuse(self, where: str, message: str) -> None:
        self.problems.append(Warning_(where, message))

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(Warning_(where, message))

    # -- the documents

    def build(self) -> list[dict]:
        plan = self.plan
        for ref in plan.unresolved_actions:
            users = ", ".join(op.name for op in plan.ops if op.action == ref and op.template is None)
            self.refuse(f"ops.{users.split(', ')[0]}.template",
                        f"action {ref} is not resolved (used by {users}): export a pipeline applied to the "
                        "registry, or give the action's file too")
        for op in plan.ops:
            if op.cache:
                self.warn(f"ops.{op.name}.cache", CACHE_WARNING.format(target="Argo"))
        if self.problems:
            return []
        if plan.events:
            self.warn("events", f"Argo Workflows has no events of Polyflow's ({', '.join(plan.events)}): "
                                "trigger the Workflow from an Argo Events sensor")
        templates = [self.op_template(op) for op in plan.ops]
        # failFast false: every branch goes on after a failure elsewhere, as a Polyflow run does.
        dag = {"name": self.dag_name, "dag": {"failFast": False, "tasks": self.tasks()}}
        judged = judged_by_last_tasks(plan, "Argo", "Workflow", "Succeeded")
        if judged is not None:
            self.warnings.append(judged)
        spec: dict = {"entrypoint": self.dag_name}
        if self.workflow_parameters:
            spec["arguments"] = {"parameters": self.workflow_parameters}
        if plan.concurrency:
            spec["parallelism"] = plan.concurrency
        if plan.timeout:
            spec["activeDeadlineSeconds"] = plan.timeout
        if plan.workspace is not None:
            spec.update(self.workspace_claim(plan.workspace))
        spec["templates"] = [dag, *templates]
        labels = {MANAGED_BY: MANAGER, PIPELINE_LABEL: plan.name}
        annotations = {"polyflow.dev/description": plan.description} if plan.description else {}
        if plan.tags:
            annotations["polyflow.dev/tags"] = ", ".join(plan.tags)
        documents = [self.workflow(spec, labels, annotations)]
        if self.semaphores:
            documents.append(self.limits_config_map(labels))
        return documents

    @staticmethod
    def workspace_claim(workspace) -> dict:
        """A pipeline's `workspace`: a claim Argo creates for each Workflow and deletes when it has
        completed, every op mounting it, as Polyflow's one PersistentVolumeClaim per run."""
        claim: dict = {"accessModes": [workspace.access_mode],
                       "resources": {"requests": {"storage": workspace.size}}}
        if workspace.storage_class:
            claim["storageClassName"] = workspace.storage_class
        return {"volumeClaimTemplates": [{"metadata": {"name": pod_volumes.WORKSPACE_VOLUME}, "spec": claim}],
                "volumeClaimGC": {"strategy": "OnWorkflowCompletion"}}

    def metadata(self, labels: Mapping[str, str], annotations: Mapping[str, str], **name) -> dict:
        metadata = dict(name)
        if self.namespace:
            metadata["namespace"] = self.namespace
        metadata["labels"] = dict(labels)
        if annotations:
            metadata["annotations"] = dict(annotations)
        return metadata

    def workflow(self, spec: dict, labels: dict, annotations: dict) -> dict:
        plan = self.plan
        if plan.schedule is None:
            return {"apiVersion": API_VERSION, "kind": "Workflow",
                    "metadata": self.metadata(labels, annotations, generateName=f"{self.name}-"), "spec": spec}
        if len(self.name) > MAX_CRON_NAME:
            self.refuse("name", f"a CronWorkflow's name has at most {MAX_CRON_NAME} characters (Argo appends "
                                f"its runs' times): {self.name!r} has {len(self.name)}; give a shorter one (name=)")
        fields = cron_fields(plan.schedule, self.starting_deadline)
        self.problems.extend(fields.problems)
        self.warnings.extend(fields.warnings)
        cron_spec = {**fields.spec, "workflowMetadata": {"labels": dict(labels)}, "workflowSpec": spec}
        return {"apiVersion": API_VERSION, "kind": "CronWorkflow",
                "metadata": self.metadata(labels, annotations, name=self.name), "spec": cron_spec}

    def limits_config_map(self, labels: dict) -> dict:
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": self.metadata(labels, {}, name=self.limits_name), "data": dict(self.semaphores)}

    # -- the DAG

    def tasks(self) -> list[dict]:
        plan = self.plan
        nodes = {op.name: (op.trigger, op.skip_on_upstream_skip, op.dependencies,
                           bool(op.matrix and op.matrix.is_search)) for op in plan.ops}
        try:
            conditions = plan_conditions(plan.order, nodes)
        except ValueError as error:
            self.refuse("ops", f"a trigger rule Argo cannot say: {error}")
            conditions = {}
        tasks = []
        for name in plan.order:
            op = plan.op(name)
            task: dict = {"name": name, "template": name}
            condition = conditions.get(name)
            if condition is not None:
                task["depends"] = condition.depends
                if condition.when:
                    task["when"] = condition.when
            if op.trigger.startswith("one_") and op.dependencies:
                self.warn(f"ops.{name}.trigger", f"{op.trigger}: Argo decides a task once all its upstreams "
                                                 "have ended, not at the first that allows it")
            task.update(self.task_inputs(op))
            tasks.append(task)
        return tasks

    def task_inputs(self, op: OpSpec) -> dict:
        """arguments, and withItems / withParam for a matrix op."""
        parameters = []
        item_fields: dict = {}
        item_inputs: list[str] = []
        if op.matrix is not None:
            item_fields, item_inputs = self.matrix_items(op)
        sources = self.artifact_sources(op)
        for name, value in op.params.items():
            if name in item_inputs or name in sources:
                continue
            parameters.append({"name": name, "value": self.argument(op, name, value, "withItems" in item_fields)})
        for name in item_inputs:
            parameters.append({"name": name, "value": f"{{{{item.{name}}}}}"})
        if "withItems" in item_fields:
            parameters.append({"name": TRIAL_INPUT, "value": f"{{{{item.{TRIAL_INPUT}}}}}"})
        artifacts = [{"name": name, "from": argo_artifacts.from_task(upstream, output)}
                     for name, (upstream, output) in sources.items()]
        arguments: dict = {}
        if parameters:
            arguments["parameters"] = parameters
        if artifacts:
            arguments["artifacts"] = artifacts
        return {"arguments": arguments, **item_fields} if arguments else dict(item_fields)

    def artifact_sources(self, op: OpSpec) -> dict[str, tuple[str, str]]:
        """{input: (upstream op, its path output)} of the op's path inputs fed by a path output."""
        if op.template is None or op.template.build is not None:
            return {}
        return artifact_inputs(self.plan, op, op.params)

    def artifact_location(self) -> Location | StoreRefused:
        """Argo's location for Polyflow's store (the export's options, else the settings), read once."""
        if self._location is None:
            try:
                self._location = argo_artifacts.location(argo_artifacts.settings_of(self.artifact_options))
            except StoreRefused as refused:
                self._location = refused
        return self._location

    def argument(self, op: OpSpec, name: str, value: object, with_items: bool) -> str:
        if not _has_expression(value):
            parameter = parameter_name(op.name, name)
            self.workflow_parameters.append({"name": parameter, "value": as_text(thaw(value))})
            return f"{{{{workflow.parameters.{parameter}}}}}"
        markers = Markers()
        where = f"ops.{op.name}.params.{name}"

        def lookup(ref: Reference) -> str:
            if ref.namespace == "globals":
                return markers.mark(literal(self.global_in_arguments(op, ref.name, where, with_items)))
            upstream = self.plan.op(ref.op)
            if ref.part != "outputs":
                self.refuse(where, f"'{{{{ {ref} }}}}': Argo ranks no trials, so a matrix op has no best trial")
                return ""
            if upstream.matrix is not None:
                self.refuse(where, f"'{{{{ {ref} }}}}': the outputs of a matrix op's trials as one list are not "
                                   "carried (Argo gives them as a list of each trial's outputs file)")
                return ""
            io = upstream.template.output(ref.name) if upstream.template else None
            if io is not None and io.type == "path":
                self.refuse(where, PATH_AS_TEXT.format(ref=ref))
                return ""
            return markers.mark(output_value(ref.op, io, ref.name))

        try:
            rendered = render(thaw(value), lookup)
        except ExpressionError as error:
            self.refuse(where, str(error))
            return ""
        if isinstance(rendered, str):
            return markers.fill(rendered)
        # A dict or list with expressions inside: JSON, whole-value references keeping their type.
        return markers.fill_json(as_text(rendered))

    def global_in_arguments(self, op: OpSpec, name: str, where: str, with_items: bool) -> str:
        if name == "run_uuid":
            return "{{workflow.uid}}"
        if name == "schedule_at":
            return "{{workflow.scheduledTime}}" if self.cron else ""
        if name == "op_name":
            return op.name
        if name == "attempt":
            self.warn(where, "'{{ globals.attempt }}' in params: Argo fills in a task's arguments once, "
                             "before its retries: always 1 (in a command it follows the attempt)")
            return "1"
        if with_items:
            return f"{{{{item.{TRIAL_INPUT}}}}}"
        if op.matrix is not None:
            self.warn(where, "'{{ globals.trial }}': the items of an upstream output carry no index: empty")
        return ""

    def matrix_items(self, op: OpSpec) -> tuple[dict, list[str]]:
        """withItems (grid, random, a literal mapping) or withParam (a mapping from an output),
        and the inputs each item gives."""
        matrix = op.matrix
        where = f"ops.{op.name}.matrix"
        if matrix.early_stopping:
            self.refuse(f"{where}.early_stopping", "Argo stops no trials early: remove early_stopping")
        if matrix.metric is not None:
            self.warn(f"{where}.metric", "Argo ranks no trials: the metric is not carried (no best trial)")
        if matrix.concurrency:
            self.warn(f"{where}.concurrency", f"{matrix.concurrency}: Argo cannot bound one task's items; the "
                                              "trials are bounded only by the workflow's parallelism")
        if matrix.is_search:
            self.warn(where, f"a {matrix.kind} search succeeds when one trial did: its downstream reads "
                             "AnySucceeded, but Argo marks the task (and the run) Failed when any trial failed")
        if isinstance(matrix.values, str):
            refs = list(references_in(matrix.values))
            upstream = self.plan.op(refs[0].op)
            if upstream.matrix is not None or refs[0].part != "outputs":
                self.refuse(f"{where}.values", f"'{matrix.values}': only an output of an op with no matrix "
                                               "is carried as withParam")
                return {}, []
            io = upstream.template.output(refs[0].name) if upstream.template else None
            if io is not None and io.type == "path":
                self.refuse(f"{where}.values", PATH_AS_TEXT.format(ref=refs[0]))
                return {}, []
            value: Value = output_value(refs[0].op, io, refs[0].name)
            inputs = [io.name for io in op.template.inputs if io.name not in op.params] if op.template else []
            self.warn(f"{where}.values", "withParam: each item gives the inputs the op's params do not "
                                         f"({', '.join(inputs) or 'none'}); an item's other keys are not read, "
                                         "and the trials have no index (POLYFLOW_TRIAL is empty)")
            return {"withParam": value.as_json}, inputs
        seed = None
        if matrix.kind == "random" and matrix.seed is None:
            seed = 0
            self.warn(f"{where}.seed", "a random search without a seed draws its trials in each run; the "
                                       "export draws them once (seed 0): every Argo run has the same trials")
        try:
            trials = expand(matrix, seed=seed)
        except MatrixError as error:
            self.refuse(where, str(error))
            return {}, []
        inputs = list(dict.fromkeys(name for trial in trials for name in trial))
        # Every item gives every input some item gives (`{{item.X}}` must resolve in each): an
        # item without one takes the op's param, as a Polyflow trial does.
        items = []
        for index, trial in enumerate(trials):
            item = {TRIAL_INPUT: index}
            for name in inputs:
                if name in trial:
                    item[name] = trial[name]
                elif name in op.params:  # the input's default: the spec refuses a param an item gives too
                    item[name] = thaw(op.params[name])
                else:
                    item[name] = ""
                    self.warn(f"{where}.values[{index}]", f"gives no {name!r} (an optional input other items "
                                                          "give): Argo passes it empty, where Polyflow leaves it "
                                                          "absent")
            items.append(item)
        if not items:
            self.refuse(f"{where}.values", "an empty list of items: Argo skips the task, where Polyflow's "
                                           "group succeeds")
        return {"withItems": items}, inputs

    # -- one op's template

    def op_template(self, op: OpSpec) -> dict:
        where = f"ops.{op.name}"
        template = op.template
        if op.depends_on_past and not (self.plan.schedule and self.plan.schedule.depends_on_past):
            self.refuse(f"{where}.depends_on_past", "Argo has no depends_on_past: no run looks at the previous "
                                                    "run's ops")
        if template.build is not None:
            self.refuse(f"{where}.template", f"template {template.name!r} has a build: Argo runs no Polyflow "
                                             "build (kaniko); build and push the image, then set "
                                             "container.image")
            return {"name": op.name}
        sources = self.artifact_sources(op)
        outputs = self.output_artifacts(op)
        input_artifacts = self.input_artifacts(op, sources)
        markers = Markers()
        # A path input is the local path Argo unpacks it at, as `container.localized` gives Polyflow's pods.
        params: dict = {name: argo_artifacts.input_path(name) if name in sources
                        else markers.mark(input_value(template.input(name), name)) for name in self.template_inputs(op)}
        inputs = [name for name in params if name not in sources]
        globals_ = self.template_globals(op, markers)
        trial = globals_["trial"]
        submission = Submission(key=op.name, pipeline=self.plan.name, op=op.name, run_uuid=globals_["run_uuid"],
                                attempt=1, template=template, params=params, globals=globals_,
                                timeout=op.timeout, trial=None)
        try:
            container = main_container(submission, outputs_file=OUTPUTS_FILE)
            placement = placement_of(submission)
        except SubmitError as error:
            self.refuse(f"{where}.template", str(error))
            return {"name": op.name}
        container = markers.fill_all(container)
        # $POLYFLOW_OUTPUTS_FILE on a volume of its own: writable whatever the image's user.
        # The template's own volumes and mounts as the Kubernetes backend gives them (pod_volumes.py).
        mounts = [{"name": OUTPUTS_VOLUME, "mountPath": OUTPUTS_DIR}]
        volumes = [{"name": OUTPUTS_VOLUME, "emptyDir": {}}]
        if path_outputs(template):
            # $POLYFLOW_OUTPUTS_DIR as Polyflow's pods have it, an emptyDir the wait container reads too.
            _insert_env(container, "POLYFLOW_OUTPUTS_DIR", argo_artifacts.OUTPUTS_DIR, after="POLYFLOW_OUTPUTS_FILE")
            mounts.append({"name": argo_artifacts.OUTPUTS_VOLUME, "mountPath": argo_artifacts.OUTPUTS_DIR})
            volumes.append({"name": argo_artifacts.OUTPUTS_VOLUME, "emptyDir": {}})
        if self.plan.workspace is not None:
            # The run's workspace: the Workflow's claim (volumeClaimTemplates), as the pods' one claim per run.
            mounts.append({"name": pod_volumes.WORKSPACE_VOLUME, "mountPath": self.plan.workspace.mount_path})
        container["volumeMounts"] = [*mounts, *pod_volumes.template_mounts(submission)]
        labels = labels_of(submission)
        for key in (RUN_LABEL, ATTEMPT_LABEL, TRIAL_LABEL):
            labels.pop(key, None)
        annotations = {str(k): str(v) for k, v in template.environment.annotations.items()}
        result: dict = {"name": op.name}
        parameters = [{"name": name} for name in inputs]
        if trial is not None:
            parameters.append({"name": TRIAL_INPUT})
        params_file = markers.fill_json(json.dumps(params, sort_keys=True))
        template_inputs: dict = {}
        if parameters:
            template_inputs["parameters"] = parameters
        template_inputs["artifacts"] = [{"name": PARAMS_ARTIFACT, "path": PARAMS_FILE, "raw": {"data": params_file}},
                                        *input_artifacts]
        result["inputs"] = template_inputs
        if template.outputs:
            result["outputs"] = {"parameters": [{"name": OUTPUTS_PARAMETER,
                                                 "valueFrom": {"path": OUTPUTS_FILE, "default": "{}"}}]}
            if outputs:
                result["outputs"]["artifacts"] = outputs
        result["metadata"] = {"labels": labels, **({"annotations": annotations} if annotations else {})}
        result["container"] = container
        result["volumes"] = [*volumes, *pod_volumes.template_volumes(submission)]
        image_pull_secrets = placement.pop("imagePullSecrets", None)
        result.update(placement)
        if image_pull_secrets:
            # A template has no imagePullSecrets of its own (only the workflow has): patched into its pod.
            result["podSpecPatch"] = json.dumps({"imagePullSecrets": image_pull_secrets}, sort_keys=True)
        if op.timeout:
            result["activeDeadlineSeconds"] = op.timeout
        if op.max_retries:
            result["retryStrategy"] = self.retry_strategy(op)
        if op.concurrency:
            self.semaphores[op.name] = str(op.concurrency)
            result["synchronization"] = {"semaphores": [{"configMapKeyRef": {"name": self.limits_name,
                                                                             "key": op.name}}]}
        return result

    def output_artifacts(self, op: OpSpec) -> list[dict]:
        """An output artifact per path output, at its key in the store; refused where the store is not one."""
        found = path_outputs(op.template)
        if not found:
            return []
        where = f"ops.{op.name}.template.outputs"
        location = self.artifact_location()
        if isinstance(location, StoreRefused):
            for io in found:
                self.refuse(f"{where}.{io.name}", f"a path output goes to Polyflow's artifact store: {location}")
            return []
        for message in location.warnings:
            self.warn(f"{where}.{found[0].name}", message)
        trial = None
        if op.matrix is not None:
            # withItems: the trial's index, as Polyflow's layout has it; withParam's items have none.
            trial = "{{pod.name}}" if isinstance(op.matrix.values, str) else f"{{{{inputs.parameters.{TRIAL_INPUT}}}}}"
        artifacts = []
        for io in found:
            artifact: dict = {"name": io.name, "path": argo_artifacts.output_path(io.name)}
            if io.is_optional:
                artifact["optional"] = True
            artifact.update(location.at(argo_artifacts.output_key(op.name, io.name, trial)))
            artifacts.append(artifact)
        return artifacts

    def input_artifacts(self, op: OpSpec, sources: Mapping[str, tuple[str, str]]) -> list[dict]:
        """An input artifact per path input fed by a path output, unpacked at its local path."""
        artifacts = []
        for name, (upstream, _) in sources.items():
            where = f"ops.{op.name}.params.{name}"
            (ref,) = references_in(op.params[name])
            if ref.part != "outputs":
                self.refuse(where, f"'{{{{ {ref} }}}}': Argo ranks no trials, so a matrix op has no best trial")
            elif self.plan.op(upstream).matrix is not None:
                self.refuse(where, f"'{{{{ {ref} }}}}': the path outputs of a matrix op's trials as one list are "
                                   "not carried (Argo passes one artifact to an input, not one per trial)")
            artifacts.append({"name": name, "path": argo_artifacts.input_path(name)})
        return artifacts

    @staticmethod
    def template_inputs(op: OpSpec) -> list[str]:
        """The inputs the op's template receives: its params, and what a matrix's items give."""
        inputs = list(op.params)
        matrix = op.matrix
        if matrix is None:
            return inputs
        if isinstance(matrix.values, str):  # withParam: the items give whatever the params do not
            return inputs + [io.name for io in op.template.inputs if io.name not in op.params]
        if matrix.kind == "mapping":
            given = dict.fromkeys(name for item in matrix.values or () for name in item)
        else:
            given = dict.fromkeys(matrix.params)
        return inputs + [name for name in given if name not in inputs]

    def template_globals(self, op: OpSpec, markers: Markers) -> dict:
        """`{{ globals.* }}` inside the op's template (its command, args and env)."""
        trial = None
        if op.matrix is not None and not isinstance(op.matrix.values, str):
            tag = f"{{{{inputs.parameters.{TRIAL_INPUT}}}}}"
            trial = markers.mark(Value(tag, tag, tag))
        # `retries` counts from 0 and exists only in a template with a retryStrategy.
        attempt = "{{=asInt(retries) + 1}}" if op.max_retries else "1"
        return {
            "run_uuid": markers.mark(literal("{{workflow.uid}}")),
            "schedule_at": markers.mark(literal("{{workflow.scheduledTime}}")) if self.cron else "",
            "op_name": op.name,
            "attempt": markers.mark(Value(attempt, attempt, attempt)),
            "trial": trial,
        }

    @staticmethod
    def retry_strategy(op: OpSpec) -> dict:
        backoff = {"duration": f"{op.retry_delay}s", "factor": 2 if op.retry_exp_backoff else 1}
        if op.retry_exp_backoff:
            # cap bounds each delay as max_retry_delay does (maxDuration would bound all retries together).
            backoff["cap"] = f"{op.max_retry_delay}s"
        elif op.max_retry_delay < op.retry_delay:
            backoff["duration"] = f"{op.max_retry_delay}s"
        return {"limit": str(op.max_retries), "retryPolicy": "Always", "backoff": backoff}
