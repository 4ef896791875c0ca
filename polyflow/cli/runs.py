"""`polyflow runs list|show|watch|retry|stop|mark`: runs of every project, read and acted on."""

from __future__ import annotations

import datetime as dt
import json

import click

from polyflow.cli.apply import _owner_and_project
from polyflow.cli.django_setup import command_errors, setup_database
from polyflow.cli.refs import OUTPUT, echo_data, project_option, resolve, run_argument
from polyflow.statuses import OpStatus, RunStatus

RUN_STATUSES = tuple(RunStatus.values())
# What `polyflow runs mark` may set an op run to.
MARKS = ("succeeded", "failed", "skipped")


def _optional_owner_and_project(ctx, param, value):
    return None if value is None else _owner_and_project(ctx, param, value)


@click.group()
def runs() -> None:
    """List, show, watch, retry, stop and mark pipeline runs.

    RUN is a run's UUID, a unique prefix of it (the 8 characters the commands
    show), or @latest (PIPELINE@latest, OWNER/PROJECT@latest,
    OWNER/PROJECT/PIPELINE@latest): see docs/cli.md.
    """


@runs.command("list")
@click.option("--project", callback=_optional_owner_and_project, metavar="OWNER/PROJECT",
              help="Only the runs of this project.")
@click.option("--pipeline", metavar="NAME", help="Only the runs of pipelines with this name.")
@click.option("--status", "statuses", multiple=True, type=click.Choice(RUN_STATUSES),
              help="Only runs in this status; repeat for several.")
@click.option("--limit", type=click.IntRange(min=1, max=100_000), default=50, show_default=True,
              help="Show at most this many runs.")
@click.option("-o", "--output", type=OUTPUT, default="table", show_default=True)
def list_runs(project, pipeline, statuses, limit, output) -> None:
    """List runs, newest first, with how many op runs are in each status."""
    from polyflow.cli import remote

    api = remote.client()
    if api is not None:
        # Without a project: the runs of every project the token sees, as the database mode's of all.
        where = f"{remote.project_path(project)}runs/" if project is not None else "runs/"
        found = api.all_pages(where, limit=limit, pipeline=pipeline,
                              status=list(statuses) or None, ordering="-created_at")
        rows = [remote.run_object(run) for run in found]
        counts = {run["uuid"]: remote.op_counts(run) for run in found}
        _echo_runs(rows, counts, output)
        return
    setup_database()
    from polyflow.selectors.projects import project_by_name
    from polyflow.selectors.runs import all_runs, op_status_counts

    with command_errors():
        found = project_by_name(*project) if project else None
        rows = list(all_runs(project=found, pipeline=pipeline, statuses=statuses)[:limit])
        counts = op_status_counts(run.pk for run in rows)
    _echo_runs(rows, counts, output)


def _echo_runs(rows, counts, output) -> None:
    """`runs list`'s output, from runs (models, or the API's as remote.run_object) and {run pk: counts}."""
    if output != "table":
        echo_data([{**_run_dict(run), "ops": counts.get(run.pk, {})} for run in rows], output)
        return
    if not rows:
        click.echo("no runs found")
        return
    now = _now()
    _echo_table(["UUID", "PIPELINE", "STATUS", "CREATED", "DURATION", "OPS"], [
        [str(run.uuid), _pipeline_path(run), run.status, _time(run.created_at),
         _duration(run.started_at, run.finished_at, now), _counts(counts.get(run.pk, {}))]
        for run in rows
    ])


@runs.command("show")
@run_argument
@project_option
@click.option("-o", "--output", type=OUTPUT, default="table", show_default=True)
@click.option("--trials", "with_trials", is_flag=True,
              help="Also list the trials of each matrix op: index, status, attempt, duration, params, "
                   "metrics and outputs.")
def show_run(run_ref, project, output, with_trials) -> None:
    """Show a run and its op runs.

    Each op run with its status, attempt, duration, reason, outputs and message.
    A matrix op is one row, its group's: how many of its trials are done and
    running and, once it ended, its best trial and why it stopped early (its
    outputs, lists over the trials, are in -o json, with its trials). Then
    the latest metrics of each op that reported any (docs/metrics.md).

    RUN: a UUID, a unique prefix of it, or @latest (see `polyflow runs --help`).
    """
    from polyflow.cli import groups, remote

    api = remote.client()
    if api is not None:
        found = remote.resolve_run(api, run_ref, project)
        if "op_runs" not in found:
            found = api.get(remote.run_api_path(found))
        op_runs, trials, matrix_ops = remote.ops_and_trials(found)
        _echo_run(remote.run_object(found), op_runs, trials, matrix_ops, output, with_trials)
        return
    setup_database()
    with command_errors():
        run = resolve(run_ref, project)
        matrix_ops = groups.matrix_ops(run)
    op_runs, trials = groups.split(run.op_runs.all())
    _echo_run(run, op_runs, trials, matrix_ops, output, with_trials)


def _echo_run(run, op_runs, trials, matrix_ops, output, with_trials) -> None:
    """`runs show`'s output, from a run, its ops in order (a group is one), each group's trials, and
    the names of its matrix ops: models, or the API's JSON as remote.run_object and op_run_object."""
    from polyflow.cli import groups

    if output != "table":
        echo_data({**_run_dict(run), "op_runs": [
            groups.group_dict(op_run, trials.get(op_run.name, [])) if op_run.name in matrix_ops
            else _op_run_dict(op_run) for op_run in op_runs]}, output)
        return
    now = _now()
    click.echo(f"run {run.uuid}")
    fields = [
        ("pipeline", _pipeline_path(run)),
        ("status", run.status + (f" ({run.reason})" if run.reason else "")),
        ("trigger", run.trigger + (f", slot {_time(run.schedule_at)}" if run.schedule_at else "")),
        ("created", _time(run.created_at)),
        ("started", _time(run.started_at)),
        ("finished", _time(run.finished_at)),
        ("duration", _duration(run.started_at, run.finished_at, now)),
        ("message", run.message),
        ("scheduler", run.scheduler_error and f"{_time(run.scheduler_error_at)}: {_one_line(run.scheduler_error)}"),
    ]
    for name, value in fields:
        if value:
            click.echo(f"  {name + ':':<10}{value}")
    click.echo()
    rows = []
    for op_run in op_runs:
        # A group's outputs are lists over its trials: too long for a row.
        group = op_run.name in matrix_ops
        rows.append([op_run.name, op_run.status, str(op_run.attempt),
                     _duration(op_run.started_at, op_run.finished_at, now), op_run.reason,
                     json.dumps(op_run.outputs, sort_keys=True) if op_run.outputs and not group else "",
                     groups.show_message(op_run, trials.get(op_run.name, [])) if group else _one_line(op_run.message)])
    _echo_table(["OP", "STATUS", "ATTEMPT", "DURATION", "REASON", "OUTPUTS", "MESSAGE"], rows)
    _echo_metrics(op_runs)
    if with_trials and not trials:
        click.echo("\nno trials" + (" yet" if matrix_ops else ": the run has no matrix op"))
    if with_trials:
        for name, group_trials in trials.items():
            click.echo(f"\n{name}: {groups.counts(group_trials)}")
            _echo_table(groups.TRIAL_HEADER, groups.trial_rows(group_trials, now))


@runs.command("watch")
@run_argument
@project_option
@click.option("--tick", "drive", is_flag=True,
              help="Also run the scheduler in this process, as `polyflow run` does (for a database that no "
                   "`polyflow server`, Celery worker or `polyflow tick` loop serves).")
@click.option("--log-lines", default=10, show_default=True, type=click.IntRange(min=0, max=10_000), metavar="N",
              help="How many log lines of each failed op the summary shows.")
def watch(run_ref, project, drive, log_lines) -> None:
    """Show a run live until it ends, as `polyflow run` does.

    On a terminal a table of the ops is redrawn in place; otherwise one line
    is printed per status change; a summary follows once the run has ended
    (at once for a run that has ended already). The run is only looked at:
    whatever schedules this database (`polyflow server`, Celery, a `polyflow
    tick` loop) advances it, unless --tick makes this command do it too.
    Ctrl-C exits and leaves the run as it is.

    Against a server (--server, `polyflow login`) the run is read from its API
    every 0.5 s, with the same table, lines and summary (its log files, on the
    server, are not named); --tick is for a database only.

    RUN: a UUID, a unique prefix of it, or @latest (see `polyflow runs --help`).

    Exit status: 0 when the run succeeded, 1 when it failed or was stopped (or
    RUN names no run), 2 on usage errors, 130 after Ctrl-C.
    """
    from polyflow.cli import remote

    api = remote.client()
    if api is not None:
        if drive:
            raise click.UsageError(f"--tick runs the scheduler on a database: the server at {api.server} runs its own")
        from polyflow.cli import remote_watch

        remote_watch.watch(api, remote.resolve_run(api, run_ref, project), log_lines)
    from polyflow.cli.run import watch_run

    watch_run(run_ref, drive=drive, log_lines=log_lines, project=project)


@runs.command("retry")
@run_argument
@click.argument("op", required=False)
@project_option
def retry(run_ref, op, project) -> None:
    """Retry the failed ops of a finished run, or op OP of a run.

    Without OP: its failed, upstream_failed and stopped op runs run again, with
    a new attempt, and so does everything downstream of them; the other op runs
    keep their results. The run goes back to created: the next tick starts it.

    With OP: that op (finished, in any final status: a succeeded op runs again
    too) and everything downstream of it run again, in a run that is still
    going or one that has ended.

    RUN: a UUID, a unique prefix of it, or @latest (see `polyflow runs --help`).
    """
    from polyflow.cli import groups, remote

    api = remote.client()
    if api is not None:
        found = remote.resolve_run(api, run_ref, project)
        path = remote.run_api_path(found)
        if op is None:
            found = api.post(path + "retry/")
        else:
            api.post(f"{path}ops/{op}/retry/")
            found = api.get(path)
        again = []
        for op_run in found["op_runs"]:
            created = [trial for trial in op_run["trials"] if trial["status"] == OpStatus.CREATED]
            if op_run["status"] == OpStatus.CREATED:
                again.append(op_run["name"] + (f" ({groups.plural(len(created), 'trial')})" if created else ""))
        click.echo(f"run {found['uuid']}: {found['status']}; to run again: {', '.join(again)}")
        return
    setup_database()
    from polyflow.selectors.runs import get_op_run
    from polyflow.services.runs import retry_op_run, retry_run

    with command_errors():
        run = resolve(run_ref, project)
        if op is None:
            run = retry_run(run)
        else:
            retry_op_run(run, get_op_run(run, op).name)
            run.refresh_from_db()
        ops, trials = groups.split(run.op_runs.filter(status=OpStatus.CREATED).only("name", "trial"))
    # A retried group runs again only some of its trials: how many, rather than each one.
    again = [op.name + (f" ({groups.plural(len(trials[op.name]), 'trial')})" if op.name in trials else "")
             for op in ops]
    click.echo(f"run {run.uuid}: {run.status}; to run again: {', '.join(again)}")


@runs.command("stop")
@run_argument
@click.argument("op", required=False)
@project_option
def stop(run_ref, op, project) -> None:
    """Stop a run, or op OP of a run.

    Its pending op runs stop at once; the next tick asks the backend to end the
    submitted ones, and the run is stopped when they have ended. With OP, only
    that op stops (a matrix op with its trials); what depends on it follows its
    trigger rules.

    RUN: a UUID, a unique prefix of it, or @latest (see `polyflow runs --help`).
    """
    from polyflow.cli import remote

    api = remote.client()
    if api is not None:
        found = remote.resolve_run(api, run_ref, project)
        path = remote.run_api_path(found)
        if op is not None:
            op_run = api.post(f"{path}ops/{op}/stop/")
            found = api.get(path)
            ending = sum(_ending(each) for each in found["op_runs"] if each["name"] == op_run["name"])
            what = f"op {op_run['name']} of run {found['uuid']}: {op_run['status']}"
            click.echo(what + (f"; the next tick ends its {ending} submitted op run(s)" if ending else ""))
            return
        found = api.post(path + "stop/")
        ending = sum(_ending(each) for each in found["op_runs"])
        _echo_stopped(found["uuid"], found["status"], ending)
        return
    setup_database()
    from polyflow.cli import groups
    from polyflow.selectors.runs import get_op_run
    from polyflow.services.runs import stop_op_run, stop_run

    with command_errors():
        run = resolve(run_ref, project)
        if op is not None:
            op_run = stop_op_run(run, get_op_run(run, op).name)
            ending = (run.op_runs.filter(name=op_run.name, status=OpStatus.STOPPING)
                      .exclude(trial__isnull=True, name__in=list(groups.matrix_ops(run))).count())
            what = f"op {op_run.name} of run {run.uuid}: {op_run.status}"
            click.echo(what + (f"; the next tick ends its {ending} submitted op run(s)" if ending else ""))
            return
        run = stop_run(run)
        # A stopping group has nothing of its own to end: its trials do.
        ending = (run.op_runs.filter(status=OpStatus.STOPPING)
                  .exclude(trial__isnull=True, name__in=list(groups.matrix_ops(run))).count())
    _echo_stopped(run.uuid, run.status, ending)


def _echo_stopped(run_uuid, status: str, ending: int) -> None:
    if ending:
        click.echo(f"run {run_uuid}: {status}; the next tick ends its {ending} submitted op run(s)")
    else:
        click.echo(f"run {run_uuid}: {status}")


def _ending(op_run: dict) -> int:
    """How many op runs of an op of the API's run are stopping: a group's trials, not the group itself,
    which has nothing of its own to end."""
    if op_run["trials"]:
        return sum(trial["status"] == OpStatus.STOPPING for trial in op_run["trials"])
    return int(op_run["status"] == OpStatus.STOPPING)


@runs.command("mark")
@run_argument
@click.argument("op")
@click.argument("status", type=click.Choice(MARKS), metavar="succeeded|failed|skipped")
@click.option("--reason", default="", metavar="TEXT", help="Why: recorded in the op run's status history.")
@project_option
def mark(run_ref, op, status, reason, project) -> None:
    """Mark op OP of a run succeeded, failed or skipped (Airflow's mark success / failed).

    The op run takes that status as if it had ended so, with the reason in its
    status history: what depends on it (in this run, and the next runs of a
    `depends_on_past` schedule) goes on from there.

    RUN: a UUID, a unique prefix of it, or @latest (see `polyflow runs --help`).
    """
    from polyflow.cli import remote

    api = remote.client()
    if api is not None:
        found = remote.resolve_run(api, run_ref, project)
        path = remote.run_api_path(found)
        body = {"status": status, **({"reason": reason} if reason else {})}
        op_run = remote.op_run_object(api.post(f"{path}ops/{op}/mark/", body))
        found = api.get(path)
        click.echo(f"op {op_run.label} of run {found['uuid']}: {op_run.status}; run: {found['status']}")
        return
    setup_database()
    from polyflow.selectors.runs import get_op_run
    from polyflow.services.runs import mark_op_run

    with command_errors():
        run = resolve(run_ref, project)
        op_run = get_op_run(run, op)
        op_run = mark_op_run(op_run, status, reason=reason)
        run.refresh_from_db()
    click.echo(f"op {op_run.label} of run {run.uuid}: {op_run.status}; run: {run.status}")


# -- representation ------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _seconds(started: dt.datetime | None, finished: dt.datetime | None) -> float | None:
    if not started or not finished:
        return None
    return round((finished - started).total_seconds(), 3)


def _run_dict(run) -> dict:
    project = run.pipeline.project
    return {
        "uuid": str(run.uuid),
        "owner": project.owner.username,
        "project": project.name,
        "pipeline": run.pipeline.name,
        "trigger": run.trigger,
        "schedule_at": _iso(run.schedule_at),
        "params": run.params,
        "status": run.status,
        "reason": run.reason,
        "message": run.message,
        "scheduler_error": run.scheduler_error,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration": _seconds(run.started_at, run.finished_at),
    }


def _op_run_dict(op_run) -> dict:
    return {
        "name": op_run.name,
        "status": op_run.status,
        "reason": op_run.reason,
        "message": op_run.message,
        "attempt": op_run.attempt,
        "params": op_run.params,
        "outputs": op_run.outputs,
        "exit_code": op_run.exit_code,
        "backend": op_run.backend,
        "handle": op_run.handle,
        "retry_at": _iso(op_run.retry_at),
        "created_at": _iso(op_run.created_at),
        "started_at": _iso(op_run.started_at),
        "finished_at": _iso(op_run.finished_at),
        "duration": _seconds(op_run.started_at, op_run.finished_at),
        "metrics": op_run.metrics,
    }


def metrics_text(metrics: dict) -> str:
    """`accuracy=0.91 loss=0.2 (step 30)`: an op run's latest metrics, by name; "" for none."""
    values = sorted((name, value) for name, value in (metrics or {}).items() if name != "step")
    if not values:
        return ""
    text = " ".join(f"{name}={value:.6g}" if isinstance(value, int | float) else f"{name}={value}"
                    for name, value in values)
    step = (metrics or {}).get("step")
    return text + (f" (step {step})" if step is not None else "")


def _echo_metrics(op_runs) -> None:
    """One line per op run that reported metrics: its latest values (docs/metrics.md)."""
    lines = [(op_run.label, metrics_text(op_run.metrics)) for op_run in op_runs]
    lines = [(label, text) for label, text in lines if text]
    if lines:
        click.echo("\nMETRICS (latest)")
        width = max(len(label) for label, _ in lines)
        for label, text in lines:
            click.echo(f"{label.ljust(width)}  {text}")


def _pipeline_path(run) -> str:
    project = run.pipeline.project
    return f"{project.owner.username}/{project.name}/{run.pipeline.name}"


def _time(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _duration(started: dt.datetime | None, finished: dt.datetime | None, now: dt.datetime) -> str:
    """Start to finish; start to now (with a "+") while still going."""
    if not started:
        return ""
    # Never negative: a run ticked as of a later time (`tick --now`) starts after the clock's now.
    seconds = max(((finished or now) - started).total_seconds(), 0.0)
    if seconds < 60:
        text = f"{seconds:.1f}s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    else:
        text = f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return text if finished else text + "+"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _one_line(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _echo_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

