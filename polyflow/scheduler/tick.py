"""One scheduler tick: create due runs, then advance the active runs batch by batch.

Each batch is a round trip of four steps (DESIGN section 8):

1. load   (snapshot.py) lock the leased runs and read them in a fixed number of queries;
2. decide (decide.py)   one pure decision per run, then the concurrency limits across them;
3. write  (write.py)    the changes in bulk, each run's failure kept to that run; commit;
4. hand over (handover.py) with no transaction open: stop, submit, record the answers, sync.

and again while the backend reports news (a chain advances within one tick),
for up to ROUNDS_BUDGET seconds. Batches are leased (claims.py), so workers
ticking at once share the runs and an API request never waits for a backend.

Safe to run twice at once: every status change is a conditional UPDATE and a
submit is idempotent by the attempt's key, so an op run reaches the backend at
most once per attempt even if a worker dies between any two steps.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from ..backends import RUN_ENGINES, Backend, Observation, get_backend
from ..conf import polyflow_settings
from ..models import OperationRun
from ..spec.references import ExpressionError
from ..statuses import OP_FINAL, OpStatus
from ..telemetry import heartbeat, instruments
from ..telemetry.context import about
from . import claims, handover, run_end
from .creation import create_due_runs
from .decide import BUSY, OpChange, RunDecision, build_submission, decide_run, next_attempt
from .expansion import expand_group
from .holds import Hold
from .limits import Candidate, admit
from .metrics import collect_metrics
from .mirror import engine_of, mirror_run
from .params import UnresolvedReference
from .recording import LazyStore, read_results
from .snapshot import (
    Batch,
    Published,
    attempts_of,
    engine_runs,
    in_flight,
    load_outputs,
    load_trial_params,
    lock_and_load,
    params_of,
    referenced_ops,
)
from .starts import start_created_runs
from .submissions import Pending, complete
from .write import ToSchedule, Written, record_errors, write_isolated

logger = logging.getLogger("polyflow.scheduler")

# A batch advances for as long as the backend reports news, for up to this many
# seconds (an instant backend would otherwise keep one batch for a whole long chain).
ROUNDS_BUDGET = 2.0


@dataclass
class TickReport:
    runs_created: int = 0
    runs_started: int = 0
    submitted: int = 0
    finished: Counter = field(default_factory=Counter)  # op runs by final status
    retrying: int = 0
    held_ops: set = field(default_factory=set)  # op run pks that waited on a hold
    runs_finished: Counter = field(default_factory=Counter)
    passes: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)
    busy: list[int] = field(default_factory=list)  # asked-for runs another worker was advancing

    def lines(self) -> list[str]:
        parts = [f"{self.runs_created} run(s) created", f"{self.runs_started} started",
                 f"{self.submitted} op run(s) submitted"]
        parts += [f"{n} {status}" for status, n in sorted(self.finished.items()) if n]
        if self.retrying:
            parts.append(f"{self.retrying} retrying")
        if self.held:
            parts.append(f"{self.held} waiting")
        parts += [f"{n} run(s) {status}" for status, n in sorted(self.runs_finished.items()) if n]
        return [", ".join(parts)] + self.errors

    @property
    def held(self) -> int:
        return len(self.held_ops)

    def add(self, written: Written) -> None:
        self.finished.update(written.finished)
        self.runs_finished.update(written.runs_finished)
        self.retrying += written.retrying
        self.held_ops |= written.held
        self.errors += [f"run {pk}: {message.splitlines()[0]}" for pk, message in written.errors.items()]


def tick(now: dt.datetime | None = None, backend: Backend | None = None) -> TickReport:
    """The periodic tick: every pipeline's due runs, then every active run, batch by batch."""
    began = time.perf_counter()
    fixed = now is not None
    now = now or timezone.now()
    report = TickReport()
    report.runs_created = len(create_due_runs(now))
    report.runs_started = len(start_created_runs(now))
    _reconcile(backend, report)
    _Worker(now, backend, report, fixed_clock=fixed).advance_all()
    took = time.perf_counter() - began
    instruments.tick_done("tick", took, report)
    heartbeat.beat(took)  # what /readyz reads: at most one write a second per process
    return report


def advance(run_ids: Iterable[int] = (), now: dt.datetime | None = None, backend: Backend | None = None, *,
            start: bool = True, handles: Iterable[str] = ()) -> TickReport:
    """Advance these runs now: the hand-off when one of their attempts changed, or when a
    request created or retried them (`start`: created runs among them start first).

    `handles` are attempts the backend reported changed (`Backend.watch`): their runs are
    advanced too, and what the backend says of them is read first, with no query for them.
    Runs another worker is advancing at this moment are left to it and listed in
    `report.busy` (the caller may ask again shortly; the periodic tick is the net).
    """
    began = time.perf_counter()
    fixed = now is not None
    now = now or timezone.now()
    run_ids = list(run_ids)
    changed = attempts_of(handles) if handles else {}
    run_ids += [pk for pk in changed if pk not in run_ids]
    report = TickReport()
    if start:
        report.runs_started = len(start_created_runs(now, only=run_ids))
    worker = _Worker(now, backend, report, eager=False, fixed_clock=fixed)
    worker.changed = changed
    claimed = worker.advance_all(only=run_ids)
    if set(run_ids) - claimed:
        report.busy = claims.held_by_others(worker.owner, set(run_ids) - claimed)
    instruments.tick_done("advance", time.perf_counter() - began, report)
    return report


def _ended(observations: dict[str, Observation]) -> list[str]:
    """The attempts the backend reports ended."""
    return [handle for handle, observation in observations.items() if observation.final]


def _ends(decisions: list[RunDecision], observations: dict[str, Observation],
          failed_runs: set[int]) -> dict[str, list[float]]:
    """{backend: [end times]} of the attempts whose end these decisions wrote, as their
    backend timed it: the start of their hand-off."""
    ends: dict[str, list[float]] = defaultdict(list)
    for decision in decisions:
        if decision.run.pk in failed_runs:
            continue
        ops = None
        for change in decision.changes:
            if change.status not in OP_FINAL and change.status != OpStatus.RETRYING:
                continue
            if ops is None:
                ops = {op.pk: op for op in decision.run.every_op()}
            op = ops.get(change.pk)
            observation = observations.get(op.handle) if op is not None and op.handle else None
            if observation is not None and observation.final and observation.finished_at is not None:
                ends[op.backend or ""].append(observation.finished_at.timestamp())
    return ends


def _reconcile(backend: Backend | None, report: TickReport) -> None:
    """The backend's reconciliation, when it is due (the backend decides); never fatal to the tick."""
    try:
        (backend or get_backend()).reconcile()
    except Exception as error:  # an API server that cannot be reached must not stop the tick
        logger.warning("reconcile: %s", error)
        report.errors.append(f"reconcile: {error}")


class _Worker:
    def __init__(self, now: dt.datetime, backend: Backend | None, report: TickReport, eager: bool = True,
                 fixed_clock: bool = False):
        self.now = now
        # A tick asked for a given time (tests, `polyflow tick --now`) decides as of it
        # throughout; otherwise each round reads the clock, so that what it records
        # (an op's end, the history's times) is not as old as the tick.
        self.fixed_clock = fixed_clock
        # The periodic tick records every start it sees before it returns; the hand-off
        # (advance) goes back to waiting on the backend as soon as nothing has ended, so
        # that the end of a short op is acted on at once (its start is written with it).
        self.eager = eager
        self.default_backend = backend
        self.report = report
        self.backends: dict[str, Backend] = {}
        self.owner = claims.worker_id()
        self.changed: dict[int, list[tuple[str, str]]] = {}  # run -> attempts the backend said changed
        # {backend: [when attempts ended]} written by the last round: their hand-off latency is
        # measured once what follows them is submitted (only while metrics are recorded).
        self.ended_at: dict[str, list[float]] = {}
        # Artifacts (DESIGN section 10): the store, opened when first needed; what succeeded
        # attempts stored (read after each sync, written with their success); and whether a
        # cached op succeeded in the last round (its downstream is looked at in the next).
        self.store = LazyStore()
        self.records: dict[int, object] = {}
        self.rescan = False
        # Runs a backend decides itself (mirror.py): what it reported of them before this batch's
        # first round (later rounds have nothing newer), and the runs to hand over after a round.
        self.engines: dict[int, object] = {}
        self.handovers: list[RunDecision] = []
        self.engine_ended: list[str] = []  # their op runs the last round made final: logs read once more

    def backend(self, name: str | None = None) -> Backend:
        if self.default_backend is not None and name in (None, "", self.default_backend.name):
            return self.default_backend
        name = name or polyflow_settings.BACKEND
        if name not in self.backends:
            self.backends[name] = get_backend(name)
        return self.backends[name]

    def advance_all(self, only: list[int] | None = None) -> set[int]:
        """Claim and advance batch after batch until none is left; return the runs it advanced."""
        started = timezone.now()
        advanced: set[int] = set()
        limit = polyflow_settings.TICK_BATCH_SIZE
        while True:
            batch = claims.claim(self.owner, limit=limit, not_ticked_since=started, only=only)
            if not batch:
                return advanced
            self.report.batches += 1
            instruments.batch_claimed(len(batch))
            advanced.update(batch)
            try:
                self.advance_batch(batch)
            finally:
                claims.release(self.owner, batch)
            if len(batch) < limit:
                return advanced  # nothing more was free to claim

    def advance_batch(self, run_ids: list[int]) -> None:
        # What the backend says of the attempts in flight, read before the first round
        # (no lock held), so that round already acts on what ended.
        known = [pair for pk in run_ids for pair in self.changed.get(pk, ())]
        observations: dict[str, Observation] = (handover.sync(self.backend, known, watched=True) if known
                                                else handover.sync(self.backend, in_flight(run_ids)))
        observations = self._with_artifacts(observations)
        self.engines = handover.sync_runs(self.backend, engine_runs(run_ids))
        # The metrics printed since the last read, before anything is decided (after the sync: an
        # attempt it saw end has its whole log, and its last lines rank a trial or stop a group).
        collect_metrics(self.backend, run_ids, ended=_ended(observations), now=self.now)
        stop_sent: set[str] = set()
        claimed_at = time.monotonic()
        deadline = claimed_at + ROUNDS_BUDGET
        first = True
        while True:
            self.report.passes += 1
            if not self.fixed_clock:
                self.now = timezone.now()
            flying, scheduled, to_stop, again = self.round(run_ids, observations, stop_sent, first)
            first, self.rescan = self.rescan, False
            handover.stop(self.backend, to_stop)
            stop_sent.update(handle for _, handle in to_stop)
            if self.handovers:
                self.report.errors += handover.hand_over(self.backend, self.handovers, self.now)
                self.handovers = []
            if self.engine_ended:
                # What they printed last: the metrics read before the round saw them still running, if at all.
                collect_metrics(self.backend, run_ids, ended=self.engine_ended, only=True, now=self.now)
                self.engine_ended = []
            answers = handover.submit(self.backend, scheduled)
            if self.ended_at:
                self._handoffs()
            failed, orphans = handover.record(answers, self.now)
            if failed:
                self.report.finished[OpStatus.FAILED] += failed
            self.report.submitted += len(answers.handles)
            self.report.errors += [f"{answers.keys[pk]}: {message} (will submit again)"
                                   for pk, message in answers.transient.items()]
            handover.stop(self.backend, orphans)
            stop_sent.update(handle for _, handle in orphans)
            if time.monotonic() - claimed_at > polyflow_settings.RUN_LEASE / 2:
                claims.renew(self.owner, run_ids)
                claimed_at = time.monotonic()
            flying.update({(answers.backends[pk], handle): OpStatus.SCHEDULED
                           for pk, handle in answers.handles.items()})
            if not (answers.handles or to_stop or orphans or again or failed) or time.monotonic() > deadline:
                # Nothing new is in flight since the observations this round acted on, or the
                # batch's time is up: the next claim of these runs syncs before it decides.
                return
            if not (self.eager or again or failed or self.backend().sync_after_submit):
                return  # the hand-off: the backend's watch reports what was just submitted
            observations = self._with_artifacts(handover.sync(self.backend, flying) if flying else {})
            if ended := _ended(observations):
                collect_metrics(self.backend, run_ids, ended=ended, only=True, now=self.now)
            statuses = {handle: status for (_, handle), status in flying.items()}
            if not (again or failed or handover.news(observations, statuses, starts=self.eager)):
                return

    def round(self, run_ids, observations, stop_sent, first: bool):
        """Load, decide and write one round in one short transaction; return what to hand over:
        ({(backend, handle): status} in flight, [ToSchedule] to submit, [(backend, handle)] to stop,
        whether op runs failed while preparing, so that their downstream is decided in another round)."""
        with transaction.atomic():
            batch = lock_and_load(run_ids)
            errors = dict(batch.broken)
            decisions: list[RunDecision] = []
            engines, self.engines = self.engines, {}
            engine_decided: set[int] = set()
            for run in batch.runs.values():
                with about(run.uuid, run.plan.name):  # what this run's log lines are about
                    try:
                        engine = engine_of(run, self._default_engine(), RUN_ENGINES)
                        if engine:
                            engine_decided.add(run.pk)
                            decisions.append(mirror_run(run, engines.get(run.pk), self.now, backend=engine,
                                                        handle_of=self.backend(engine).run_handle,
                                                        stop_sent=stop_sent))
                        else:
                            decisions.append(decide_run(run, observations, self.now, first=first,
                                                        stop_sent=stop_sent))
                    except Exception:  # noqa: BLE001 - a bug or bad data in one run is that run's
                        logger.exception("run %s (pipeline %s): deciding failed", run.uuid, run.plan.name)
                        errors[run.pk] = f"could not decide this run: {traceback.format_exc(limit=3).strip()}"
            self._within_limits(batch, decisions)
            self._attach_records(decisions)
            to_schedule, again = self._prepare(decisions)
            written = write_isolated(decisions, to_schedule, self.now)
            if errors:
                record_errors(errors, self.now)
                self.report.errors += [f"run {pk}: {message.splitlines()[0]}" for pk, message in errors.items()]
            self.report.add(written)
        failed_runs = set(written.errors) | set(errors)
        flying, to_stop = {}, []
        for decision in decisions:
            if decision.run.pk in failed_runs:
                continue
            backends = {**decision.stop_on, **{op.handle: op.backend for op in decision.run.every_op() if op.handle}}
            to_stop += [(backends.get(handle, ""), handle) for handle in decision.stop]
            changed = {change.pk: change.status for change in decision.changes}
            for op in decision.run.every_op():
                status = changed.get(op.pk, op.status)
                if op.handle and status in BUSY and op.backend not in RUN_ENGINES:
                    flying[(op.backend, op.handle)] = status
            if decision.handover is not None:
                self.handovers.append(decision)
            if decision.run.pk in engine_decided:
                handles = {op.pk: op.handle for op in decision.run.every_op()}  # trials too
                self.engine_ended += [handles[change.pk] for change in decision.changes
                                      if handles.get(change.pk) and (change.status in OP_FINAL
                                                                     or change.status == OpStatus.RETRYING)]
        scheduled = [item for item in written.scheduled if item.run_pk not in failed_runs]
        run_end.release(run_end.ended_runs(d for d in decisions if d.run.pk not in failed_runs), self.backend)
        if observations and instruments.enabled():
            self.ended_at = _ends(decisions, observations, failed_runs)
        return flying, scheduled, to_stop, again

    def _default_engine(self) -> str:
        """The default backend's name when it decides runs itself, else ""."""
        backend = self.backend()
        return backend.name if backend.runs_whole_runs else ""

    def _with_artifacts(self, observations: dict[str, Observation]) -> dict[str, Observation]:
        """Succeeded attempts with path outputs: their manifests read (no transaction open)."""
        observations, records = read_results(observations, self.store)
        self.records.update(records)
        return observations

    def _attach_records(self, decisions: list[RunDecision]) -> None:
        if not self.records:
            return
        for decision in decisions:
            for change in decision.changes:
                if change.status == OpStatus.SUCCEEDED and change.pk in self.records:
                    decision.artifacts[change.pk] = self.records[change.pk]

    def _handoffs(self) -> None:
        clock = time.time()
        instruments.handoffs({backend: [clock - ended for ended in ends] for backend, ends in self.ended_at.items()})
        self.ended_at = {}

    # -- deciding across runs --------------------------------------------------------
    def _within_limits(self, batch: Batch, decisions: list[RunDecision]) -> None:
        """The concurrency limits count across runs: applied to the whole batch's ready op runs."""
        items = []
        for index, decision in enumerate(decisions):
            run = decision.run
            for op in decision.ready:
                items.append(Candidate((index, op.pk), run.pk, run.pipeline_id, op.name, run.plan.concurrency,
                                       run.plan.op(op.name).concurrency))
        if not items:
            return
        global_limit = polyflow_settings.MAX_CONCURRENCY
        if not global_limit and all(c.run_limit is None and c.op_limit is None for c in items):
            return
        per_run = Counter()
        for decision in decisions:
            changed = {change.pk: change.status for change in decision.changes}
            per_run[decision.run.pk] = sum(changed.get(op.pk, op.status) in BUSY for op in decision.run.every_op())
        busy = OperationRun.objects.filter(status__in=BUSY).exclude(run_id__in=list(batch.runs))
        per_op = Counter()
        if any(c.op_limit is not None for c in items):
            pipelines = {c.pipeline for c in items}
            per_op.update({(p, name): n for p, name, n in busy.filter(run__pipeline__in=pipelines)
                           .values("run__pipeline", "name").annotate(n=Count("pk"))
                           .values_list("run__pipeline", "name", "n")})
            for decision in decisions:
                changed = {change.pk: change.status for change in decision.changes}
                for op in decision.run.every_op():
                    if changed.get(op.pk, op.status) in BUSY:
                        per_op[(decision.run.pipeline_id, op.name)] += 1
        total = (busy.count() + sum(per_run.values())) if global_limit else 0
        admitted, held = admit(items, per_run, per_op, total, global_limit)
        admitted = set(admitted)
        for index, decision in enumerate(decisions):
            ops = {op.pk: op for op in decision.ready}
            decision.ready = [op for op in decision.ready if (index, op.pk) in admitted]
            for (held_index, pk), message in held.items():
                if held_index == index and ops[pk].status == OpStatus.CREATED:
                    decision.holds[pk] = Hold("concurrency", message)

    def _prepare(self, decisions: list[RunDecision]) -> tuple[dict[int, list[ToSchedule]], bool]:
        """Submissions of the admitted op runs (params resolved; a missing reference fails its op
        run), and the trials of the groups that start; whether another round is wanted."""
        upstream = {d.run.pk: {up for op in d.ready + d.resend + d.expand for up in referenced_ops(d.run, op.name)}
                    for d in decisions if d.ready or d.resend or d.expand}
        loaded = load_outputs(upstream)
        trial_params = load_trial_params(op.pk for d in decisions for op in d.ready + d.resend
                                         if op.trial is not None)
        backend = self.backend().name
        result: dict[int, list[ToSchedule]] = defaultdict(list)
        pending: list[Pending] = []
        again = False
        for decision in decisions:
            run = decision.run
            again |= decision.again
            outputs = {name: values for (run_pk, name), values in loaded.items() if run_pk == run.pk}
            # Op runs that succeeded in this very decision are not written yet.
            names = {op.pk: op.name for op in run.ops.values()}
            outputs.update({names[change.pk]: Published(change.fields.get("outputs", {}),
                                                        (change.fields.get("summary") or {}).get("best"))
                            for change in decision.changes
                            if change.status == OpStatus.SUCCEEDED and change.pk in names})
            for op in decision.expand:
                again |= expand_group(decision, op, outputs)
            for op in decision.ready + decision.resend:
                attempt = next_attempt(op)
                try:
                    submission = build_submission(run, op, attempt, params_of(run, op.name), outputs,
                                                  trial_params.get(op.pk))
                except (UnresolvedReference, ExpressionError) as error:
                    decision.changes.append(OpChange(op.pk, OpStatus.FAILED, "unresolved_reference", str(error)))
                    again = True
                    continue
                # A resend goes to the backend that was chosen for it.
                chosen = op.backend if op.status == OpStatus.SCHEDULED and op.backend else backend
                pending.append(Pending(decision, op, submission, chosen))
        ready, cached = complete(pending, self.store, self.now, polyflow_settings.CACHE_TTL)
        self.rescan |= cached
        for item in ready:
            result[item.decision.run.pk].append(ToSchedule(item.op, item.decision.run.pk, item.submission, item.backend,
                                                           item.decision.run.plan.op(item.op.name),
                                                           item.cache_key, item.consumes))
        return result, again or cached


__all__ = ["TickReport", "advance", "tick"]
