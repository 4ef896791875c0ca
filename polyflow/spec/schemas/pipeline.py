"""Pipelines and their ops (DESIGN section 2)."""

from __future__ import annotations

from marshmallow import ValidationError, validates_schema

from .. import fields as f
from .base import StrictSchema, validates_always
from .matrix import MatrixSchema
from .schedule import ScheduleField
from .template import TemplateSchema
from .volumes import WorkspaceSchema

TRIGGER_RULES = (
    "all_succeeded", "all_failed", "all_done",
    "one_succeeded", "one_failed", "one_done", "none_failed",
)


class TemplateRefSchema(StrictSchema):
    what = "template reference"

    name = f.Name()
    action = f.Name()
    version = f.Count(minimum=1)

    @validates_schema
    def _exactly_one_source(self, data, **kwargs):
        if ("name" in data) == ("action" in data):
            raise ValidationError(
                "give exactly one of 'name' (an inline template) or 'action' (from the registry)"
            )
        if "version" in data and "name" in data:
            raise ValidationError({"version": "only an action reference takes a version"})


class OpSchema(StrictSchema):
    what = "op"

    name = f.Name(required=True)
    template = f.Nested(TemplateRefSchema, required=True)
    dependencies = f.StrList()
    params = f.MappingField()
    trigger = f.Choice(TRIGGER_RULES, what="trigger rule", load_default="all_succeeded")
    skip_on_upstream_skip = f.Bool(load_default=False)
    depends_on_past = f.Bool(load_default=False)
    max_retries = f.Count(minimum=0, maximum=1000)
    retry_delay = f.Seconds(minimum=0, load_default=60)
    retry_exp_backoff = f.Bool(load_default=False)
    max_retry_delay = f.Seconds(minimum=1, load_default=3600)
    timeout = f.Seconds(minimum=1)
    concurrency = f.Count(minimum=1)
    matrix = f.Nested(MatrixSchema)
    # Reuse an earlier identical op run's outputs and artifacts (DESIGN section 10); absent:
    # the pipeline's `cache`.
    cache = f.Bool()


class EventSubscriptionSchema(StrictSchema):
    what = "event subscription"

    name = f.Name(required=True)


class PipelineSchema(StrictSchema):
    what = "pipeline"

    version = f.Raw(required=True)
    kind = f.Str(required=True)
    name = f.Name(required=True)
    description = f.Str(allow_empty=True)
    tags = f.StrList()
    schedule = ScheduleField()
    concurrency = f.Count(minimum=1)
    timeout = f.Seconds(minimum=1)
    ops = f.List(f.Nested(OpSchema), required=True)
    templates = f.List(f.Nested(TemplateSchema))
    events = f.List(f.Nested(EventSubscriptionSchema))
    workspace = f.Nested(WorkspaceSchema)
    cache = f.Bool(load_default=False)  # the default of its ops' `cache`

    @validates_always
    def _at_least_one_op(self, data, **kwargs):
        if "ops" in data and not data["ops"]:
            raise ValidationError({"ops": "a pipeline needs at least one op"})
