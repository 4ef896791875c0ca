"""A run's op runs split into its ops and each matrix op's trials: the one shape every listing of
a run uses (the API, the CLI on a database or over the API). Pure: anything with `trial` and
`name`, model rows or the remote mode's records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

Row = TypeVar("Row")


def ops_and_trials(op_runs: Iterable[Row]) -> tuple[list[Row], dict[str, list[Row]]]:
    """The op runs as the run's ops, in their order (a matrix op is one op: its group), and
    {matrix op: its trials in trial order}."""
    ops, trials = [], {}
    for op_run in op_runs:
        if op_run.trial is None:
            ops.append(op_run)
        else:
            trials.setdefault(op_run.name, []).append(op_run)
    for group in trials.values():
        group.sort(key=lambda trial: trial.trial)
    return ops, trials
