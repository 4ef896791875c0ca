"""Where an attempt's artifacts live in the store (DESIGN section 10): one function per
place, used by every backend and by the scheduler, so they never disagree.

    <store>/<project>/<run uuid>/<op>[/<trial>]/<output name>
    <store>/<project>/<run uuid>/<op>[/<trial>]/.polyflow/attempt-<n>.json   (the manifest)
    <store>/contexts/<digest>.tar.gz                                         (build contexts)

`project` is the project's primary key: a project's artifacts share a prefix (and a bucket
policy), and renaming a project or its owner moves nothing.
"""

from __future__ import annotations

from .store import Store


def op_prefix(store: Store, project: str, run_uuid: str, op: str, trial: int | None = None) -> str:
    parts = [project, str(run_uuid), op] + ([] if trial is None else [str(trial)])
    return store.uri(*parts)


def output_uri(store: Store, project: str, run_uuid: str, op: str, name: str, trial: int | None = None) -> str:
    return f"{op_prefix(store, project, run_uuid, op, trial)}/{name}"


def manifest_uri(store: Store, project: str, run_uuid: str, op: str, attempt: int, trial: int | None = None) -> str:
    return f"{op_prefix(store, project, run_uuid, op, trial)}/.polyflow/attempt-{attempt}.json"


def context_uri(store: Store, digest: str) -> str:
    """A build context by its digest ("sha256:<hex>"): the same files are stored once."""
    return store.uri("contexts", digest.replace(":", "-") + ".tar.gz")
