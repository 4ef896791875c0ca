"""`polyflow trigger PIPELINE [--project OWNER/PROJECT] [--param OP.NAME=VALUE ...] [--watch]`:
one run of an applied pipeline, now."""

from __future__ import annotations

import click

from polyflow.cli.django_setup import command_errors, input_refused, setup_database
from polyflow.cli.run import _parse_params
from polyflow.cli.runs import _optional_owner_and_project


@click.command()
@click.argument("pipeline")
@click.option("--project", callback=_optional_owner_and_project, metavar="OWNER/PROJECT",
              help="The pipeline's project; needed only when several projects have a pipeline of that name.")
@click.option("--param", "params", multiple=True, callback=_parse_params, metavar="OP.NAME=VALUE",
              help="Override a param of an op for this run; the value is read as YAML (0.1 is a number, "
                   "true a boolean, anything else text). Repeat for more.")
@click.option("--no-cache", "no_cache", is_flag=True,
              help="Run every op, even those with `cache: true` whose results could be reused.")
@click.option("--watch", "watching", is_flag=True,
              help="Then show the run live until it ends, as `polyflow runs watch` does.")
@click.option("--tick", "drive", is_flag=True,
              help="With --watch: also run the scheduler in this process, as `polyflow run` does.")
def trigger(pipeline, project, params, watching, drive, no_cache) -> None:
    """Trigger one run of the applied pipeline PIPELINE now.

    The pipeline is the one stored in the database (`polyflow apply`): no file
    is read or applied again. Its schedule, if any, is left as it is. The run
    is created; whatever schedules the database (`polyflow server`, Celery, a
    `polyflow tick` loop) starts it; --watch shows it until it ends (add
    --tick to run the scheduler here, e.g. on a laptop with no server).

    Exit status: 0 when the run was triggered (with --watch: when it
    succeeded), 1 when it was refused (unknown pipeline, invalid params) or,
    with --watch, failed; 2 on usage errors; 130 after Ctrl-C with --watch
    (the run goes on).
    """
    if drive and not watching:
        raise click.UsageError("--tick goes with --watch")
    from polyflow.cli import remote

    api = remote.client()
    if api is not None:
        if drive:
            raise click.UsageError(f"--tick runs the scheduler on a database: the server at {api.server} runs its own")
        if project is None:
            raise remote.needs_project(f"pipeline {pipeline!r}")
        path = f"{remote.project_path(project)}pipelines/{pipeline}/"
        found = api.get(path)
        body = {"params": params, **({"no_cache": True} if no_cache else {})}
        run = api.post(path + "runs/", body, refused="nothing was triggered.")
        count = len(run["op_runs"])
        paused = " (the pipeline is paused: the run starts once it is resumed)" if found["is_paused"] else ""
        click.echo(f"run {run['uuid']} of {run['owner']}/{run['project']}/{run['pipeline']}: triggered "
                   f"({count} op{'s' if count != 1 else ''}){paused}")
        if watching:
            from polyflow.cli import remote_watch

            remote_watch.watch(api, run, log_lines=10)
        return
    setup_database()
    from polyflow.selectors.lookup import find_pipeline, pipeline_path
    from polyflow.services.runs import trigger_run

    with command_errors():
        found = find_pipeline(pipeline, project=project)
        with input_refused("nothing was triggered."):
            run = trigger_run(found, params=params, no_cache=no_cache)
    count = len(run.plan["ops"])
    paused = " (the pipeline is paused: the run starts once it is resumed)" if found.is_paused else ""
    click.echo(f"run {run.uuid} of {pipeline_path(found)}: triggered ({count} op{'s' if count != 1 else ''}){paused}")
    if watching:
        from polyflow.cli.run import watch_run

        watch_run(None, drive=drive, log_lines=10, run=run)
