"""The backend interface the scheduler talks to.

A backend is handed one attempt of one op run at a time (`submit`), reports
the state of many at once (`sync`, one call per tick), stops them (`stop`) and
reads their logs (`logs`). Submitting is idempotent by the attempt's key: a
second submit of the same key (two ticks racing, a worker that died between
submitting and recording) finds the first one and starts nothing new.
"""

from __future__ import annotations

import datetime as dt
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..spec.plan import TemplateSpec, WorkspaceSpec

PENDING, RUNNING, SUCCEEDED, FAILED, LOST = "pending", "running", "succeeded", "failed", "lost"


@dataclass(frozen=True)
class ArtifactInput:
    """An input of type `path` fed by an upstream op's `path` output (DESIGN section 10): the
    backend downloads it before the op starts and gives the op the local path instead of `uri`."""

    uri: str
    kind: str = "file"  # polyflow.artifacts.store.FILE or DIRECTORY


@dataclass(frozen=True)
class ArtifactOutput:
    """An output of type `path`: the op writes it at $POLYFLOW_OUTPUTS_DIR/<name>; after a
    successful attempt the backend uploads it to `uri` (`python -m polyflow.artifacts push`)."""

    uri: str
    optional: bool = False


@dataclass(frozen=True)
class Submission:
    key: str  # unique per attempt: "<pipeline>-<op>-<run short uuid>-<attempt>", a DNS-1123 label
    pipeline: str
    op: str
    run_uuid: str
    attempt: int
    template: TemplateSpec
    params: Mapping[str, object]  # resolved: references filled in, defaults applied
    globals: Mapping[str, object]  # run_uuid, schedule_at, op_name, attempt
    timeout: int | None = None  # seconds per attempt
    project: str = ""  # "owner/project", for labels
    trial: int | None = None  # a matrix trial's index (DESIGN section 9)
    # Artifacts (DESIGN section 10), by input and output name. `params` holds an artifact
    # input's URI: `container.localized` swaps in the path where the backend puts it.
    artifact_inputs: Mapping[str, ArtifactInput] = field(default_factory=dict)
    artifact_outputs: Mapping[str, ArtifactOutput] = field(default_factory=dict)
    manifest_uri: str = ""  # where the upload writes its records; "" with no path outputs
    workspace: WorkspaceSpec | None = None  # the run's shared volume (a pipeline's `workspace`)


@dataclass(frozen=True)
class Observation:
    """What a backend knows of one submitted attempt."""

    state: str  # PENDING, RUNNING, SUCCEEDED, FAILED or LOST (the backend has no trace of it)
    exit_code: int | None = None
    reason: str = ""  # e.g. "timeout", "OOMKilled", "stopped", "lost"
    message: str = ""
    # What the op published, as published: the text of its outputs file or
    # termination message (or a decoded mapping). Backends pass it on unread:
    # scheduler/outputs.py is the one parser that checks it, for all of them.
    outputs: str | bytes | Mapping[str, object] | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    # Set by a backend that decides runs itself (`Backend.runs_whole_runs`): the op status its
    # own scheduler gave the task (an OpStatus: skipped, upstream_failed, retrying...), and the
    # attempt it is on. "" and None for a backend that runs what it is handed.
    status: str = ""
    attempt: int | None = None

    @property
    def final(self) -> bool:
        return self.state in (SUCCEEDED, FAILED, LOST)


@dataclass(frozen=True)
class RunHandover:
    """A whole run handed to a backend that runs it with its own scheduler (Airflow): the plan
    with the run's params applied, and the ops Polyflow wants run (all of them at first; after
    an explicit retry, those the retry brought back)."""

    run_uuid: str
    pipeline: str
    project: str
    plan: object  # spec.plan.Plan, the run's own
    overrides: Mapping[str, Mapping[str, object]]  # the run's params, by op
    schedule_at: dt.datetime | None
    ops: tuple[str, ...]


@dataclass(frozen=True)
class EngineRun:
    """What a backend that decides runs itself knows of one of them, with each task's state."""

    state: str  # PENDING (queued there), RUNNING, SUCCEEDED, FAILED, or LOST (it has no such run)
    tasks: Mapping[str, Observation] = field(default_factory=dict)  # by op name
    message: str = ""
    # A matrix op's trials there (Airflow's mapped task instances): by op name, then trial index.
    trials: Mapping[str, Mapping[int, Observation]] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.state in (SUCCEEDED, FAILED)


def engine_handle(run_handle: str, op: str, trial: int | None = None) -> str:
    """An op run's handle on a backend that decides runs itself: "<run handle>/<op>[/<trial>]"."""
    return f"{run_handle}/{op}" if trial is None else f"{run_handle}/{op}/{trial}"


def engine_run_handle(handle: str, op: str, trial: int | None = None) -> str:
    """The run's handle in an op run's (engine_handle's inverse)."""
    return handle[: -len(engine_handle("", op, trial))]


class SubmitError(Exception):
    """A submit that failed. `permanent` errors fail the attempt (no use retrying
    the same thing); others leave it scheduled for the next tick to submit again."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class Backend(ABC):
    name: str
    # Whether the hand-off reads what it has just submitted at once: worth it where an
    # attempt may end within milliseconds and reading is cheap (local processes); where
    # it is a LIST of every pod and a pod takes seconds to start, the watch reports it.
    sync_after_submit: bool = True

    @abstractmethod
    def submit(self, submission: Submission) -> str:
        """Start the attempt (or find it started); return its handle."""

    @abstractmethod
    def sync(self, handles: Iterable[str]) -> dict[str, Observation]:
        """The state of every handle, in one call."""

    @abstractmethod
    def stop(self, handles: Iterable[str]) -> None:
        """Ask the attempts to end; `sync` reports when they have."""

    @abstractmethod
    def logs(self, handle: str, tail: int | None = None) -> list[str]:
        """The attempt's log lines (the last `tail` of them when given)."""

    def read_metrics(self, cursors: Mapping[str, str]) -> dict[str, tuple[list[str], str]]:
        """The log lines each attempt printed since its cursor: {handle: (lines, new cursor)}.

        The metrics protocol (docs/metrics.md): ops print `polyflow:metrics {...}` lines,
        which the scheduler's one parser (scheduler/metric_lines.py) reads, whatever the
        backend. A cursor is the backend's own text ("" for the start of the log), at most
        48 characters; only whole lines are returned (a line still being written is left
        for the next read), each at most once, and a read is bounded in size. A backend may
        leave out lines that are no metric lines (`metric_lines.is_metric_line`). An
        attempt whose log cannot be read now is left out of the answer (asked again next
        time); never raises for one attempt's sake. This default has no logs to read.
        """
        return {}

    def end_run(self, run_uuid: str) -> None:
        """Optional: release what the backend holds for a run that has ended (its workspace).
        Idempotent: the scheduler calls it once a run is final, and again should it fail."""
        return None

    def prepare(self) -> None:
        """Optional: get ready for submits that are about to come (the local backend starts
        its runner server in the background). Never raises: a submit does what is left."""
        return None

    def reconcile(self, force: bool = False) -> object | None:
        """Optional: compare what runs with what is recorded (adopt, report lost and orphaned
        attempts). The tick calls it at the start of every tick; a backend does the work only
        when it is due (at start, then periodically) or forced, and returns a report, else None."""
        return None

    def watch(self, timeout: float) -> list[str]:
        """Wait up to `timeout` seconds for attempts of this backend to change state; return
        the handles that did (as far as the backend knows: [] says only that time ran out).

        The hand-off on completion: a scheduler loop waits here instead of sleeping, and ticks
        the runs of what changed at once. Calls resume where the previous call left off, so
        nothing that happens between two calls is missed. This default knows of no change
        and only sleeps; the periodic tick stays the safety net whatever a backend does.
        """
        time.sleep(max(timeout, 0.0))
        return []

    def observed(self, handles: Iterable[str]) -> dict[str, Observation]:
        """What the last `watch` call already saw of some of these attempts, as `sync` would
        report it (the hand-off then needs no sync for them); the others are left out. This
        default saw nothing: the scheduler syncs them all."""
        return {}

    # -- Backends that run whole runs with their own scheduler (Airflow) ----------------
    # Such a backend is handed a run, not attempts: its scheduler decides what runs when
    # (trigger rules, retries, timeouts, concurrency) and Polyflow mirrors what it reports
    # (scheduler/mirror.py). Each op run's handle is "<run handle>/<task>".
    runs_whole_runs: bool = False

    def run_handle(self, handover: RunHandover) -> str:
        """The run's handle there, known before it is handed over (its key: handing the same
        run over twice finds the first)."""
        raise NotImplementedError

    def hand_over(self, handover: RunHandover) -> None:
        """Start the run there, or run again the ops of `handover.ops` in a run it has.
        SubmitError: permanent fails the run; else the next tick hands it over again."""
        raise NotImplementedError

    def sync_runs(self, handles: Iterable[str]) -> dict[str, EngineRun]:
        """What it knows of each run (a run it cannot be asked about now is left out)."""
        raise NotImplementedError

    def stop_runs(self, handles: Iterable[str]) -> None:
        """Ask the runs to end: their tasks end there, as `sync_runs` then reports."""
        raise NotImplementedError

    def describe_once(self) -> str:
        """A line the scheduler logs once when it starts using the backend."""
        return f"backend: {self.name}"
