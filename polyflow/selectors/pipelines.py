from __future__ import annotations

from django.db.models import QuerySet

from ..exceptions import NotFound
from ..models import Pipeline


def pipelines_of(project) -> QuerySet:
    return Pipeline.objects.filter(project=project).select_related("project__owner").order_by("name")


def get_pipeline(project, name: str) -> Pipeline:
    pipeline = pipelines_of(project).filter(name=name).first()
    if pipeline is None:
        from ..spec.errors import choices_text

        # Named as the command line names them (selectors.lookup.find_pipeline): whoever may read the
        # project may list its pipelines anyway.
        names = Pipeline.objects.filter(project=project).order_by("name").values_list("name", flat=True)
        raise NotFound(f"pipeline {name!r} not found in {project} (pipelines: {choices_text(names)})")
    return pipeline
