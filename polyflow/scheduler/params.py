"""Filling in an op run's params when it is submitted (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from ..spec.references import Reference, render
from .snapshot import Published


class UnresolvedReference(Exception):
    pass


def resolve_params(params: Mapping[str, object], outputs: Mapping[str, Published],
                   globals_: Mapping[str, object]) -> dict:
    """Replace `{{ ops.X.outputs.Y }}` with X's output (a group's: the list over its trials),
    `{{ ops.X.best.params.P }}` and `{{ ops.X.best.outputs.Y }}` with those of group X's best
    trial, and `{{ globals.N }}` with the run's value.

    `params` are the op run's params (the plan's, with the run's overrides);
    `outputs` what the run's succeeded op runs published, by op name.
    """

    def lookup(ref: Reference):
        if ref.namespace == "globals":
            return globals_[ref.name]
        published = outputs.get(ref.op)
        part = getattr(ref, "part", "outputs")
        if part == "outputs":
            produced = published.outputs if published else {}
            if ref.name not in produced:
                raise UnresolvedReference(f"op {ref.op!r} did not publish output {ref.name!r} "
                                          f"(published: {', '.join(sorted(produced)) or 'none'})")
            return produced[ref.name]
        best = published.best if published else None
        if not best:
            raise UnresolvedReference(f"group {ref.op!r} has no best trial: no trial succeeded with a value "
                                      f"of its metric")
        values = best.get("params" if part == "best.params" else "outputs") or {}
        if ref.name not in values:
            kind = "param" if part == "best.params" else "output"
            raise UnresolvedReference(f"the best trial of group {ref.op!r} (trial {best.get('trial')}) has no "
                                      f"{kind} {ref.name!r} (it has: {', '.join(sorted(values)) or 'none'})")
        return values[ref.name]

    return {name: render(value, lookup) for name, value in params.items()}
