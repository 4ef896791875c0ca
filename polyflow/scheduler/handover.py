"""Talking to the backends, with no transaction open: submit, stop, sync, and record the answers.

The order is DESIGN section 8's: the attempt is recorded (`scheduled`, no
handle) and committed, then submitted, then its handle recorded in a second
short transaction. Submits are idempotent by the attempt's key, so a worker
that dies between any two steps leaves nothing the next tick cannot repair:
it sends the same key again and the backend answers with the attempt it has.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from django.db import transaction

from ..backends import Backend, Observation, SubmitError
from ..backends.base import RUNNING, EngineRun
from ..models import OperationRun, PipelineRun
from ..services.transitions import transition
from ..statuses import OP_SUBMITTED, RUN_FINAL, OpStatus
from ..telemetry.context import about
from .outcomes import failure
from .write import ToSchedule, by_pk

logger = logging.getLogger("polyflow.scheduler")


@dataclass
class Answers:
    handles: dict[int, str] = field(default_factory=dict)  # op run pk -> handle
    permanent: dict[int, str] = field(default_factory=dict)  # op run pk -> why the backend refused it
    transient: dict[int, str] = field(default_factory=dict)  # op run pk -> why it is to be sent again
    keys: dict[int, str] = field(default_factory=dict)  # op run pk -> attempt key
    backends: dict[int, str] = field(default_factory=dict)
    attempts: dict[int, tuple] = field(default_factory=dict)  # op run pk -> (attempt, OpSpec or None)


def submit(backend_for: Callable[[str], Backend], scheduled: Iterable[ToSchedule]) -> Answers:
    answers = Answers()
    for item in scheduled:
        pk = item.op.pk
        submission = item.submission
        answers.keys[pk] = submission.key
        answers.backends[pk] = item.backend
        answers.attempts[pk] = (submission.attempt, item.spec)
        # What the backend logs while it submits (retries, refusals) is about this attempt.
        with about(submission.run_uuid, submission.pipeline, submission.op, submission.attempt):
            try:
                answers.handles[pk] = backend_for(item.backend).submit(submission)
            except SubmitError as error:
                (answers.permanent if error.permanent else answers.transient)[pk] = str(error)
                logger.debug("submit of %s refused%s: %s", submission.key,
                            "" if error.permanent else " (will submit again)", error)
            except Exception as error:  # noqa: BLE001 - a backend's bug fails that attempt, not the tick
                logger.exception("submit of %s failed", submission.key)
                answers.permanent[pk] = f"the backend failed: {type(error).__name__}: {error}"
            else:
                logger.debug("submitted %s to %s", submission.key, item.backend)
    return answers


def record(answers: Answers, now) -> tuple[int, list[tuple[str, str]]]:
    """Write what the backends answered; return (failed count, [(backend, handle)] to stop).

    An op run stopped while its submit was on the way (a request came in
    meanwhile) has its new attempt stopped too, so no pod or process outlives it.
    """
    if not (answers.handles or answers.permanent):
        return 0, []
    orphans = []
    with transaction.atomic():
        if answers.handles:
            # One statement in the usual case: only op runs still in flight take their handle.
            updated = OperationRun.objects.filter(pk__in=list(answers.handles), status__in=OP_SUBMITTED).update(
                handle=by_pk(answers.handles))
            if updated < len(answers.handles):
                gone = dict(OperationRun.objects.filter(pk__in=list(answers.handles))
                            .exclude(status__in=OP_SUBMITTED).values_list("pk", "status"))
                OperationRun.objects.filter(pk__in=list(gone)).update(
                    handle=by_pk({pk: answers.handles[pk] for pk in gone}))
                orphans = [(answers.backends[pk], answers.handles[pk]) for pk in gone]
        failed = _refused(answers, now)
    return len(failed), orphans


def _refused(answers: Answers, now) -> list[int]:
    """A submit the backend refused is a failed attempt like any other: retried while the op's
    retries (`max_retries`, or its template's `environment.max_restarts`) last, then failed."""
    by_status: dict[str, dict[int, dict]] = defaultdict(dict)
    for pk, message in answers.permanent.items():
        attempt, spec = answers.attempts.get(pk, (1, None))
        if spec is None:
            by_status[OpStatus.FAILED][pk] = {"reason": "submit_error", "message": message}
            continue
        outcome = failure(spec, attempt, "submit_error", message, now)
        by_status[outcome.status][pk] = {**outcome.fields, "reason": outcome.reason, "message": outcome.message}
    failed = []
    for status, rows in by_status.items():
        moved = transition(list(rows), status, model=OperationRun, now=now, per_row=rows)
        if status == OpStatus.FAILED:
            failed += moved
    return failed


def stop(backend_for: Callable[[str], Backend], handles: Iterable[tuple[str, str]]) -> None:
    by_backend = defaultdict(list)
    for name, handle in handles:
        by_backend[name].append(handle)
    for name, group in by_backend.items():
        try:
            backend_for(name).stop(group)
        except Exception as error:  # noqa: BLE001 - asked again at the next tick
            logger.warning("stop of %d attempt(s) on %s failed: %s (asking again next tick)", len(group), name,
                           error)


def sync(backend_for: Callable[[str], Backend], handles: Iterable[tuple[str, str]],
         watched: bool = False) -> dict[str, Observation]:
    """One call per backend for every attempt in flight. `watched`: the handles are what the
    backend's watch just reported, and what it saw of them is taken as it is."""
    by_backend = defaultdict(list)
    for name, handle in handles:
        by_backend[name].append(handle)
    observations: dict[str, Observation] = {}
    for name, group in by_backend.items():
        try:
            backend = backend_for(name)
            if watched:
                observations.update(backend.observed(group))
                group = [handle for handle in group if handle not in observations]
                if not group:
                    continue
            observations.update(backend.sync(group))
        except Exception as error:  # noqa: BLE001 - nothing is known this time; the next sync tells
            logger.warning("sync of %d attempt(s) on %s failed: %s", len(group), name, error)
    return observations


def news(observations: Mapping[str, Observation], in_flight: Mapping[str, str], starts: bool = True) -> bool:
    """Whether the observations change anything, worth another round: an attempt ended or,
    with `starts`, one started (else the next round there is anyway writes the start)."""
    for handle, observation in observations.items():
        if observation.final:
            return True
        if starts and observation.state == RUNNING and in_flight.get(handle) in (OpStatus.SCHEDULED,
                                                                                  OpStatus.STARTING):
            return True
    return False


# -- backends that decide whole runs themselves (scheduler/mirror.py) -------------------------
def sync_runs(backend_for: Callable[[str], Backend], runs: Mapping[int, tuple[str, str]]) -> dict[int, EngineRun]:
    """{run pk: what its backend reports of it}, one call per backend; a run it could not be
    asked about is left out (the mirror then changes nothing of it this time)."""
    by_backend: dict[str, dict[str, int]] = defaultdict(dict)
    for pk, (name, handle) in runs.items():
        by_backend[name][handle] = pk
    found: dict[int, EngineRun] = {}
    for name, handles in by_backend.items():
        try:
            answers = backend_for(name).sync_runs(list(handles))
        except Exception as error:  # noqa: BLE001 - nothing is known this time; the next sync tells
            logger.warning("sync of %d run(s) on %s failed: %s", len(handles), name, error)
            continue
        found.update({handles[handle]: observed for handle, observed in answers.items() if handle in handles})
    return found


def hand_over(backend_for: Callable[[str], Backend], decisions: Iterable, now) -> list[str]:
    """Hand the decisions' runs over (their handles are committed); a refusal fails the op runs
    handed over, saying why, and anything else is tried again at the next tick. Returns what to
    report: one line per run not handed over."""
    problems = []
    for decision in decisions:
        handover = decision.handover
        if handover is None:
            continue
        with about(handover.run_uuid, handover.pipeline):
            backend = backend_for(decision.handover_backend)
            try:
                backend.hand_over(handover)
                if PipelineRun.objects.filter(pk=decision.run.pk, status__in=RUN_FINAL).exists():
                    # Stopped by a request while it was being handed over: it must not go on there.
                    backend.stop_runs([backend.run_handle(handover)])
            except SubmitError as error:
                problems.append(f"run {handover.run_uuid}: {error}" + ("" if error.permanent else " (will try again)"))
                if error.permanent:
                    _refuse_run(decision, str(error), now)
            except Exception as error:  # noqa: BLE001 - a backend's bug fails that run, not the tick
                logger.exception("handing run %s over failed", handover.run_uuid)
                problems.append(f"run {handover.run_uuid}: {error}")
                _refuse_run(decision, f"the backend failed: {type(error).__name__}: {error}", now)
    return problems


def _refuse_run(decision, message: str, now) -> None:
    names = set(decision.handover.ops)
    pks = [op.pk for op in decision.run.ops.values() if op.name in names]
    transition(pks, OpStatus.FAILED, model=OperationRun, reason="submit_error", message=message, now=now)
