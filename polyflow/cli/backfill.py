"""`polyflow backfill PIPELINE --from DATETIME --to DATETIME`: runs for the schedule slots of a past range."""

from __future__ import annotations

import click

from polyflow.cli.django_setup import command_errors, setup_database
from polyflow.cli.runs import _optional_owner_and_project
from polyflow.cli.tick import _parse_now


@click.command()
@click.argument("pipeline")
@click.option("--from", "start", required=True, callback=_parse_now, metavar="ISO8601",
              help="The start of the range, included (no offset means UTC).")
@click.option("--to", "end", required=True, callback=_parse_now, metavar="ISO8601",
              help="The end of the range, excluded (no offset means UTC).")
@click.option("--project", callback=_optional_owner_and_project, metavar="OWNER/PROJECT",
              help="The pipeline's project; needed only when several projects have a pipeline of that name.")
def backfill(pipeline, start, end, project) -> None:
    """Create runs of PIPELINE for the slots of its schedule from --from (included) to --to (excluded).

    One run (trigger `backfill`) per slot of the range that has none yet;
    slots after now are left to the scheduler. The runs are queued: whatever
    schedules the database (`polyflow server`, Celery, `polyflow tick`) starts
    them oldest slot first, honouring the schedule's max_active_runs, and
    their ops follow depends_on_past as scheduled runs do. The schedule's own
    next slot does not move. At most 1,000 slots per backfill: split a larger
    range.

    Exit status: 0 when done (even with no slot left to fill), 1 when refused
    (an unknown pipeline, one without a schedule, too many slots), 2 on usage
    errors (a time that is no ISO 8601, --to not later than --from).
    """
    if end <= start:
        raise click.BadParameter(f"{end.isoformat()} is not later than --from {start.isoformat()}",
                                 param_hint="'--to'")
    from polyflow.cli import remote

    api = remote.client()
    if api is not None:
        if project is None:
            raise remote.needs_project(f"pipeline {pipeline!r}")
        made = api.post(f"{remote.project_path(project)}pipelines/{pipeline}/backfill/",
                        {"start": start.isoformat(), "end": end.isoformat()})
        _echo_backfilled("/".join([*project, pipeline]), start, end, [remote.run_object(run) for run in made])
        return
    setup_database()
    from polyflow.selectors.lookup import find_pipeline, pipeline_path
    from polyflow.services.backfill import backfill as backfill_service

    with command_errors():
        found = find_pipeline(pipeline, project=project)
        runs = backfill_service(found, start, end)
    _echo_backfilled(pipeline_path(found), start, end, runs)


def _echo_backfilled(path: str, start, end, runs) -> None:
    """The runs made (models, or the API's as remote.run_object), in slot order."""
    count = len(runs)
    click.echo(f"pipeline {path}: {count} run{'s' if count != 1 else ''} created for the slots "
               f"of [{start.isoformat()}, {end.isoformat()}) that had none")
    for run in runs:
        slot = run.schedule_at.isoformat() if run.schedule_at else ""
        click.echo(f"  run {run.uuid}: slot {slot}, {run.status}")
