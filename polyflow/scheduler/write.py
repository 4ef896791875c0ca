"""Writing a batch's decisions: one UPDATE per status or reason group, however many
op runs it moves or holds, with each run's failure kept to that run.

All runs' changes are written together in a savepoint. If that fails (bad data
the checks missed, an integrity error, a bug), it is rolled back and each run
is written again in a savepoint of its own: the run that fails is rolled back
alone and its error recorded on it (`PipelineRun.scheduler_error`, shown by the
API, the CLI and the dashboard), and every other run goes on.
"""

from __future__ import annotations

import logging
import traceback
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Case, CharField, Value, When
from django.utils import timezone

from ..backends.base import Submission
from ..models import OperationRun, PipelineRun
from ..services.transitions import record_created, transition
from ..spec.plan import OpSpec
from ..statuses import OP_FINAL, RUN_FINAL, OpStatus
from ..telemetry.context import about
from .decide import RunDecision
from .recording import write_artifacts, write_consumers
from .snapshot import OpState

logger = logging.getLogger("polyflow.scheduler")
MAX_ERROR_LENGTH = 4000


@dataclass
class ToSchedule:
    """An attempt to submit: written `scheduled` first, then handed to `backend` after the commit."""

    op: OpState
    run_pk: int
    submission: Submission
    backend: str
    spec: OpSpec | None = None  # its retries: a submit the backend refuses is a failed attempt
    cache_key: str = ""  # recorded with the attempt: a later cached op may reuse it
    consumes: tuple[str, ...] = ()  # the URIs of the artifacts its inputs download


@dataclass
class Written:
    finished: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # op runs by final status
    retrying: int = 0
    held: set[int] = field(default_factory=set)  # op run pks
    scheduled: list[ToSchedule] = field(default_factory=list)  # moved: to submit
    runs_finished: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[int, str] = field(default_factory=dict)  # run pk -> why it could not be written

    def add(self, other: Written) -> None:
        for status, n in other.finished.items():
            self.finished[status] += n
        for status, n in other.runs_finished.items():
            self.runs_finished[status] += n
        self.retrying += other.retrying
        self.held |= other.held
        self.scheduled += other.scheduled
        self.errors.update(other.errors)


def write_isolated(decisions: Sequence[RunDecision], to_schedule: dict[int, list[ToSchedule]], now) -> Written:
    """Write every decision; a run whose write fails is rolled back alone and its error recorded."""
    try:
        with transaction.atomic():
            return _write(decisions, to_schedule, now)
    except Exception:  # noqa: BLE001 - find the run at fault below, and keep the others
        if len(decisions) == 1:
            written = Written()
            _record_failure(decisions[0], written, now)
            return written
    written = Written()
    for decision in decisions:
        try:
            with transaction.atomic():
                written.add(_write([decision], to_schedule, now))
        except Exception:  # noqa: BLE001 - this run's failure is this run's
            _record_failure(decision, written, now)
    return written


def _record_failure(decision: RunDecision, written: Written, now) -> None:
    message = f"could not write this run's changes: {traceback.format_exc(limit=3).strip()}"
    with about(decision.run.uuid, decision.run.plan.name):
        logger.exception("run %s (pipeline %s): %s", decision.run.uuid, decision.run.plan.name, "write failed")
    written.errors[decision.run.pk] = message
    record_errors({decision.run.pk: message}, now)


def record_errors(errors: dict[int, str], now=None) -> None:
    """Why these runs could not be advanced: on the run, where the API, CLI and dashboard show it."""
    now = now or timezone.now()
    for pk, message in errors.items():
        PipelineRun.objects.filter(pk=pk).update(scheduler_error=message[:MAX_ERROR_LENGTH], scheduler_error_at=now)


def _write(decisions: Sequence[RunDecision], to_schedule: dict[int, list[ToSchedule]], now) -> Written:
    written = Written()
    _write_handles(decisions, now)
    _write_changes(decisions, written, now)
    write_artifacts({pk: record for d in decisions for pk, record in d.artifacts.items()}, now)
    _write_new_trials(decisions, now)
    _write_scheduled([item for d in decisions for item in to_schedule.get(d.run.pk, ())], written, now)
    _write_holds(decisions, written, now)
    _write_runs(decisions, written, now)
    cleared = [d.run.pk for d in decisions if d.run.had_error]
    if cleared:
        PipelineRun.objects.filter(pk__in=cleared).update(scheduler_error="", scheduler_error_at=None)
    return written


def _write_changes(decisions: Iterable[RunDecision], written: Written, now) -> None:
    """Op run transitions: an op run may move twice in one decision (running -> retrying ->
    scheduled, or scheduled -> stopping -> stopped), so the n-th moves of all op runs are
    written together, then the (n+1)-th, each as one UPDATE per target status."""
    waves: list[dict[str, dict[int, dict]]] = []
    for decision in decisions:
        seen: dict[int, int] = defaultdict(int)
        for change in decision.changes:
            wave = seen[change.pk]
            seen[change.pk] += 1
            while len(waves) <= wave:
                waves.append(defaultdict(dict))
            waves[wave][change.status][change.pk] = {**change.fields, "reason": change.reason,
                                                      "message": change.message}
    for wave in waves:
        for status, rows in wave.items():
            moved = transition(list(rows), status, model=OperationRun, now=now, per_row=rows)
            if status in OP_FINAL:
                written.finished[status] += len(moved)
            elif status == OpStatus.RETRYING:
                written.retrying += len(moved)


def _write_handles(decisions: Iterable[RunDecision], now) -> None:
    """The handles of the op runs handed over to a backend that decides the run itself, written
    before the hand-over (DESIGN section 8's order: a worker that dies after it hands the run
    over again, and the backend finds the first)."""
    for decision in decisions:
        if decision.handles:
            OperationRun.objects.filter(pk__in=list(decision.handles), handle="").update(
                backend=decision.handover_backend, handle=by_pk(decision.handles), updated_at=now)


def _write_new_trials(decisions: Iterable[RunDecision], now) -> None:
    """The trials of the groups that started: created op runs, numbered in trial order (the
    unique (run, op, trial) constraint refuses a second set made by a racing worker)."""
    wanted = {pk: trials for d in decisions for pk, trials in d.new_trials.items()}
    if not wanted:
        return
    groups = OperationRun.objects.filter(pk__in=list(wanted), trial__isnull=True, status=OpStatus.RUNNING)
    rows = []
    for pk, run_id, operation_id, name, params in groups.values_list("pk", "run_id", "operation_id", "name",
                                                                     "params"):
        rows += [OperationRun(run_id=run_id, operation_id=operation_id, name=name, trial=index,
                              trial_params=trial, params={**params, **trial}, created_at=now)
                 for index, trial in enumerate(wanted[pk])]
    record_created(OperationRun.objects.bulk_create(rows), now)


def _write_scheduled(items: list[ToSchedule], written: Written, now) -> None:
    """Record each attempt before it is submitted: scheduled, with no handle until the backend
    has it (a worker that dies before then leaves it for the next tick to send again, same key)."""
    for from_status, next_attempt in ((OpStatus.CREATED, False), (OpStatus.RETRYING, True)):
        group = {item.op.pk: item for item in items if item.op.status == from_status}
        if not group:
            continue
        rows = {pk: {"handle": "", "backend": item.backend, "params": dict(item.submission.params),
                     "reason": "", "message": "", "cache_key": item.cache_key} for pk, item in group.items()}
        moved = transition(list(group), OpStatus.SCHEDULED, model=OperationRun, now=now, per_row=rows,
                           next_attempt=next_attempt, updates={"retry_at": None} if next_attempt else None)
        written.scheduled += [group[pk] for pk in moved]
        write_consumers({(group[pk].run_pk, pk): group[pk].consumes for pk in moved if group[pk].consumes})
    # Scheduled before and never handed over: sent again as they are.
    written.scheduled += [item for item in items if item.op.status == OpStatus.SCHEDULED]


def _write_holds(decisions: Iterable[RunDecision], written: Written, now) -> None:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for decision in decisions:
        ops = {op.pk: op for op in decision.run.every_op()}
        for pk, hold in decision.holds.items():
            written.held.add(pk)
            op = ops[pk]
            if (op.reason, op.message) != (hold.reason, hold.message):
                groups[(hold.reason, hold.message)].append(pk)
    for (reason, message), pks in groups.items():
        # Only op runs still waiting: a request may have stopped one meanwhile.
        OperationRun.objects.filter(pk__in=pks, status=OpStatus.CREATED).update(
            reason=reason, message=message, updated_at=now)


def _write_runs(decisions: Iterable[RunDecision], written: Written, now) -> None:
    waves: list[dict[tuple[str, str, str], list[int]]] = []
    for decision in decisions:
        for index, change in enumerate(decision.run_changes):
            while len(waves) <= index:
                waves.append(defaultdict(list))
            waves[index][(change.status, change.reason, change.message)].append(decision.run.pk)
    for wave in waves:
        for (status, reason, message), pks in wave.items():
            moved = transition(pks, status, model=PipelineRun, now=now, reason=reason, message=message)
            if status in RUN_FINAL:
                written.runs_finished[status] += len(moved)


def by_pk(values: Mapping[int, str]) -> Case:
    """One CASE giving each row its own value, for one UPDATE of many rows."""
    return Case(*(When(pk=pk, then=Value(value)) for pk, value in values.items()), output_field=CharField())
