"""Filling in an op run's params when it is submitted (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from ..spec.references import Reference, render


class UnresolvedReference(Exception):
    pass


def resolve_params(params: Mapping[str, object], outputs: Mapping[str, Mapping[str, object]],
                   globals_: Mapping[str, object]) -> dict:
    """Replace `{{ ops.X.outputs.Y }}` with X's output and `{{ globals.N }}` with the run's value.

    `params` are the op run's params (the plan's, with the run's overrides);
    `outputs` the outputs of the run's op runs by op name.
    """

    def lookup(ref: Reference):
        if ref.namespace == "globals":
            return globals_[ref.name]
        produced = outputs.get(ref.op) or {}
        if ref.name not in produced:
            raise UnresolvedReference(f"op {ref.op!r} did not publish output {ref.name!r} "
                                      f"(published: {', '.join(sorted(produced)) or 'none'})")
        return produced[ref.name]

    return {name: render(value, lookup) for name, value in params.items()}
