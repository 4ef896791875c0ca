"""Which worker advances which runs: leases on batches of active runs (DESIGN section 8).

A worker claims a bounded batch (`SELECT ... FOR UPDATE SKIP LOCKED LIMIT n`)
of active runs whose lease is free, leases them and commits at once: the
locks last one short statement, the lease lasts while the worker talks to the
backend with no lock held, so other workers take other runs and an API
request never waits behind a slow backend. Runs least recently ticked come
first, so every run gets its turn however many there are. A lease lapses by
itself when its worker dies.

Leases use the wall clock, not the tick's `now` (which tests and catch-up set
to other times).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from ..conf import polyflow_settings
from ..models import PipelineRun
from ..statuses import RunStatus

ACTIVE = (RunStatus.RUNNING, RunStatus.STOPPING)


def worker_id() -> str:
    """Names one tick of one process (two ticks of a process never share a lease)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _lease_end() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=polyflow_settings.RUN_LEASE)


def claim(owner: str, *, limit: int, not_ticked_since: dt.datetime | None = None,
          only: Iterable[int] | None = None) -> list[int]:
    """Lease up to `limit` active runs nobody else holds; return their ids (oldest turn first).

    `not_ticked_since` leaves out runs advanced since then (by this tick or another
    worker's), so one tick goes once over the runs instead of around and around.

    One statement (`UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n)
    RETURNING id`), written out: the hand-off claims a run for every op that ends,
    and the ORM would take longer to build the query than the database to run it.
    """
    now = timezone.now()
    table = connection.ops.quote_name(PipelineRun._meta.db_table)
    conditions = ["status IN (%s, %s)", "(lease_until IS NULL OR lease_until < %s OR lease_owner = %s)"]
    params: list = [*ACTIVE, now, owner]
    if not_ticked_since is not None:
        conditions.append("(ticked_at IS NULL OR ticked_at < %s)")
        params.append(not_ticked_since)
    if only is not None:
        only = list(only)
        if not only:
            return []
        conditions.append(f"id IN ({', '.join(['%s'] * len(only))})")
        params += only
    postgresql = connection.vendor == "postgresql"
    # SQLite has one writer at a time: its transaction (BEGIN IMMEDIATE) is the lock.
    lock = " FOR UPDATE SKIP LOCKED" if postgresql else ""
    nulls_first = "ticked_at ASC NULLS FIRST" if postgresql else "ticked_at IS NOT NULL, ticked_at ASC"
    sql = (f"UPDATE {table} SET lease_owner = %s, lease_until = %s WHERE id IN ("
           f"SELECT id FROM {table} WHERE {' AND '.join(conditions)} "
           f"ORDER BY {nulls_first}, created_at, id LIMIT %s{lock}) RETURNING id, ticked_at, created_at")
    adapt = connection.ops.adapt_datetimefield_value
    values = [owner, adapt(_lease_end()), *[adapt(v) if isinstance(v, dt.datetime) else v for v in params], limit]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, values)
        rows = cursor.fetchall()
    # RETURNING gives no order: keep the claim's.
    return [row[0] for row in sorted(rows, key=lambda row: (row[1] is not None, str(row[1] or ""), str(row[2]),
                                                            row[0]))]


def renew(owner: str, run_ids: Iterable[int]) -> None:
    """Extend the lease while the worker is still at it (after each talk to the backend)."""
    PipelineRun.objects.filter(pk__in=list(run_ids), lease_owner=owner).update(lease_until=_lease_end())


def release(owner: str, run_ids: Iterable[int]) -> None:
    """Give the runs back, marked as ticked now."""
    PipelineRun.objects.filter(pk__in=list(run_ids), lease_owner=owner).update(
        lease_owner="", lease_until=None, ticked_at=timezone.now())


def held_by_others(owner: str, run_ids: Iterable[int]) -> list[int]:
    """Of these active runs, those another worker is advancing right now."""
    return list(PipelineRun.objects.filter(pk__in=list(run_ids), status__in=ACTIVE, lease_until__gte=timezone.now())
                .exclude(lease_owner=owner).values_list("pk", flat=True))
