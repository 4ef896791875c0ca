from __future__ import annotations

from django.db.models import QuerySet

from ..exceptions import NotFound
from ..models import Pipeline


def pipelines_of(project) -> QuerySet:
    return Pipeline.objects.filter(project=project).select_related("project__owner").order_by("name")


def get_pipeline(project, name: str) -> Pipeline:
    pipeline = pipelines_of(project).filter(name=name).first()
    if pipeline is None:
        raise NotFound(f"pipeline {name!r} not found in {project}")
    return pipeline
