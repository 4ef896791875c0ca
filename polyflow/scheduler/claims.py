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

from django.db import transaction
from django.db.models import F, Q
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
    """
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now()) | Q(lease_owner=owner)
    runs = PipelineRun.objects.filter(free, status__in=ACTIVE)
    if not_ticked_since is not None:
        runs = runs.filter(Q(ticked_at__isnull=True) | Q(ticked_at__lt=not_ticked_since))
    if only is not None:
        runs = runs.filter(pk__in=list(only))
    with transaction.atomic():
        ids = list(runs.select_for_update(skip_locked=True, of=("self",))
                   .order_by(F("ticked_at").asc(nulls_first=True), "created_at", "pk")
                   .values_list("pk", flat=True)[:limit])
        if ids:
            PipelineRun.objects.filter(pk__in=ids).update(lease_owner=owner, lease_until=_lease_end())
    return ids


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
