"""An op's matrix (DESIGN section 9): its kind's fields, param spaces, metric and early stopping.

The matrix kinds, space kinds and policy kinds are polyflow.matrix's
registries: a kind added there is a kind here. Space values are normalised
here (every written form becomes the tuple a SpaceSpec holds). Checks that
need the template, the other ops or POLYFLOW['MAX_TRIALS'] are the
compiler's.
"""

from __future__ import annotations

from collections.abc import Mapping

from marshmallow import ValidationError, fields, validates_schema

from ...matrix.early_stopping import POLICIES
from ...matrix.errors import MatrixError
from ...matrix.kinds import KINDS
from ...matrix.ranking import MAXIMIZE, MINIMIZE
from ...matrix.spaces import SPACES
from .. import fields as f
from ..errors import describe
from ..fields import Checker, Slow, schema_loader
from .base import KindField, StrictSchema, shared

OPTIMIZATIONS = (MAXIMIZE, MINIMIZE)


class SpaceSchema(StrictSchema):
    what = "param space"

    kind = f.Choice(SPACES, what="space kind", required=True)
    value = f.Raw(required=True)


def _at(path: tuple, message: str) -> object:
    """marshmallow's nested form of an error below a field: {1: {0: message}}."""
    for part in reversed(path):
        message = {part: message}
    return message


class SpaceField(fields.Field):
    """`{kind, value}`, the value normalised by its kind."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected a mapping {{kind, value}}, got {describe(value)}")
        try:
            space = shared(SpaceSchema).load(value)
        except ValidationError as error:
            raise ValidationError(error.messages) from None
        try:
            return {"kind": space["kind"], "value": SPACES[space["kind"]].normalise(space["value"])}
        except MatrixError as error:
            raise ValidationError({"value": _at(error.path, str(error))}) from None

    def fast_checker(self) -> Checker:
        load_space = schema_loader(SpaceSchema)
        if load_space is None:
            return None

        def check(value):
            space = load_space(value)  # declines what is no mapping
            try:
                return {"kind": space["kind"], "value": SPACES[space["kind"]].normalise(space["value"])}
            except MatrixError:
                raise Slow from None

        return check


class MetricSchema(StrictSchema):
    what = "metric"

    name = f.Identifier(required=True)
    optimization = f.Choice(OPTIMIZATIONS, what="optimization", load_default=MAXIMIZE)


class _PolicySchema(StrictSchema):
    kind = f.Str(required=True)


class MetricEarlyStoppingSchema(_PolicySchema):
    what = "metric_early_stopping policy"

    metric = f.Identifier(required=True)
    value = f.Number(required=True)
    optimization = f.Choice(OPTIMIZATIONS, what="optimization", load_default=MAXIMIZE)


class FailureEarlyStoppingSchema(_PolicySchema):
    what = "failure_early_stopping policy"

    percent = f.Number(above=0, maximum=100, required=True)


class MedianEarlyStoppingSchema(_PolicySchema):
    what = "median_early_stopping policy"

    metric = f.Identifier(required=True)
    optimization = f.Choice(OPTIMIZATIONS, what="optimization", load_default=MAXIMIZE)
    min_samples = f.Count(minimum=1, load_default=3)
    min_steps = f.Count(minimum=0, load_default=0)


POLICY_SCHEMAS = {
    "metric_early_stopping": MetricEarlyStoppingSchema,
    "failure_early_stopping": FailureEarlyStoppingSchema,
    "median_early_stopping": MedianEarlyStoppingSchema,
}
assert set(POLICY_SCHEMAS) == set(POLICIES), "every policy the matrix package decides has a schema"

# The fields that belong to some kinds only.
_KIND_FIELDS = sorted(set().union(*(kind.fields for kind in KINDS.values())))


class MatrixSchema(StrictSchema):
    what = "matrix"

    kind = f.Choice(KINDS, what="matrix kind", required=True)
    concurrency = f.Count(minimum=1)
    params = f.MappingField(keys=f.Identifier(), values=SpaceField())
    values = f.Raw()
    num_runs = f.Count(minimum=1)
    seed = f.Count(minimum=0)
    metric = f.Nested(MetricSchema)
    early_stopping = f.List(KindField(POLICY_SCHEMAS, what="early-stopping policy"))

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _fields_of_the_kind(self, data, original, **kwargs):
        kind = KINDS.get(data.get("kind"))
        if kind is None or not isinstance(original, Mapping):
            return
        errors = {}
        for field in _KIND_FIELDS:
            if field in original and field not in kind.fields:
                takers = [name for name, other in KINDS.items() if field in other.fields]
                errors[field] = (f"a {kind.name} matrix takes no {field!r} "
                                 f"(kind{'s' if len(takers) > 1 else ''} {', '.join(takers)} "
                                 f"{'do' if len(takers) > 1 else 'does'})")
        for field, message in kind.required.items():
            if field not in original:
                errors[field] = message
        if errors:
            raise ValidationError(errors)
