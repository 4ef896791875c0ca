"""Caching (DESIGN section 10): finding the earlier op run whose results a cached op reuses.

An op with `cache: true` (or its pipeline's `cache`) is looked up by its key
(cache_key.py) when it is about to be submitted for the first time: the newest
succeeded op run of the same project with that key, finished within
`POLYFLOW["CACHE_TTL"]` seconds (0: no expiry), is its source. The op run then
never reaches a backend: it moves created -> scheduled -> succeeded with reason
`cached`, the source's outputs, a copy of its artifact records (the same URIs)
and a link to it. A run made with `no_cache` and any later attempt (a retry)
always run. One query per round, whatever the number of candidates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db.models import OuterRef, Subquery

from ..artifacts.store import Stored
from ..models import Artifact, OperationRun
from ..statuses import OpStatus

REASON = "cached"


@dataclass(frozen=True)
class Source:
    pk: int  # the op run that did the work (a cached op run's own source, followed once)
    outputs: Mapping[str, object]
    run_uuid: str
    name: str
    artifacts: Mapping[str, Stored]  # its attempt's, by output name
    attempt: int


def find_sources(wanted: Iterable[tuple[int, str]], now: dt.datetime, ttl: int) -> dict[tuple[int, str], Source]:
    """{(project id, key): the newest succeeded op run with that key in that project}."""
    wanted = set(wanted)
    if not wanted:
        return {}
    keys = {key for _, key in wanted}
    projects = {project for project, _ in wanted}
    candidates = OperationRun.objects.filter(cache_key__in=keys, status=OpStatus.SUCCEEDED,
                                             run__pipeline__project_id__in=projects)
    if ttl:
        candidates = candidates.filter(finished_at__gte=now - dt.timedelta(seconds=ttl))
    newest = candidates.filter(cache_key=OuterRef("cache_key"),
                               run__pipeline__project_id=OuterRef("run__pipeline__project_id")
                               ).order_by("-finished_at", "-pk").values("pk")[:1]
    rows = list(candidates.filter(pk=Subquery(newest)).values_list(
                    "pk", "cache_key", "run__pipeline__project_id", "outputs", "run__uuid", "name", "attempt",
                    "cache_source_id"))
    stored = _artifacts({row[0]: row[6] for row in rows})
    found = {}
    for pk, key, project, outputs, uuid, name, attempt, origin in rows:
        if (project, key) in wanted:
            found[(project, key)] = Source(origin or pk, outputs or {}, str(uuid), name, stored.get(pk, {}), attempt)
    return found


def _artifacts(attempts: Mapping[int, int]) -> dict[int, dict[str, Stored]]:
    if not attempts:
        return {}
    found: dict[int, dict[str, Stored]] = {}
    for op_run, attempt, name, uri, size, digest, kind, files in Artifact.objects.filter(
            op_run_id__in=list(attempts)).values_list("op_run_id", "attempt", "name", "uri", "size", "digest", "kind",
                                                      "files"):
        if attempt == attempts[op_run]:
            found.setdefault(op_run, {})[name] = Stored(uri, size, digest, kind, files)
    return found
