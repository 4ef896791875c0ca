"""The run page's artifacts and cached ops (DESIGN section 10): rows for _artifacts.html,
read in three queries (the artifacts with their op runs, their consumers, the cached ops)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from ..models import OperationRun
from ..selectors.artifacts import run_artifacts


@dataclass(frozen=True)
class ArtifactRow:
    op: str
    name: str
    kind: str
    size: int
    files: int
    digest: str
    uri: str
    consumers: list[str]
    download: str


@dataclass(frozen=True)
class CachedRow:
    op: str
    source_op: str
    source_run: str
    source_url: str


def run_rows(run, project) -> dict:
    keys = {"owner": project.owner.get_username(), "project": project.name, "uuid": str(run.uuid)}
    rows = []
    for artifact in run_artifacts(run):
        op_run = artifact.op_run
        if artifact.attempt != op_run.attempt:
            continue  # an earlier attempt's
        if op_run.trial is None:
            download = reverse("polyflow:api-op-artifact-download", kwargs={**keys, "op": op_run.name,
                                                                            "name": artifact.name})
        else:
            download = reverse("polyflow:api-trial-artifact-download", kwargs={
                **keys, "op": op_run.name, "index": op_run.trial, "name": artifact.name})
        rows.append(ArtifactRow(op_run.label, artifact.name, artifact.kind, artifact.size, artifact.files,
                                artifact.digest, artifact.uri, [c.label for c in artifact.consumers.all()], download))
    cached = []
    for op_run in (OperationRun.objects.filter(run=run, cache_source__isnull=False)
                   .select_related("cache_source__run").order_by("id")):
        source = op_run.cache_source
        cached.append(CachedRow(op_run.label, source.label, str(source.run.uuid), reverse(
            "polyflow:ui:run", kwargs={**keys, "uuid": str(source.run.uuid)}) + f"#op-{source.name}"))
    return {"artifacts": rows, "cached": cached}
