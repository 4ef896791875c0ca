from __future__ import annotations

from django.db import transaction

from ..exceptions import Conflict
from ..models import Pipeline
from ..statuses import RUN_ACTIVE


def set_paused(pipeline: Pipeline, paused: bool) -> Pipeline:
    """Paused: no new runs and no new op submissions; running ops finish."""
    Pipeline.objects.filter(pk=pipeline.pk).update(is_paused=paused)
    pipeline.refresh_from_db()
    return pipeline


def delete_pipeline(pipeline: Pipeline) -> None:
    with transaction.atomic():
        locked = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
        active = locked.runs.filter(status__in=RUN_ACTIVE).count()
        if active:
            raise Conflict(f"pipeline {pipeline.name!r} has {active} active run(s); stop them first")
        locked.delete()
