"""The history of a pipeline's applied specs: every text applied that differed from the one before."""

from __future__ import annotations

from django.db.models import QuerySet

from ..models import PipelineSpecVersion
from .versions import diff_lines, pick_versions


def spec_versions(pipeline) -> QuerySet:
    """Newest first, with who applied each."""
    return PipelineSpecVersion.objects.filter(pipeline=pipeline).select_related("created_by").order_by("-version")


def history_page(pipeline, version: str | None = None, base: str | None = None):
    """(every version newest first, the one shown, the one it is compared to or None, the diff);
    versions is [] for a pipeline with no history (then the others are None and [])."""
    versions = list(spec_versions(pipeline))
    if not versions:
        return [], None, None, []
    shown, compared = pick_versions(versions, version, base)
    diff = diff_lines(compared.content, shown.content, f"v{compared.version}", f"v{shown.version}") \
        if compared is not None and compared.pk != shown.pk else []
    return versions, shown, compared, diff
