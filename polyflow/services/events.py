from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

from django.db import transaction

from ..exceptions import NotFound, Unprocessable
from ..models import Event, PipelineRun
from ..spec import Plan
from ..spec.errors import format_path
from ..spec.params import input_errors
from ..spec.plan import IOSpec
from .apply import spec_limits
from .runs import trigger_run


def fire_event(owner, name: str, payload, *, user=None, now=None,
               in_projects: Iterable[int] | None = None) -> list[PipelineRun]:
    """One run of each subscribed, unpaused pipeline (of the projects `in_projects`, when given:
    those the firer may trigger in; an event never starts runs where its firer could not).

    The payload is checked against the event's inputs and completed with their
    defaults, then given to every op whose template has an input of the same
    name (run params override the pipeline's params for that run).
    """
    event = Event.objects.filter(owner=owner, name=name).first()
    if event is None:
        raise NotFound(f"event {name!r} not found")
    payload = {} if payload is None else payload
    inputs = [IOSpec(**{**io, "options": tuple(io["options"]) if io.get("options") is not None else None})
              for io in event.inputs]
    errors = input_errors(inputs, payload, f"event {name!r}", require_required=True, limits=spec_limits())
    if errors:
        raise Unprocessable("invalid payload", [
            {"source": "", "path": format_path(("payload",) + ((key,) if key else ())), "message": message}
            for key, message in errors
        ])
    payload = with_defaults(inputs, payload)
    runs = []
    with transaction.atomic():
        subscriptions = event.subscriptions.select_related("pipeline").filter(pipeline__is_paused=False)
        if in_projects is not None:
            subscriptions = subscriptions.filter(pipeline__project__in=in_projects)
        for subscription in subscriptions:
            pipeline = subscription.pipeline
            plan = Plan.from_dict(pipeline.plan)
            params = {}
            for op in plan.ops:
                given = {io.name: payload[io.name] for io in op.template.inputs if io.name in payload}
                if given:
                    params[op.name] = given
            runs.append(trigger_run(pipeline, params=params, user=user, trigger=PipelineRun.Trigger.EVENT,
                                    event=event, now=now))
    return runs


def with_defaults(inputs: list[IOSpec], payload: Mapping) -> dict:
    """The payload with the default of every declared input it leaves out.

    An optional input without a default stays out, so the op's own param (or
    its template's default) applies.
    """
    defaults = {io.name: copy.deepcopy(io.default) for io in inputs if io.has_default and io.name not in payload}
    return {**payload, **defaults}
