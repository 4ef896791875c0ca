"""A stored pipeline exported for another engine (issue 13): reads only."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

from ..exceptions import InvalidInput, Unprocessable
from ..export import TARGETS, Export, NotCarried, exporter
from ..models import Pipeline
from ..spec.plan import Plan


class NotCarriedError(Unprocessable):
    """The pipeline uses features the target cannot express: each one in `errors` (HTTP 422)."""

    code = "not_carried"


def available_targets() -> list[str]:
    """The export targets this installation has (their module is there), for the API's choices."""
    return [target for target, module in sorted(TARGETS.items()) if importlib.util.find_spec(module) is not None]


def export_pipeline(pipeline: Pipeline, target: str, options: Mapping[str, object]) -> Export:
    """The pipeline's current plan written for `target`; options as the target's `export` takes them."""
    if target not in available_targets():
        raise InvalidInput(f"unknown export target {target!r}: choose one of {', '.join(available_targets())}",
                           [{"source": "query", "path": "to", "message": "unknown export target"}])
    try:
        return exporter(target)(Plan.from_dict(pipeline.plan), **{key: value for key, value in options.items()
                                                         if value is not None})
    except ValueError as error:  # an option of another target (`executor` with to=argo)
        raise InvalidInput(str(error), [{"source": "query", "path": "to", "message": str(error)}]) from None
    except NotCarried as error:
        count = len(error.problems)
        raise NotCarriedError(
            f"pipeline {pipeline.name!r} cannot be exported to {target}: {count} feature{'s' if count != 1 else ''} "
            f"it cannot express",
            [{"source": "pipeline", "path": problem.where, "message": problem.message} for problem in error.problems],
        ) from None
