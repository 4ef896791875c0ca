"""`polyflow logs UUID OP [--tail N]`: an op run's log, from the backend that ran it."""

from __future__ import annotations

import re

import click

from polyflow.cli.django_setup import command_errors, setup_database

# A bound the lines a log can have (and what a deque or a Kubernetes tailLines takes) stays within.
MAX_TAIL = 1_000_000


@click.command()
@click.argument("run_uuid", metavar="UUID")
@click.argument("op")
@click.option("--tail", type=click.IntRange(min=1, max=MAX_TAIL), metavar="N", help="Only the last N lines.")
def logs(run_uuid: str, op: str, tail: int | None) -> None:
    """Print the log of op OP in run UUID (its latest attempt).

    The lines come from the backend that ran it (for the local backend, the
    op's stdout and stderr). A trial of a matrix op is OP[INDEX], e.g.
    `tune[3]` (the group itself runs nothing). An op not submitted yet has
    no logs: that is said on stderr, with exit status 0.
    """
    setup_database()
    from polyflow.selectors.logs import LogsUnavailable, op_run_logs
    from polyflow.selectors.runs import get_any_run, get_op_run

    with command_errors():
        run = get_any_run(run_uuid)
        op_run = get_op_run(run, *_name_and_trial(op))
    if not op_run.handle and op_run.trial is None and run.op_runs.filter(name=op, trial__isnull=False).exists():
        click.echo(f"op {op!r} of run {run.uuid} is a matrix op: its trials have logs, e.g. "
                   f"`polyflow logs {run.uuid} {op}[0]`", err=True)
        return
    if not op_run.handle:
        click.echo(f"no logs yet: op {op!r} of run {run.uuid} is {op_run.status} and was never submitted", err=True)
        return
    try:
        lines = op_run_logs(op_run, tail)
    except LogsUnavailable as error:
        raise click.ClickException(f"cannot read the logs: {error}") from None
    for line in lines:
        click.echo(line)


def _name_and_trial(op: str) -> tuple[str, int | None]:
    """`tune[3]` is trial 3 of op tune (the label of op runs everywhere); `tune` the op."""
    trial = re.fullmatch(r"(.+)\[(\d+)\]", op)
    return (trial.group(1), int(trial.group(2))) if trial else (op, None)
