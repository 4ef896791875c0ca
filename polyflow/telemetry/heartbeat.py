"""Each scheduler process's last tick (`SchedulerHeartbeat`), and readiness built on it.

`beat()` ends every periodic tick: one UPDATE of this process's own row (made by
its first beat), at most once a second (a `polyflow server` ticks every
0.5 s while runs are active), so many workers on one PostgreSQL never touch the
same row. A process's first beat also deletes rows no process has updated for a
day (processes that ended, one-shot `polyflow tick` commands), so the table stays
small. A beat that fails is logged and costs nothing else: the tick has done its work.

`readiness()` is what `/readyz` answers: the database answers, and some process
ticked within three TICK_INTERVALs.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from dataclasses import dataclass

logger = logging.getLogger("polyflow.scheduler")

MIN_GAP = 1.0  # seconds between two beats of one process
PRUNE_AFTER = dt.timedelta(days=1)
READY_INTERVALS = 3  # ticks that may be missed before the scheduler counts as down

_last: dict[int, float] = {}  # pid -> monotonic time of its last beat (a forked child starts afresh)
_started: dict[int, dt.datetime] = {}


def reset() -> None:
    """Forget this process's last beat, so that the next tick writes one (a test's fresh
    database, a process pointed at another database)."""
    _last.pop(os.getpid(), None)
    _started.pop(os.getpid(), None)


def worker_name() -> tuple[str, str, int]:
    """(worker, host, pid): one name per process, stable for its life."""
    host = socket.gethostname()
    pid = os.getpid()
    return f"{host[:100]}:{pid}", host[:255], pid


def beat(tick_seconds: float) -> bool:
    """Record that this process just ended a tick that took `tick_seconds`; True if written."""
    pid = os.getpid()
    clock = time.monotonic()
    if clock - _last.get(pid, float("-inf")) < MIN_GAP:
        return False
    _last[pid] = clock
    from django.db import DatabaseError
    from django.utils import timezone

    from ..models import SchedulerHeartbeat

    now = timezone.now()
    first = pid not in _started
    started = _started.setdefault(pid, now)
    worker, host, _ = worker_name()
    fields = {"host": host, "pid": pid, "started_at": started, "ticked_at": now, "tick_seconds": tick_seconds}
    try:
        # One UPDATE of our own row, with no transaction around it (an upsert through the ORM
        # would take a BEGIN and a COMMIT more); the row is made by the first beat.
        if not SchedulerHeartbeat.objects.filter(worker=worker).update(**fields):
            SchedulerHeartbeat.objects.create(worker=worker, **fields)
        if first:
            _prune(now - PRUNE_AFTER)
    except DatabaseError as error:  # readiness will say the scheduler is late; the tick did its work
        logger.warning("could not record this process's tick (%s): %s", worker, error)
        return False
    return True


def _prune(before: dt.datetime) -> None:
    """Rows of processes silent since `before`: one DELETE (the ORM's would open a transaction)."""
    from django.db import connection

    from ..models import SchedulerHeartbeat

    table = connection.ops.quote_name(SchedulerHeartbeat._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE ticked_at < %s", [connection.ops.adapt_datetimefield_value(before)])


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, str]  # check -> "ok" or what is wrong

    def body(self) -> dict:
        return {"status": "ok" if self.ready else "unavailable", "checks": self.checks}


def judge(last_tick: dt.datetime | None, now: dt.datetime, interval: int) -> str:
    """The scheduler check (pure): "ok", or why not."""
    allowed = READY_INTERVALS * interval
    if last_tick is None:
        return "no scheduler process has ticked yet"
    age = (now - last_tick).total_seconds()
    if age > allowed:
        return (f"no tick for {age:.0f} s (last at {last_tick.isoformat()}); more than {READY_INTERVALS} "
                f"TICK_INTERVALs ({allowed} s)")
    return "ok"


def readiness() -> Readiness:
    """One query: the newest tick of any process. A database that does not answer fails both checks."""
    from django.db import DatabaseError
    from django.db.models import Max
    from django.utils import timezone

    from ..conf import polyflow_settings
    from ..models import SchedulerHeartbeat

    try:
        last = SchedulerHeartbeat.objects.aggregate(last=Max("ticked_at"))["last"]
    except DatabaseError as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return Readiness(False, {"database": f"unavailable: {message}", "scheduler": "unknown (no database)"})
    scheduler = judge(last, timezone.now(), polyflow_settings.TICK_INTERVAL)
    return Readiness(scheduler == "ok", {"database": "ok", "scheduler": scheduler})
