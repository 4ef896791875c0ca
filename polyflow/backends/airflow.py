"""The Airflow backend (POLYFLOW_BACKEND=airflow): Polyflow's runs executed by an existing Airflow 3.

Polyflow keeps its models, API and dashboard; Airflow's scheduler runs the ops. A run is
handed over whole (`hand_over`): its plan, with the run's params, is exported as a DAG file
(`polyflow export airflow`, with no schedule: Polyflow's own schedules create the runs)
into AIRFLOW_DAGS_FOLDER, and once Airflow has parsed it, a DAG run is triggered through
Airflow's REST API with the run's uuid as its run id. Each tick reads the DAG run and its
task instances back (`sync_runs`, with each newly succeeded task's outputs from its XCom),
and scheduler/mirror.py writes what Airflow decided onto the op runs. What Airflow then
decides instead of Polyflow is in docs/interop.md ("The Airflow backend").

A DAG's id carries the digest of what it runs (the plan, the run's params, the executor,
this Polyflow's version), so a run always executes its own plan, runs of the same plan and
params share one DAG (and Airflow's depends_on_past sees them), and handing a run over
twice finds the first (the run id is the run's uuid).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .. import __version__
from ..scheduler.metric_lines import is_metric_line
from ..spec.plan import Plan, freeze
from .airflow_api import MISSING, AirflowError, Client
from .airflow_states import engine_run, map_index_of
from .base import Backend, EngineRun, Observation, RunHandover, Submission, SubmitError

logger = logging.getLogger("polyflow.backends.airflow")

NAME = "airflow"
# What a DAG id may hold (Airflow's KEY_REGEX), and its length limit.
_DAG_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]+")
_DAG_ID_MAX = 250
# Task instance states after which a task runs again only when cleared.
_TASK_FINAL = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})
_DAG_RUN_FINAL = frozenset({"success", "failed"})
MAX_METRIC_EVENTS = 10_000  # log events looked at per task and read
MAX_PUBLISHED = 20_000  # succeeded task instances whose outputs a process keeps


def plan_for_run(plan: Plan, overrides: Mapping[str, Mapping[str, object]]) -> Plan:
    """The plan as the run runs it: its params on the ops', and no schedule (Polyflow's own
    schedules create the runs; a DAG with one would have Airflow create runs of its own)."""
    ops = tuple(replace(op, params=freeze({**op.params, **overrides[op.name]})) if overrides.get(op.name) else op
                for op in plan.ops)
    return replace(plan, ops=ops, schedule=None)


def dag_id_of(plan: Plan, overrides: Mapping, executor: str) -> str:
    """polyflow.<pipeline>.<digest of what the DAG runs>."""
    content = json.dumps({"plan": plan.to_dict(), "params": overrides, "executor": executor, "version": __version__},
                         sort_keys=True, default=str)
    digest = hashlib.sha256(content.encode()).hexdigest()[:12]
    name = _DAG_ID_CHARACTERS.sub("_", plan.name)[: _DAG_ID_MAX - 23]
    return f"polyflow.{name}.{digest}"


def _metrics_cursor(cursor: str) -> tuple[int | None, int]:
    try_number, _, read = (cursor or "").partition(".")
    try:
        return int(try_number), max(int(read), 0)
    except ValueError:
        return None, 0


def split_handle(handle: str) -> tuple[str, str, str]:
    """"<dag id>/<run id>[/<task id>[/<map index>]]" -> (dag id, run id, task id or "")."""
    return split_trial_handle(handle)[:3]


def split_trial_handle(handle: str) -> tuple[str, str, str, int]:
    """(dag id, run id, task id or "", map index or -1) of a run's, an op's or a trial's handle
    (backends.base.engine_handle); none of Airflow's ids holds a "/"."""
    parts = handle.split("/")
    if not 2 <= len(parts) <= 4 or not all(parts):
        raise ValueError(f"not an Airflow backend handle: {handle!r}")
    index = int(parts[3]) if len(parts) == 4 and parts[3].isdigit() else -1
    if len(parts) == 4 and index < 0:
        raise ValueError(f"not an Airflow backend handle: {handle!r}")
    return parts[0], parts[1], parts[2] if len(parts) > 2 else "", index


class AirflowBackend(Backend):
    name = NAME
    runs_whole_runs = True
    sync_after_submit = False

    def __init__(self):
        from ..conf import polyflow_settings as settings

        missing = [key for key in ("AIRFLOW_URL", "AIRFLOW_DAGS_FOLDER") if not getattr(settings, key)]
        if missing:
            raise ImproperlyConfigured(f"the airflow backend needs POLYFLOW[{missing[0]!r}]"
                                       + (f" and POLYFLOW[{missing[1]!r}]" if len(missing) > 1 else "")
                                       + " (docs/interop.md, 'The Airflow backend')")
        self.client = Client(settings.AIRFLOW_URL, settings.AIRFLOW_USERNAME, settings.AIRFLOW_PASSWORD,
                             timeout=settings.AIRFLOW_REQUEST_TIMEOUT)
        self.dags_folder = Path(os.path.expanduser(settings.AIRFLOW_DAGS_FOLDER))
        self.executor = settings.AIRFLOW_EXECUTOR
        self._published: dict[tuple, dict] = {}  # succeeded task instances' outputs, by try

    # -- whole runs -----------------------------------------------------------------
    def run_handle(self, handover: RunHandover) -> str:
        # "<dag id>/<run id>": an op's is backends.base.engine_handle of it.
        return f"{dag_id_of(handover.plan, handover.overrides, self.executor)}/{handover.run_uuid}"

    def hand_over(self, handover: RunHandover) -> None:
        dag_id = dag_id_of(handover.plan, handover.overrides, self.executor)
        path = self._write_dag(handover, dag_id)
        try:
            dag = self.client.dag(dag_id)
            if dag is MISSING:
                errors = self.client.import_errors(str(path))
                if errors:
                    raise SubmitError(f"Airflow cannot import the DAG file {path}: {errors[0].strip()[-1500:]}",
                                      permanent=True)
                raise SubmitError(f"waiting for Airflow to parse the DAG file {path} (DAG {dag_id})")
            if dag.get("is_paused"):
                self.client.unpause(dag_id)
            logical = handover.schedule_at.isoformat() if handover.schedule_at else None
            conf = {"polyflow": {"run_uuid": handover.run_uuid, "pipeline": handover.pipeline,
                                 "project": handover.project}}
            if not self.client.trigger(dag_id, handover.run_uuid, logical, conf):
                self._run_again(dag_id, handover)
        except AirflowError as error:
            raise SubmitError(str(error), permanent=not error.retryable and error.status not in (401, 403)) from None

    def _run_again(self, dag_id: str, handover: RunHandover) -> None:
        """The DAG run exists: a second hand-over of the same run (nothing to do), or an explicit
        retry in Polyflow, which is Airflow's clear of the tasks it brought back."""
        if self.client.dag_run(dag_id, handover.run_uuid) is MISSING:
            # The 409 was for the logical date: Airflow keeps one DAG run per date and DAG.
            raise SubmitError(f"Airflow refused a DAG run of {dag_id} for {handover.schedule_at.isoformat()}: "
                              f"another DAG run of that DAG has this logical date (a run of the same plan and "
                              f"params for the same slot)" if handover.schedule_at else
                              f"Airflow refused a DAG run of {dag_id} with a conflict (409)", permanent=True)
        instances = self.client.task_instances(dag_id, handover.run_uuid)
        done = sorted({instance["task_id"] for instance in instances
                       if instance["task_id"] in handover.ops and instance.get("state") in _TASK_FINAL})
        if done:
            self.client.clear(dag_id, handover.run_uuid, done)

    def _write_dag(self, handover: RunHandover, dag_id: str) -> Path:
        """The DAG file, written once (atomically: Airflow never parses half a file)."""
        from ..export import NotCarried, exporter

        path = self.dags_folder / f"{dag_id}.py"
        if path.exists():
            return path
        try:
            exported = exporter("airflow")(plan_for_run(handover.plan, handover.overrides), executor=self.executor,
                                           airflow_version="3", dag_id=dag_id)
        except NotCarried as error:
            raise SubmitError(f"the Airflow backend cannot run this pipeline: {error}", permanent=True) from None
        for warning in exported.warnings:
            logger.info("run %s on Airflow: %s", handover.run_uuid, warning)
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.dags_folder, prefix=".", suffix=".tmp", delete=False) as out:
            out.write(exported.text)
        os.replace(out.name, path)
        return path

    def sync_runs(self, handles: Iterable[str]) -> dict[str, EngineRun]:
        """Every run's task instances in one paged request (Airflow's batch list), and the DAG run
        itself only where its state matters: when every task instance is final (the verdict, or a
        stop), or when there is none (not triggered yet: Airflow may have no such run)."""
        runs = {handle: split_handle(handle)[:2] for handle in dict.fromkeys(handles)}
        if not runs:
            return {}
        try:
            listed = self.client.task_instances_of(sorted({dag for dag, _ in runs.values()}),
                                                   sorted({run for _, run in runs.values()}))
        except AirflowError as error:  # asked again at the next tick
            logger.warning("reading %d run(s) from Airflow failed: %s", len(runs), error)
            return {}
        by_run: dict[tuple[str, str], list[dict]] = {}
        for instance in listed:
            by_run.setdefault((instance.get("dag_id"), instance.get("dag_run_id")), []).append(instance)
        found: dict[str, EngineRun] = {}
        for handle, (dag_id, run_id) in runs.items():
            try:
                found[handle] = self._read_run(dag_id, run_id, by_run.get((dag_id, run_id), []))
            except AirflowError as error:  # that run is asked again at the next tick
                logger.warning("reading %s from Airflow failed: %s", handle, error)
        return found

    def _read_run(self, dag_id: str, run_id: str, instances: list[dict]) -> EngineRun:
        if not instances or all(instance.get("state") in _TASK_FINAL for instance in instances):
            dag_run = self.client.dag_run(dag_id, run_id)
            if dag_run is MISSING:
                return engine_run(None, ())
        else:
            dag_run = {"dag_run_id": run_id, "state": "running"}  # a task of it is not done: it runs
        outputs = {(instance["task_id"], map_index_of(instance)): self._outputs(dag_id, run_id, instance)
                   for instance in instances if instance.get("state") == "success"}
        return engine_run(dag_run, instances, outputs)

    def _outputs(self, dag_id: str, run_id: str, instance: Mapping) -> dict:
        """What a task instance published: each output under its own XCom key (the export's rule).
        Kept per try once read: a succeeded try's XCom does not change (a clear makes a new try)."""
        task_id, index = instance["task_id"], map_index_of(instance)
        key = (dag_id, run_id, task_id, index, instance.get("try_number"))
        found = self._published.get(key)
        if found is None:
            keys = self.client.xcom_keys(dag_id, run_id, task_id, index)
            found = {name: self.client.xcom(dag_id, run_id, task_id, name, index)
                     for name in keys if name != "return_value"}
            if len(self._published) > MAX_PUBLISHED:
                self._published.clear()
            self._published[key] = found
        return found

    def stop_runs(self, handles: Iterable[str]) -> None:
        for handle in dict.fromkeys(handles):
            dag_id, run_id, _ = split_handle(handle)
            dag_run = self.client.dag_run(dag_id, run_id)
            if dag_run is MISSING or dag_run.get("state") in _DAG_RUN_FINAL:
                continue
            self.client.set_dag_run_state(dag_id, run_id, "failed")

    # -- the per-attempt interface, for what reaches it -----------------------------
    def submit(self, submission: Submission) -> str:
        raise SubmitError("the airflow backend is handed whole runs, not attempts", permanent=True)

    def sync(self, handles: Iterable[str]) -> dict[str, Observation]:
        return {}

    def stop(self, handles: Iterable[str]) -> None:
        """A run's handle stops its DAG run; an op's, its task (failed there: Airflow ends the
        process, and its scheduler decides the downstream tasks by their trigger rules)."""
        runs, tasks = [], []
        for handle in handles:
            (tasks if split_handle(handle)[2] else runs).append(handle)
        self.stop_runs(runs)
        for handle in tasks:
            dag_id, run_id, task_id, index = split_trial_handle(handle)
            instance = self.client.task_instance(dag_id, run_id, task_id, index)
            if instance and instance.get("state") not in _TASK_FINAL:
                self.client.set_task_state(dag_id, run_id, task_id, "failed", index)

    def logs(self, handle: str, tail: int | None = None) -> list[str]:
        dag_id, run_id, task_id, index = split_trial_handle(handle)
        instance = self.client.task_instance(dag_id, run_id, task_id, index)
        if not instance or not instance.get("try_number"):
            return []
        events = self.client.log_events(dag_id, run_id, task_id, instance["try_number"], index)
        lines = [f"{stamp} {text}" if stamp else text for stamp, text in events]
        return lines[-tail:] if tail else lines

    def read_metrics(self, cursors: Mapping[str, str]) -> dict[str, tuple[list[str], str]]:
        """The `polyflow:metrics` lines each task printed since its cursor, "<try>.<events read>"
        (a task's log is read whole from Airflow's API: at most one read per task and second,
        the metrics module's pace)."""
        result: dict[str, tuple[list[str], str]] = {}
        for handle, cursor in cursors.items():
            try:
                dag_id, run_id, task_id, index = split_trial_handle(handle)
                try_number, read = _metrics_cursor(cursor)
                if try_number is None:
                    instance = self.client.task_instance(dag_id, run_id, task_id, index)
                    try_number = (instance or {}).get("try_number") or 0
                    if not try_number:
                        result[handle] = ([], "")  # not started there yet
                        continue
                events = self.client.log_events(dag_id, run_id, task_id, try_number, index)
                events = events[read:read + MAX_METRIC_EVENTS]
            except (AirflowError, ValueError) as error:  # asked again next time
                logger.warning("airflow backend: cannot read the metrics of %s: %s", handle, error)
                continue
            result[handle] = ([text for _, text in events if is_metric_line(text)],
                              f"{try_number}.{read + len(events)}")
        return result

    def end_run(self, run_uuid: str) -> None:
        """A run Polyflow ended (stopped with nothing in flight, say): its DAG run must not go on."""
        from ..models import OperationRun

        handle = (OperationRun.objects.filter(run__uuid=run_uuid, backend=self.name).exclude(handle="")
                  .values_list("handle", flat=True).first())
        if handle:
            dag_id, run_id, _ = split_handle(handle)
            self.stop_runs([f"{dag_id}/{run_id}"])

    def describe_once(self) -> str:
        return (f"backend: airflow at {self.client.url} (DAG files in {self.dags_folder}, "
                f"{self.executor} executor)")
