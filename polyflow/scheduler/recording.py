"""Recording artifacts: the manifests of succeeded attempts read from the store, and the
Artifact rows (and who consumed them) written with the round's changes.

Reading the store is I/O, so it happens with no transaction open (DESIGN section
8), right after the backend's sync: each succeeded attempt of a template with
path outputs has its manifest read (`transfer.read_manifest`), and its
observation is given the outputs' URIs as the values of those outputs. An
attempt whose manifest is missing, unreadable or short of a required output
becomes a failed one, reason `artifacts`, with a message naming what and where:
that op run's, never anyone else's (the store down fails the attempts whose
records could not be read, and retries apply).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ..artifacts import layout
from ..artifacts.store import Store, Stored, StoreError, settings_store
from ..artifacts.transfer import read_manifest
from ..backends.base import FAILED, SUCCEEDED, Observation
from ..models import Artifact, OperationRun, PipelineRun
from ..statuses import OP_SUBMITTED, OpStatus
from .artifacts import Recorded, path_outputs
from .outputs import decode
from .snapshot import plan_of

logger = logging.getLogger("polyflow.scheduler")

REASON = "artifacts"


@dataclass(frozen=True)
class AttemptArtifacts:
    """The artifacts one attempt stored, to be written with its op run's success."""

    attempt: int
    stored: Mapping[str, Stored]


class LazyStore:
    """The settings' store, opened on first use: a tick with nothing to store opens nothing."""

    def __init__(self, factory: Callable[[], Store] = settings_store):
        self.factory = factory
        self._store: Store | None = None

    def __call__(self) -> Store:
        if self._store is None:
            self._store = self.factory()
        return self._store


def read_results(observations: Mapping[str, Observation], store: Callable[[], Store]
                 ) -> tuple[dict[str, Observation], dict[int, AttemptArtifacts]]:
    """The observations with succeeded attempts' artifacts filled in (or failed for want of
    them), and {op run pk: what its attempt stored}. One query when an attempt succeeded."""
    succeeded = [handle for handle, seen in observations.items() if seen.state == SUCCEEDED]
    if not succeeded:
        return dict(observations), {}
    rows = list(OperationRun.objects.filter(handle__in=succeeded, status__in=OP_SUBMITTED | {OpStatus.STOPPING})
                .values_list("pk", "handle", "name", "attempt", "trial", "run__uuid", "run__pipeline__project_id"))
    plans = _plans({str(row[5]) for row in rows})
    result = dict(observations)
    records: dict[int, AttemptArtifacts] = {}
    for pk, handle, name, attempt, trial, uuid, project in rows:
        plan = plans.get(str(uuid))
        if plan is None:
            continue  # the decision reports the run's unreadable plan
        try:
            template = plan.op(name).template
        except KeyError:
            continue
        declared = path_outputs(template)
        if not declared:
            continue
        seen = observations[handle]
        try:
            stored = _read(store, str(project), str(uuid), name, attempt, trial, declared)
        except _Refused as refused:
            result[handle] = _failed(seen, str(refused))
            continue
        except Exception as error:  # noqa: BLE001 - that attempt's, not the tick's
            logger.exception("artifacts of %s: reading the manifest failed", handle)
            result[handle] = _failed(seen, f"cannot read the attempt's artifact records: {type(error).__name__}: "
                                           f"{error}")
            continue
        records[pk] = AttemptArtifacts(attempt, stored)
        result[handle] = _with_uris(seen, stored)
    return result, records


class _Refused(Exception):
    pass


def _read(store_of, project, uuid, name, attempt, trial, declared) -> dict[str, Stored]:
    store = None
    try:
        store = store_of()
        uri = layout.manifest_uri(store, project, uuid, name, attempt, trial)
        stored = read_manifest(store, uri)
    except StoreError as error:
        raise _Refused(f"cannot read the artifacts of this attempt from the artifact store: {error}") from None
    except Exception as error:  # noqa: BLE001 - a client's own errors (no credentials, no route)
        where = f" {store.url}" if store is not None else ""
        logger.warning("artifacts of %s (%s): %s", name, uuid, error)
        raise _Refused(f"cannot read the artifacts of this attempt from the artifact store{where}: "
                       f"{type(error).__name__}: {error}") from None
    if stored is None:
        names = ", ".join(io.name for io in declared)
        raise _Refused(f"no artifact manifest at {uri}: the attempt's path outputs ({names}) were not uploaded")
    by_name = {io.name: io for io in declared}
    missing = [io.name for io in declared if not io.is_optional and io.name not in stored]
    if missing:
        raise _Refused(f"the artifact manifest {uri} has no record of output(s) {', '.join(missing)}")
    return {key: value for key, value in stored.items() if key in by_name}


def _plans(uuids: set[str]) -> dict:
    """The runs' plans: from the snapshot's cache, the others in one query."""
    from .snapshot import _plans as cached

    found = {uuid: cached[uuid][0] for uuid in uuids if uuid in cached}
    unknown = [uuid for uuid in uuids if uuid not in found]
    if unknown:
        for uuid, data in PipelineRun.objects.filter(uuid__in=unknown).values_list("uuid", "plan"):
            try:
                found[str(uuid)] = plan_of(str(uuid), data)[0]
            except Exception:  # noqa: BLE001 - the decision reports it
                pass
    return found


def _failed(seen: Observation, message: str) -> Observation:
    return dataclasses.replace(seen, state=FAILED, reason=REASON, message=message)


def _with_uris(seen: Observation, stored: Mapping[str, Stored]) -> Observation:
    """What the op published, with each path output's value its URI (whatever the op wrote
    for it). Outputs the parser will refuse are left to it."""
    parsed = decode(seen.outputs)
    if parsed.error:
        return seen
    uris = {name: record.uri for name, record in stored.items()}
    return dataclasses.replace(seen, outputs={**parsed.outputs, **uris})


# -- the database side, inside the round's transaction ------------------------------

def recorded_in(run_uris: Mapping[int, Iterable[str]]) -> dict[tuple[int, str], Recorded]:
    """{(run, uri): its Artifact} for the URIs submissions reference: one query, none when none."""
    wanted = {(run, uri) for run, uris in run_uris.items() for uri in uris}
    if not wanted:
        return {}
    found = {}
    for pk, run_id, uri, kind, digest in Artifact.objects.filter(
            op_run__run_id__in={run for run, _ in wanted}, uri__in={uri for _, uri in wanted}).order_by(
            "-attempt").values_list("pk", "op_run__run_id", "uri", "kind", "digest"):
        found.setdefault((run_id, uri), Recorded(pk, kind, digest))
    return found


def write_artifacts(records: Mapping[int, AttemptArtifacts], now) -> None:
    """The Artifact rows of attempts that succeeded (written again is a no-op)."""
    rows = [Artifact(op_run_id=pk, attempt=record.attempt, name=name, uri=stored.uri, size=stored.size,
                     digest=stored.digest, kind=stored.kind, files=stored.files, created_at=now)
            for pk, record in records.items() for name, stored in record.stored.items()]
    if rows:
        Artifact.objects.bulk_create(rows, ignore_conflicts=True)


def write_consumers(consumed: Mapping[tuple[int, int], Iterable[str]]) -> None:
    """Which op runs downloaded which artifacts ({(run pk, op run pk): artifact URIs}): the
    artifacts found by URI in the run (written by now, those of this round included)."""
    if not consumed:
        return
    found = {(run_id, uri): pk for pk, run_id, uri in Artifact.objects.filter(
        op_run__run_id__in={run for run, _ in consumed},
        uri__in={uri for uris in consumed.values() for uri in uris}).order_by("attempt").values_list(
        "pk", "op_run__run_id", "uri")}
    through = Artifact.consumers.through
    rows = [through(artifact_id=found[(run, uri)], operationrun_id=pk) for (run, pk), uris in consumed.items()
            for uri in uris if (run, uri) in found]
    if rows:
        through.objects.bulk_create(rows, ignore_conflicts=True)
