"""Collecting the metrics ops report while they run (docs/metrics.md): a step of the tick.

For the runs of a batch, one query finds the attempts worth reading: op runs in flight
(scheduled with a handle, starting, running, stopping), and op runs whose attempt ended
(final or retrying) in the last FINAL_READ_WINDOW and whose log was not read to its end
since (what they printed last). Each backend is asked once for all of its attempts (`Backend.read_metrics`:
the log lines since each cursor), the one parser turns the lines into records
(metric_lines.py), and `services.metrics.record_metrics` stores them in a fixed number
of statements. Nothing here raises: a backend that cannot answer, a bad line, even a
database error is logged, and the tick goes on.

`metrics_cursor` is this module's: `<attempt>:<backend's cursor>`, with a leading `!`
once the attempt has ended and a read after its end found nothing more. A cursor of
another attempt than the op run's is a new attempt: its metrics start anew (the points
of earlier attempts stay, with their attempt number). The op run's `metrics` hold the
latest value of each metric and, under `step`, the attempt's last step (a step is never
a metric name): what a report without a step continues from, and what `best` and early
stopping read.

Call it for runs this worker holds (a tick's claimed batch): two collectors reading the
same attempt at once would store its new points twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from ..backends import Backend
from ..conf import polyflow_settings
from ..models import OperationRun
from ..services.metrics import MetricsRead, record_metrics
from ..statuses import OP_FINAL, OpStatus
from ..telemetry.context import about
from .metric_lines import STEP, parse_metric_lines

logger = logging.getLogger("polyflow.scheduler")

# Attempts read while they run (a scheduled one with a handle may be running already).
READING = (OpStatus.SCHEDULED, OpStatus.STARTING, OpStatus.RUNNING, OpStatus.STOPPING)
# Attempts that ended: final op runs, and retrying ones (their last attempt ended). One that
# ended this recently is read again until a read finds nothing more: the lines it printed
# last (the tick reads them before it decides the end; this is the net).
ENDED = tuple(OP_FINAL | {OpStatus.RETRYING})
FINAL_READ_WINDOW = dt.timedelta(minutes=2)
# A process reads a running attempt at most this often (but for one that just ended): the
# hand-off advances a run at every change of one of its attempts.
MIN_READ_INTERVAL = 1.0
MAX_CURSOR = 64  # OperationRun.metrics_cursor
_CURSOR = re.compile(r"(!?)(\d+):(.*)\Z", re.S)
_read_at: dict[str, float] = {}  # handle -> when this process last read it (monotonic)


@dataclass(frozen=True)
class Cursor:
    attempt: int | None  # None: never read
    position: str = ""  # the backend's own cursor
    done: bool = False  # the attempt ended and its log was read to the end

    @classmethod
    def parse(cls, text: str) -> Cursor:
        match = _CURSOR.match(text or "")
        if match is None:
            return cls(None)
        return cls(int(match.group(2)), match.group(3), bool(match.group(1)))

    def text(self) -> str:
        return f"{'!' if self.done else ''}{self.attempt}:{self.position}"


def collect_metrics(backend_for: Callable[[str], Backend], run_ids: Iterable[int], *, ended: Iterable[str] = (),
                    only: bool = False, now: dt.datetime | None = None) -> int:
    """Read and store the metrics the attempts of these runs reported since the last read;
    return the number of points stored.

    `ended`: attempts the backend has just reported ended, read now however recently they
    were (what they printed last, before their end is decided); `only`: just those. `now`:
    the points' `reported_at`. Never raises; does nothing when `POLYFLOW["COLLECT_METRICS"]`
    is false.
    """
    if not polyflow_settings.COLLECT_METRICS:
        return 0
    run_ids = list(run_ids)
    try:
        return _collect(backend_for, run_ids, set(ended), only, now or timezone.now())
    except Exception:  # noqa: BLE001 - metrics never stop a tick
        logger.exception("collecting the metrics of %d run(s) failed", len(run_ids))
        return 0


def _collect(backend_for, run_ids: list[int], ended: set[str], only: bool, now: dt.datetime) -> int:
    if not run_ids or (only and not ended):
        return 0
    rows = OperationRun.objects.filter(run_id__in=run_ids).exclude(handle="").filter(
        Q(status__in=READING)
        | (Q(status__in=ENDED, updated_at__gte=now - FINAL_READ_WINDOW) & ~Q(metrics_cursor__startswith="!")))
    if only:
        rows = rows.filter(handle__in=ended)
    clock = time.monotonic()
    if len(_read_at) > 10000:
        _read_at.clear()
    wanted: dict[str, dict[str, tuple]] = defaultdict(dict)  # backend -> handle -> row
    # The run's uuid and pipeline come along (one join) for the context of what is logged about a read.
    for row in rows.order_by().values_list("pk", "backend", "handle", "attempt", "status", "metrics",
                                           "metrics_cursor", "name", "trial", "run__uuid", "run__pipeline__name"):
        handle, status = row[2], row[4]
        if handle not in ended and status in READING and (
                clock - _read_at.get(handle, float("-inf")) < MIN_READ_INTERVAL):
            continue
        wanted[row[1]][handle] = row
    reads: list[MetricsRead] = []
    for name, group in wanted.items():
        cursors = {}
        for handle, (_, _, _, attempt, _, _, stored, *_) in group.items():
            cursor = Cursor.parse(stored)
            cursors[handle] = cursor.position if cursor.attempt == attempt else ""
        try:
            answers = backend_for(name).read_metrics(cursors)
        except Exception as error:  # noqa: BLE001 - asked again next time
            logger.warning("reading the metrics of %d attempt(s) on %s failed: %s", len(group), name or "the backend",
                           error)
            answers = {}
        for handle, row in group.items():
            label = row[7] if row[8] is None else f"{row[7]}[{row[8]}]"
            with about(row[9], row[10], label, row[3]):
                read = _read(row, cursors[handle], answers.get(handle))
            if read is not None:
                reads.append(read)
            if handle in answers:
                _read_at[handle] = clock
    return record_metrics(reads, now) if reads else 0


def _read(row: tuple, position: str, answer: tuple[list[str], str] | None) -> MetricsRead | None:
    """What to store for one op run after its backend's answer (None: nothing changes)."""
    pk, _, handle, attempt, status, metrics, stored, name, trial, *_ = row
    metrics = metrics if isinstance(metrics, dict) else {}
    fresh = Cursor.parse(stored).attempt == attempt
    if answer is None:
        if not fresh and (stored or metrics):  # a new attempt: the last one's values go
            return MetricsRead(pk, attempt, Cursor(attempt).text(), previous=None)
        return None
    lines, new_position = answer
    last_step = metrics.get(STEP) if fresh else None
    parsed = parse_metric_lines(lines, last_step=last_step if isinstance(last_step, int) else None,
                                limit=polyflow_settings.MAX_METRIC_POINTS,
                                known=[key for key in metrics if key != STEP] if fresh else ())
    problems = parsed.problems()
    if problems:
        label = name if trial is None else f"{name}[{trial}]"
        logger.warning("metrics of %s (attempt %s, %s): %s", label, attempt, handle, problems)
    # Ended, and nothing more was there to read: not read again.
    done = status in ENDED and str(new_position) == position
    cursor = Cursor(attempt, str(new_position), done).text()
    if len(cursor) > MAX_CURSOR:
        logger.warning("metrics of %s: the backend's cursor %r is too long to keep; not stored", handle,
                       new_position)
        return None
    if fresh and cursor == stored and not parsed.records and not parsed.latest:
        return None
    return MetricsRead(pk, attempt, cursor, parsed.records, parsed.latest, metrics if fresh else None)
