"""What an exported DAG does inside Airflow when a task runs: pasted into every DAG file.

The DAG file cannot import Polyflow (Airflow runs it in its own environment), so
the export renders everything it can in advance with Polyflow's own code (the
pod manifest, the local command and environment) and leaves in them a
placeholder (`@@polyflow NAME@@`) for each value only a run knows: a param that
reads an upstream's output, the run's id, the attempt. This module fills them
in: `values_of` computes the params of one task instance from XCom and the
run, `fill` writes them into the prepared strings the way Polyflow writes
values (for Kubernetes' `$(VAR)` expansion, shell-quoted where the template
said `| shell_quote`).

The few Polyflow functions it needs are pasted with it by the renderer (the
block between the markers below is replaced by their source), so the DAG
writes values exactly as Polyflow does, from one implementation.
"""

from __future__ import annotations

import datetime as dt  # noqa: F401  (used by the pasted functions)
import json
import os
import re
import shlex
import shutil
from collections.abc import Mapping  # noqa: F401  (used by the pasted functions)

# polyflow-functions-begin
from polyflow.backends.container import _KUBE_REFERENCE, as_received, as_text, jsonable, kube_expand, kube_literal  # noqa: F401
from polyflow.spec.references import _as_text, _plain  # noqa: F401

# polyflow-functions-end

PLACEHOLDER = "@@polyflow {}@@"  # a space inside: shell_quote quotes it, so its quoted form can be found
DIRECTORY = "directory"  # the placeholder of a local task's attempt directory
RUN_UUID, SCHEDULE_AT, ATTEMPT, TRIAL = "run_uuid", "schedule_at", "attempt", "trial"
GLOBALS = (RUN_UUID, SCHEDULE_AT, ATTEMPT, TRIAL)  # the globals only a run knows
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]+")


def placeholder(name: str) -> str:
    return PLACEHOLDER.format(name)


def resolve(spec, lookup):
    """A param's value from its description: literal, a reference, a text with references, or nested."""
    if "lit" in spec:
        return spec["lit"]
    if "ref" in spec or "global" in spec:
        return lookup(spec)
    if "text" in spec:
        return "".join(part if isinstance(part, str) else _embedded(part, lookup) for part in spec["text"])
    if "list" in spec:
        return [resolve(item, lookup) for item in spec["list"]]
    return {key: resolve(item, lookup) for key, item in spec["dict"].items()}


def _embedded(part, lookup) -> str:
    # As Polyflow renders an expression inside a longer string: JSON's spelling, then the filters.
    text = _as_text(lookup(part))
    for _ in part.get("filters", ()):
        text = shlex.quote(text)  # shell_quote, the one filter
    return text


def run_globals(context, op: str) -> dict:
    """Polyflow's globals for a task instance: the DAG run's id, its logical date, the try, the map index."""
    ti = context["ti"]
    logical = context.get("logical_date")
    index = getattr(ti, "map_index", -1)
    return {
        RUN_UUID: context["run_id"],
        SCHEDULE_AT: logical.isoformat() if logical is not None else None,
        "op_name": op,
        ATTEMPT: ti.try_number,
        TRIAL: index if index is not None and index >= 0 else None,
    }


def xcom_lookup(context, globals_: Mapping, tasks: Mapping[str, str], groups: frozenset):
    """Read `{{ ops.X.outputs.Y }}` from X's XCom under key Y (the list over its trials for a mapped X)."""
    ti = context["ti"]

    def lookup(spec):
        if "global" in spec:
            return globals_[spec["global"]]
        upstream, name = spec["ref"]
        published = ti.xcom_pull(task_ids=tasks[upstream], key=name)
        if upstream in groups:
            return [] if published is None else list(published)
        return published

    return lookup


def values_of(op_spec: Mapping, lookup, trial: Mapping | None) -> dict:
    """The params of one task instance: the op's, a trial's on top, references read."""
    params = {name: resolve(spec, lookup) for name, spec in op_spec["params"].items()}
    params.update(trial or {})
    return params


def fill(value, replacements: Mapping[str, str]):
    """Every placeholder in a prepared value replaced; its shell-quoted form by the quoted text."""
    if isinstance(value, str):
        if "@@polyflow " not in value:
            return value
        for name, text in replacements.items():
            mark = placeholder(name)
            value = value.replace(shlex.quote(mark), shlex.quote(text)).replace(mark, text)
        return value
    if isinstance(value, list):
        return [fill(item, replacements) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, replacements) for key, item in value.items()}
    return value


def replacements_of(op_spec: Mapping, params: Mapping, globals_: Mapping) -> dict[str, str]:
    """Each placeholder's text, written as Polyflow writes a value into a container spec."""
    texts = {name: kube_literal(as_text(globals_[name])) for name in GLOBALS}
    for name in op_spec["runtime"]:
        texts["param " + name] = kube_literal(as_text(params.get(name)))
    return texts


def params_json(params: Mapping) -> str:
    # As the pod's `polyflow.dev/params` annotation holds them (backends/manifests.py).
    return json.dumps(jsonable(params), sort_keys=True, separators=(",", ":"))


def absent_variables(op_spec: Mapping, params: Mapping) -> set[str]:
    """The variables of inputs this instance leaves unset (a trial's optional input): Polyflow sets none."""
    return {op_spec["env_names"][name] for name in op_spec["runtime"] if name not in params}


def pod_of(op_spec: Mapping, params: Mapping, globals_: Mapping) -> dict:
    """The op's pod manifest (as Polyflow builds it) for this task instance."""
    pod = fill(op_spec["pod"], replacements_of(op_spec, params, globals_))
    metadata = pod["metadata"]
    metadata["annotations"]["polyflow.dev/params"] = params_json(params)
    if globals_[SCHEDULE_AT] is None:  # a run without a slot: Polyflow writes no such annotation
        metadata["annotations"].pop("polyflow.dev/schedule-at", None)
    # A label value is 63 characters of [A-Za-z0-9._-]: Airflow's run ids are not.
    metadata["labels"] = {key: _LABEL_VALUE.sub("-", value)[:63].strip("-._") or "none"
                          for key, value in metadata["labels"].items()}
    absent = absent_variables(op_spec, params)
    for container in pod["spec"]["containers"]:
        container["env"] = [item for item in container["env"] if item["name"] not in absent]
    return pod


def runs_directory() -> str:
    """Where local tasks keep their attempt directories: $POLYFLOW_AIRFLOW_RUNS, else a temp directory."""
    import tempfile

    return os.environ.get("POLYFLOW_AIRFLOW_RUNS") or os.path.join(tempfile.gettempdir(), "polyflow-airflow-runs")


def local_process(op_spec: Mapping, params: Mapping, globals_: Mapping, directory: str) -> tuple[list, dict, str]:
    """argv, environment and working directory of a local task, as the local backend makes them."""
    replacements = replacements_of(op_spec, params, globals_)
    replacements[DIRECTORY] = directory
    local = op_spec["local"]
    absent = absent_variables(op_spec, params)
    env = {name: value for name, value in fill(local["env"], replacements).items() if name not in absent}
    argv, env = as_received(fill(local["argv"], replacements), env)
    return argv, env, fill(local["cwd"], replacements)


def attempt_directory(context, dag_id: str, op: str) -> str:
    ti = context["ti"]
    index = getattr(ti, "map_index", -1)
    name = f"{op}-{index}-{ti.try_number}" if index is not None and index >= 0 else f"{op}-{ti.try_number}"
    run = _LABEL_VALUE.sub("_", context["run_id"])
    return os.path.join(runs_directory(), dag_id, run, name)


def take_inputs(op_spec: Mapping, params: Mapping, inputs_dir: str) -> dict:
    """The params with each path input a copy of the upstream's file in this task's inputs directory.

    A copy, as Polyflow's local backend downloads one into `<attempt dir>/inputs/<name>`: an op that
    changes or deletes its input cannot change what another downstream of the same output reads."""
    params = dict(params)
    for name in op_spec.get("path_inputs", ()):
        source = params.get(name)
        if source is None:  # an optional input left unset
            continue
        if not isinstance(source, str) or not os.path.exists(source):
            raise FileNotFoundError(f"input {name!r}: the upstream's path output {source!r} is not on this machine "
                                    f"(the local executor runs every task on the machine that wrote it)")
        target = os.path.join(inputs_dir, name)
        if os.path.isdir(target):
            shutil.rmtree(target)  # a retry's inputs are fresh copies
        os.makedirs(inputs_dir, exist_ok=True)
        if os.path.isdir(source):
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
        params[name] = target
    return params


def written_outputs(op_spec: Mapping, outputs_dir: str) -> dict[str, str]:
    """Each path output's absolute path, as the op wrote it at $POLYFLOW_OUTPUTS_DIR/<name>;
    a required one not written is an error naming it, as in Polyflow (artifacts/transfer.py)."""
    found, missing = {}, []
    for name, optional in op_spec.get("path_outputs", {}).items():
        path = os.path.abspath(os.path.join(outputs_dir, name))
        if os.path.exists(path):
            found[name] = path
        elif not optional:
            missing.append(f"output {name!r} was not written: nothing at {path} "
                           f"(an op writes a path output at $POLYFLOW_OUTPUTS_DIR/{name})")
    if missing:
        raise FileNotFoundError("; ".join(missing))
    return found


def read_outputs(path: str) -> dict:
    """What the op wrote to $POLYFLOW_OUTPUTS_FILE: a JSON object, or nothing."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as stream:
        outputs = json.load(stream)
    if not isinstance(outputs, dict):
        raise ValueError(f"$POLYFLOW_OUTPUTS_FILE ({path}) must hold a JSON object, not {type(outputs).__name__}")
    return outputs


def upstream_skipped(context, task_ids) -> list[str]:
    """The upstream tasks of this instance that were skipped (for skip_on_upstream_skip)."""
    if not task_ids:
        return []
    ti = context["ti"]
    states: dict = {}
    if hasattr(ti, "get_task_states"):  # Airflow 3: through the execution API
        found = ti.get_task_states(dag_id=ti.dag_id, task_ids=list(task_ids), run_ids=[context["run_id"]])
        states = found.get(context["run_id"], {})
    else:  # Airflow 2: the task instance reads the database
        for task_id in task_ids:
            instance = context["dag_run"].get_task_instance(task_id)
            states[task_id] = instance.state if instance is not None else None
    return sorted(task_id for task_id, state in states.items() if str(state).lower().endswith("skipped"))
