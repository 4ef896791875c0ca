"""`polyflow pipelines list|show|pause|resume|delete`: the applied pipelines of every project."""

from __future__ import annotations

import click

from polyflow.cli.django_setup import command_errors, setup_database
from polyflow.cli.refs import echo_data, output_option
from polyflow.cli.runs import _echo_table, _iso, _one_line, _optional_owner_and_project, _time

PROJECT_HELP = "The pipeline's project; needed only when several projects have a pipeline of that name."


def _project_option(function):
    return click.option("--project", callback=_optional_owner_and_project, metavar="OWNER/PROJECT",
                        help=PROJECT_HELP)(function)


@click.group()
def pipelines() -> None:
    """List, show, pause, resume and delete applied pipelines.

    PIPELINE is a pipeline's name; --project OWNER/PROJECT chooses among
    projects that each have one of that name.
    """


@pipelines.command("list")
@click.option("--project", callback=_optional_owner_and_project, metavar="OWNER/PROJECT",
              help="Only the pipelines of this project.")
@output_option
def list_pipelines(project, output) -> None:
    """List pipelines: schedule, paused or not, next slot, runs and the newest run."""
    from polyflow.cli import remote

    api = remote.client()
    if api is not None:
        if project is None:
            raise remote.needs_project("pipelines list")
        rows, summaries = [], {}
        for listed in api.all_pages(f"{remote.project_path(project)}pipelines/"):
            found, summary = _remote_pipeline(api, project, listed["name"], 1)
            rows.append(found)
            summaries[found.pk] = (summary[0], summary[1][0] if summary[1] else None)
    else:
        setup_database()
        from polyflow.selectors.lookup import all_pipelines, run_summaries

        with command_errors():
            rows = list(all_pipelines(project=project))
            summaries = run_summaries(pipeline.pk for pipeline in rows)
    if output != "table":
        echo_data([_pipeline_dict(pipeline, summaries[pipeline.pk]) for pipeline in rows], output)
        return
    if not rows:
        click.echo("no pipelines found: apply some with `polyflow apply FILE... --project OWNER/PROJECT`")
        return
    table = []
    for pipeline in rows:
        count, newest = summaries[pipeline.pk]
        table.append([_path(pipeline), _schedule_text(pipeline), "paused" if pipeline.is_paused else "active",
                      _time(pipeline.next_slot_at), str(count),
                      f"{newest.uuid.hex[:8]} {newest.status}" if newest else ""])
    _echo_table(["PIPELINE", "SCHEDULE", "STATE", "NEXT SLOT (UTC)", "RUNS", "NEWEST RUN"], table)


@pipelines.command("show")
@click.argument("pipeline")
@_project_option
@output_option
def show_pipeline(pipeline, project, output) -> None:
    """Show a pipeline: its schedule and state, its ops in order, its newest runs."""
    from polyflow.cli import remote

    api = remote.client()
    if api is not None:
        if project is None:
            raise remote.needs_project(f"pipeline {pipeline!r}")
        found, (count, newest) = _remote_pipeline(api, project, pipeline, 5)
        summary = (count, newest[0] if newest else None)
    else:
        setup_database()
        from polyflow.selectors.lookup import find_pipeline, run_summaries
        from polyflow.selectors.runs import all_runs

        with command_errors():
            found = find_pipeline(pipeline, project=project)
            summary = run_summaries([found.pk])[found.pk]
            newest = list(all_runs().filter(pipeline=found)[:5])
    plan = found.plan or {}
    ops = plan.get("ops", [])
    if output != "table":
        echo_data({**_pipeline_dict(found, summary), "ops": [
            {"name": op["name"], "dependencies": op.get("dependencies", []),
             "template": _template_text(op)} for op in ops],
            "newest_runs": [{"uuid": str(run.uuid), "status": run.status, "trigger": run.trigger,
                             "created_at": _iso(run.created_at)} for run in newest]}, output)
        return
    click.echo(f"pipeline {_path(found)}")
    fields = [
        ("description", _one_line(found.description or plan.get("description") or "")),
        ("schedule", _schedule_text(found)),
        ("state", "paused: no new runs or op submissions" if found.is_paused else "active"),
        ("next slot", _time(found.next_slot_at) + " UTC" if found.next_slot_at else ""),
        ("events", ", ".join(plan.get("events", []))),
        ("runs", str(summary[0])),
        ("applied", _time(found.updated_at) + " UTC"),
        ("scheduler", found.scheduler_error and f"{_time(found.scheduler_error_at)}: "
                                                f"{_one_line(found.scheduler_error)}"),
    ]
    for name, value in fields:
        if value:
            click.echo(f"  {name + ':':<13}{value}")
    click.echo()
    _echo_table(["OP", "TEMPLATE", "AFTER"], [
        [op["name"], _template_text(op), ", ".join(op.get("dependencies", []))] for op in ops])
    if newest:
        click.echo()
        _echo_table(["RUN", "STATUS", "TRIGGER", "CREATED (UTC)"], [
            [run.uuid.hex[:8], run.status, run.trigger, _time(run.created_at)] for run in newest])


@pipelines.command("pause")
@click.argument("pipeline")
@_project_option
def pause(pipeline, project) -> None:
    """Pause a pipeline: no new runs (scheduled or started) and no new op submissions; running ops finish."""
    _set_paused(pipeline, project, True)


@pipelines.command("resume")
@click.argument("pipeline")
@_project_option
def resume(pipeline, project) -> None:
    """Resume a paused pipeline: its schedule and runs go on."""
    _set_paused(pipeline, project, False)


def _remote_pipeline(api, project, name: str, runs: int):
    """A pipeline of the server (as the attributes of the model), its number of runs and its newest `runs`."""
    from polyflow.cli import remote

    path = f"{remote.project_path(project)}pipelines/{name}/"
    found = remote.pipeline_object(api.get(path))
    found.pk = name
    listed = api.get(path + "runs/", page_size=runs, ordering="-created_at")
    return found, (listed["count"], [remote.run_object(run) for run in listed["results"]])


def _set_paused(pipeline: str, project, paused: bool) -> None:
    from polyflow.cli import remote

    api = remote.client()
    if api is not None:
        if project is None:
            raise remote.needs_project(f"pipeline {pipeline!r}")
        found = remote.pipeline_object(api.post(f"{remote.project_path(project)}pipelines/{pipeline}/"
                                                f"{'pause' if paused else 'resume'}/"), plan={})
        click.echo(f"pipeline {_path(found)}: {'paused' if found.is_paused else 'resumed'}")
        return
    setup_database()
    from polyflow.selectors.lookup import find_pipeline
    from polyflow.services.pipelines import set_paused

    with command_errors():
        found = set_paused(find_pipeline(pipeline, project=project), paused)
    click.echo(f"pipeline {_path(found)}: {'paused' if found.is_paused else 'resumed'}")


@pipelines.command("delete")
@click.argument("pipeline")
@_project_option
@click.option("--yes", is_flag=True, help="Do not ask: delete it.")
def delete(pipeline, project, yes) -> None:
    """Delete a pipeline with all its runs and their history.

    Refused while it has active runs (stop them first). Asks first on a
    terminal; elsewhere --yes is needed.
    """
    from polyflow.cli import remote

    api = remote.client()
    if api is not None:
        if project is None:
            raise remote.needs_project(f"pipeline {pipeline!r}")
        found, (count, _) = _remote_pipeline(api, project, pipeline, 1)
    else:
        setup_database()
        from polyflow.selectors.lookup import find_pipeline, run_summaries
        from polyflow.services.pipelines import delete_pipeline

        with command_errors():
            found = find_pipeline(pipeline, project=project)
            count = run_summaries([found.pk])[found.pk][0]
    what = f"pipeline {_path(found)} and its {count} run{'s' if count != 1 else ''}"
    if not yes:
        stdin = click.get_text_stream("stdin")
        if not stdin.isatty():
            raise click.ClickException(f"not deleting {what} without --yes")
        click.confirm(f"Delete {what}?", abort=True)
    if api is not None:
        api.request("DELETE", f"{remote.project_path(project)}pipelines/{pipeline}/")
    else:
        with command_errors():
            delete_pipeline(found)
    click.echo(f"{what}: deleted")


def _path(pipeline) -> str:
    # As polyflow.selectors.lookup.pipeline_path, for the server's pipelines too (no models loaded).
    project = pipeline.project
    return f"{project.owner.get_username()}/{project.name}/{pipeline.name}"


def _schedule_text(pipeline) -> str:
    from polyflow.spec import Plan
    from polyflow.spec.describe import describe_schedule

    schedule = Plan.from_dict(pipeline.plan).schedule
    if schedule is None:
        return "none"
    return describe_schedule(schedule, minutes=True) + (" (done)" if pipeline.schedule_done else "")


def _template_text(op: dict) -> str:
    action = op.get("action")
    if isinstance(action, dict):
        version = action.get("version")
        return f"action {action.get('name')}" + (f" (version {version})" if version is not None else " (latest)")
    return f"template {op.get('template_name') or ''}".strip()


def _pipeline_dict(pipeline, summary) -> dict:
    plan = pipeline.plan or {}
    count, newest = summary
    project = pipeline.project
    return {
        "owner": project.owner.get_username(),
        "project": project.name,
        "name": pipeline.name,
        "description": pipeline.description,
        "tags": plan.get("tags", []),
        "schedule": plan.get("schedule"),
        "events": plan.get("events", []),
        "is_paused": pipeline.is_paused,
        "next_slot_at": _iso(pipeline.next_slot_at),
        "runs_created": pipeline.runs_created,
        "slots_dropped": pipeline.slots_dropped,
        "schedule_done": pipeline.schedule_done,
        "scheduler_error": pipeline.scheduler_error,
        "scheduler_error_at": _iso(pipeline.scheduler_error_at),
        "created_at": _iso(pipeline.created_at),
        "updated_at": _iso(pipeline.updated_at),
        "runs": count,
        "newest_run": str(newest.uuid) if newest else None,
    }

