"""The artifact fields and the cache of a round's submissions (DESIGN section 10).

Called by the tick inside the round's transaction, after the params are resolved:
each submission gets its artifact inputs (the URIs its path inputs resolved to,
with the kind they were stored as), its artifact outputs and manifest URI
(artifacts.py, from the store's layout), and, for a cached op, its cache key.
A cached op whose key has a source (caching.py) is not submitted: it becomes
succeeded with reason `cached` in the same write. Two queries per round at
most (the artifacts referenced, the cache's sources), none without either.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from ..artifacts.store import Store, StoreError
from ..backends.base import Submission
from ..statuses import OpStatus
from .artifacts import MissingArtifact, Recorded, artifact_inputs, inputs_of, outputs_of, path_outputs
from .cache_key import cache_key
from .caching import REASON as CACHED
from .caching import find_sources
from .decide import OpChange, RunDecision
from .recording import REASON as ARTIFACTS
from .recording import AttemptArtifacts, recorded_in
from .snapshot import OpState, params_of


@dataclass
class Pending:
    decision: RunDecision
    op: OpState
    submission: Submission
    backend: str
    cache_key: str = ""
    consumes: tuple[str, ...] = ()  # the URIs of the artifacts its inputs download


def complete(pending: list[Pending], store: Callable[[], Store], now: dt.datetime, ttl: int
             ) -> tuple[list[Pending], bool]:
    """The pending submissions with their artifact fields, minus those failed or served from the
    cache (their changes are added to their decisions); whether another round is wanted."""
    sources_of = {}
    uris: dict[int, list[str]] = defaultdict(list)
    for item in pending:
        run = item.decision.run
        names = artifact_inputs(run.plan, run.plan.op(item.op.name), params_of(run, item.op.name))
        sources_of[id(item)] = names
        uris[run.pk] += [item.submission.params[name] for name in names
                         if isinstance(item.submission.params.get(name), str)]
    recorded = recorded_in(uris)
    for item in pending:  # what upstream attempts that succeeded in this very round stored
        for record in item.decision.artifacts.values():
            for stored in record.stored.values():
                recorded.setdefault((item.decision.run.pk, stored.uri), Recorded(0, stored.kind, stored.digest))
    ready, again = [], False
    keyed: list[Pending] = []
    for item in pending:
        run, op, submission = item.decision.run, item.op, item.submission
        names = sources_of[id(item)]
        template = submission.template
        try:
            inputs = inputs_of(names, submission.params,
                               {uri: record for (run_pk, uri), record in recorded.items() if run_pk == run.pk})
            outputs, manifest = ({}, "")
            if path_outputs(template):
                outputs, manifest = outputs_of(store(), run.project, run.uuid, op.name, template,
                                               submission.attempt, op.trial)
        except (MissingArtifact, StoreError) as error:
            reason = "unresolved_reference" if isinstance(error, MissingArtifact) else ARTIFACTS
            item.decision.changes.append(OpChange(op.pk, OpStatus.FAILED, reason, str(error)))
            again = True
            continue
        # The run's workspace, once the plan has one (the pipeline's `workspace`, DESIGN section 10).
        item.submission = dataclasses.replace(submission, artifact_inputs=inputs, artifact_outputs=outputs,
                                              manifest_uri=manifest, workspace=getattr(run.plan, "workspace", None))
        item.consumes = tuple(inputs[name].uri for name in inputs)
        spec = run.plan.op(op.name)
        # Not in a run with a workspace: a cached op does not run, so what it would have written
        # into this run's (new, empty) workspace is missing for the ops after it.
        if (spec.cache and not run.no_cache and op.status == OpStatus.CREATED and submission.attempt == 1
                and item.submission.workspace is None):
            digests = {name: recorded[(run.pk, inputs[name].uri)].digest for name in inputs}
            item.cache_key = cache_key(template, submission.params, digests)
            keyed.append(item)
        ready.append(item)
    if not keyed:
        return ready, again
    sources = find_sources({(int(item.decision.run.project), item.cache_key) for item in keyed}, now, ttl)
    served = set()
    for item in keyed:
        source = sources.get((int(item.decision.run.project), item.cache_key))
        if source is None:
            continue
        served.add(id(item))
        op = item.op
        message = f"reused the results of op {source.name!r} of run {source.run_uuid} (op run {source.pk})"
        item.decision.changes.append(OpChange(op.pk, OpStatus.SCHEDULED, CACHED, message, {
            "params": dict(item.submission.params), "cache_key": item.cache_key, "handle": "", "backend": ""}))
        item.decision.changes.append(OpChange(op.pk, OpStatus.SUCCEEDED, CACHED, message, {
            "outputs": dict(source.outputs), "cache_source": source.pk, "exit_code": None, "started_at": now,
            "finished_at": now}))
        if source.artifacts:
            item.decision.artifacts[op.pk] = AttemptArtifacts(1, source.artifacts)
        again = True
    return [item for item in ready if id(item) not in served], again
