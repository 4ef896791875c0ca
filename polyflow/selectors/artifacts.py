"""Reading artifacts (DESIGN section 10): an op run's, a run's, one by name."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from ..exceptions import NotFound
from ..models import Artifact, OperationRun
from ..spec.errors import choices_text


def _with_consumers(artifacts: QuerySet) -> QuerySet:
    """Artifacts with their op run and consumers' names: two queries, however many."""
    return artifacts.select_related("op_run").prefetch_related(
        Prefetch("consumers", queryset=OperationRun.objects.only("pk", "name", "trial").order_by("id")))


def run_artifacts(run) -> list[Artifact]:
    return list(_with_consumers(Artifact.objects.filter(op_run__run=run)).order_by("op_run_id", "name", "-attempt"))


def op_run_artifacts(op_run: OperationRun) -> list[Artifact]:
    """The artifacts of the op run's current attempt (a cached op run's: the source's, recorded on it)."""
    return list(_with_consumers(Artifact.objects.filter(op_run=op_run, attempt=op_run.attempt)).order_by("name"))


def get_artifact(op_run: OperationRun, name: str) -> Artifact:
    artifact = (Artifact.objects.filter(op_run=op_run, name=name).select_related("op_run")
                .order_by("-attempt").first())
    if artifact is None:
        names = Artifact.objects.filter(op_run=op_run).order_by("name").values_list("name", flat=True).distinct()
        raise NotFound(f"op run {op_run.label} of run {op_run.run.uuid} has no artifact {name!r} "
                       f"(artifacts: {choices_text(list(names))})")
    return artifact
