"""`polyflow runs list|show|retry|stop`: runs of every project, read and acted on."""

from __future__ import annotations

import datetime as dt
import json

import click

from polyflow.cli.apply import _owner_and_project
from polyflow.cli.django_setup import command_errors, setup_database
from polyflow.statuses import OpStatus, RunStatus

RUN_STATUSES = tuple(RunStatus.values())
OUTPUT = click.Choice(["table", "json"])


def _optional_owner_and_project(ctx, param, value):
    return None if value is None else _owner_and_project(ctx, param, value)


@click.group()
def runs() -> None:
    """List, show, retry and stop pipeline runs."""


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
    setup_database()
    from polyflow.selectors.projects import project_by_name
    from polyflow.selectors.runs import all_runs, op_status_counts

    with command_errors():
        found = project_by_name(*project) if project else None
        rows = list(all_runs(project=found, pipeline=pipeline, statuses=statuses)[:limit])
        counts = op_status_counts(run.pk for run in rows)
    if output == "json":
        _echo_json([{**_run_dict(run), "ops": counts.get(run.pk, {})} for run in rows])
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
@click.argument("run_uuid", metavar="UUID")
@click.option("-o", "--output", type=OUTPUT, default="table", show_default=True)
@click.option("--trials", "with_trials", is_flag=True,
              help="Also list the trials of each matrix op: index, status, attempt, duration, params, "
                   "metrics and outputs.")
def show_run(run_uuid, output, with_trials) -> None:
    """Show a run and its op runs.

    Each op run with its status, attempt, duration, reason, outputs and message.
    A matrix op is one row, its group's: how many of its trials are done and
    running and, once it ended, its best trial and why it stopped early (its
    outputs, lists over the trials, are in -o json, with its trials). Then
    the latest metrics of each op that reported any (docs/metrics.md).
    """
    setup_database()
    from polyflow.cli import groups
    from polyflow.selectors.runs import get_any_run

    with command_errors():
        run = get_any_run(run_uuid)
        matrix_ops = groups.matrix_ops(run)
    op_runs, trials = groups.split(run.op_runs.all())
    if output == "json":
        _echo_json({**_run_dict(run), "op_runs": [
            groups.group_dict(op_run, trials.get(op_run.name, [])) if op_run.name in matrix_ops
            else _op_run_dict(op_run) for op_run in op_runs]})
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


@runs.command("retry")
@click.argument("run_uuid", metavar="UUID")
def retry(run_uuid) -> None:
    """Retry the failed ops of a finished run.

    Its failed, upstream_failed and stopped op runs run again, with a new
    attempt, and so does everything downstream of them; the other op runs keep
    their results. The run goes back to created: the next tick starts it.
    """
    setup_database()
    from polyflow.cli import groups
    from polyflow.selectors.runs import get_any_run
    from polyflow.services.runs import retry_run

    with command_errors():
        run = retry_run(get_any_run(run_uuid))
        ops, trials = groups.split(run.op_runs.filter(status=OpStatus.CREATED).only("name", "trial"))
    # A retried group runs again only some of its trials: how many, rather than each one.
    again = [op.name + (f" ({groups.plural(len(trials[op.name]), 'trial')})" if op.name in trials else "")
             for op in ops]
    click.echo(f"run {run.uuid}: {run.status}; to run again: {', '.join(again)}")


@runs.command("stop")
@click.argument("run_uuid", metavar="UUID")
def stop(run_uuid) -> None:
    """Stop a run.

    Its pending op runs stop at once; the next tick asks the backend to end the
    submitted ones, and the run is stopped when they have ended.
    """
    setup_database()
    from polyflow.cli import groups
    from polyflow.selectors.runs import get_any_run
    from polyflow.services.runs import stop_run

    with command_errors():
        run = stop_run(get_any_run(run_uuid))
        # A stopping group has nothing of its own to end: its trials do.
        ending = (run.op_runs.filter(status=OpStatus.STOPPING)
                  .exclude(trial__isnull=True, name__in=list(groups.matrix_ops(run))).count())
    if ending:
        click.echo(f"run {run.uuid}: {run.status}; the next tick ends its {ending} submitted op run(s)")
    else:
        click.echo(f"run {run.uuid}: {run.status}")


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
    seconds = ((finished or now) - started).total_seconds()
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


def _echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2))
