"""A stored pipeline exported for another engine (issue 13): reads only."""

from __future__ import annotations

from collections.abc import Mapping

from ..exceptions import InvalidInput, Unprocessable
from ..export import TARGETS, Export, NotCarried, exporter
from ..models import Pipeline
from ..spec.plan import Plan


class NotCarriedError(Unprocessable):
    """The pipeline uses features the target cannot express: each one in `errors` (HTTP 422)."""

    code = "not_carried"


def export_pipeline(pipeline: Pipeline, target: str, options: Mapping[str, object]) -> Export:
    """The pipeline's current plan written for `target`; options as the target's `export` takes them."""
    if target not in TARGETS:
        raise InvalidInput(f"unknown export target {target!r}: choose one of {', '.join(sorted(TARGETS))}",
                           [{"source": "query", "path": "to", "message": "unknown export target"}])
    try:
        export = exporter(target)
    except ImportError:
        raise InvalidInput(f"export to {target} is not part of this version of Polyflow",
                           [{"source": "query", "path": "to", "message": "not available"}]) from None
    try:
        return export(Plan.from_dict(pipeline.plan), **{key: value for key, value in options.items()
                                                         if value is not None})
    except NotCarried as error:
        count = len(error.problems)
        raise NotCarriedError(
            f"pipeline {pipeline.name!r} cannot be exported to {target}: {count} feature{'s' if count != 1 else ''} "
            f"it cannot express",
            [{"source": "pipeline", "path": problem.where, "message": problem.message} for problem in error.problems],
        ) from None
