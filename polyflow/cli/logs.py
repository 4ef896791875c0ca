"""`polyflow logs UUID OP [--tail N]`: an op run's log, from the backend that ran it."""

from __future__ import annotations

import click

from polyflow.cli.django_setup import command_errors, setup_database


@click.command()
@click.argument("run_uuid", metavar="UUID")
@click.argument("op")
@click.option("--tail", type=click.IntRange(min=1), metavar="N", help="Only the last N lines.")
def logs(run_uuid: str, op: str, tail: int | None) -> None:
    """Print the log of op OP in run UUID (its latest attempt).

    The lines come from the backend that ran it (for the local backend, the
    op's stdout and stderr). An op not submitted yet has no logs: that is
    said on stderr, with exit status 0.
    """
    setup_database()
    from polyflow.selectors.logs import LogsUnavailable, op_run_logs
    from polyflow.selectors.runs import get_any_run, get_op_run

    with command_errors():
        run = get_any_run(run_uuid)
        op_run = get_op_run(run, op)
    if not op_run.handle:
        click.echo(f"no logs yet: op {op!r} of run {run.uuid} is {op_run.status} and was never submitted", err=True)
        return
    try:
        lines = op_run_logs(op_run, tail)
    except LogsUnavailable as error:
        raise click.ClickException(f"cannot read the logs: {error}") from None
    for line in lines:
        click.echo(line)
