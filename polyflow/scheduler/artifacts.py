"""Which params of an op are artifacts, and where an attempt's artifacts go (pure).

DESIGN section 10: an output of type `path` is an artifact the op writes at
`$POLYFLOW_OUTPUTS_DIR/<name>`; the backend uploads it after a successful attempt
to `layout.output_uri` and writes the attempt's manifest; the output's value is
then its URI. An input of type `path` whose param is one reference to such an
output (`{{ ops.train.outputs.model }}`, or a group's `best.outputs`) is an
artifact input: the param resolves to the URI, the backend downloads it before
the op starts and the op gets the local path instead. Other params that
reference a path output (a `str` or `uri` input) get the URI as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..artifacts import layout
from ..artifacts.store import Store
from ..backends.base import ArtifactInput, ArtifactOutput
from ..spec.plan import IOSpec, OpSpec, Plan, TemplateSpec
from ..spec.references import ExpressionError, references_in


def path_outputs(template: TemplateSpec | None) -> tuple[IOSpec, ...]:
    return tuple(io for io in template.outputs if io.type == "path") if template else ()


def artifact_inputs(plan: Plan, op: OpSpec, params: Mapping[str, object]) -> dict[str, tuple[str, str]]:
    """{input name: (upstream op, output name)} of the op's params that are artifact inputs."""
    template = op.template
    if template is None:
        return {}
    found = {}
    for name, value in params.items():
        declared = template.input(name)
        if declared is None or declared.type != "path" or not isinstance(value, str) or "{{" not in value:
            continue
        try:
            refs = list(references_in(value))
        except ExpressionError:
            continue
        if len(refs) != 1 or not refs[0].whole or refs[0].namespace != "ops" or refs[0].part == "best.params":
            continue
        ref = refs[0]
        try:
            upstream = plan.op(ref.op).template
        except KeyError:
            continue
        output = upstream.output(ref.name) if upstream else None
        if output is not None and output.type == "path":
            found[name] = (ref.op, ref.name)
    return found


@dataclass(frozen=True)
class Recorded:
    """What the run knows of an artifact an input references: its row, kind and digest."""

    pk: int
    kind: str
    digest: str


class MissingArtifact(Exception):
    pass


def inputs_of(names: Mapping[str, tuple[str, str]], params: Mapping[str, object],
              recorded: Mapping[str, Recorded]) -> dict[str, ArtifactInput]:
    """The Submission's artifact inputs: each resolved URI with the kind it was stored as;
    MissingArtifact when the run has no record of it (an upstream op run of an older kind)."""
    found = {}
    for name, (op, output) in names.items():
        uri = params.get(name)
        record = recorded.get(uri) if isinstance(uri, str) else None
        if record is None:
            raise MissingArtifact(f"input {name!r}: op {op!r} recorded no artifact {output!r} at {uri!r}")
        found[name] = ArtifactInput(uri, record.kind)
    return found


def outputs_of(store: Store, project: str, run_uuid: str, op: str, template: TemplateSpec | None,
               attempt: int, trial: int | None) -> tuple[dict[str, ArtifactOutput], str]:
    """The Submission's artifact outputs and manifest URI ("" when the template has no path output)."""
    outputs = {io.name: ArtifactOutput(layout.output_uri(store, project, run_uuid, op, io.name, trial),
                                       optional=io.is_optional)
               for io in path_outputs(template)}
    if not outputs:
        return {}, ""
    return outputs, layout.manifest_uri(store, project, run_uuid, op, attempt, trial)
