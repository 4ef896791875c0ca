"""`polyflow export TARGET FILE...`: a pipeline written out for another engine (issue 13)."""

from __future__ import annotations

import click

from polyflow.cli.django_setup import configuration_errors_as_usage_errors

TARGETS = ("airflow", "argo")


@click.command()
@click.argument("target", type=click.Choice(TARGETS))
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--pipeline", "pipeline_name", metavar="NAME",
              help="The pipeline to export when FILES define several.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the file here rather than to stdout.")
@click.option("--executor", type=click.Choice(("kubernetes", "local")), default=None,
              help="airflow: KubernetesPodOperator tasks running Polyflow's pods (default), or BashOperator "
                   "tasks running the commands on the Airflow worker as the local backend does.")
@click.option("--airflow-version", metavar="V",
              help="airflow: pin the DAG file to Airflow 2.10 or 3.x (default: it adapts to the Airflow that "
                   "loads it).")
@click.option("--namespace", metavar="NS",
              help="The Kubernetes namespace of the pods (airflow, kubernetes executor; default "
                   "$POLYFLOW_KUBE_NAMESPACE) or of the Workflow (argo; default: none, kubectl's).")
@click.option("--name", metavar="NAME",
              help="argo: the Workflow's generateName prefix, or the CronWorkflow's name (default: the pipeline's).")
@click.option("--starting-deadline-seconds", type=click.IntRange(min=0), metavar="S",
              help="argo: a CronWorkflow's startingDeadlineSeconds (default 3600).")
def export(target: str, files: tuple[str, ...], pipeline_name: str | None, output: str | None,
           executor: str | None, airflow_version: str | None, namespace: str | None, name: str | None,
           starting_deadline_seconds: int | None) -> None:
    """Export a pipeline of FILES (read as `polyflow validate` reads them) to TARGET: an Airflow DAG
    file (airflow) or an Argo Workflows document (argo).

    What the target can only emulate is a warning on stderr; what it cannot express at all is an
    error listing every such feature (exit 1). Exit 2 on usage errors.
    """
    from polyflow.conf import environ_setting
    from polyflow.export import NotCarried, exporter
    from polyflow.spec import SpecValidationError, check, read_files
    from polyflow.spec.limits import limits_from

    with configuration_errors_as_usage_errors():
        limits = limits_from(environ_setting)
    raws, read_errors = read_files(files, limits)
    try:
        compilation = check(raws, earlier_errors=read_errors, limits=limits)
    except SpecValidationError as error:
        for item in error.errors:
            click.echo(str(item), err=True)
        raise SystemExit(1) from None
    plan = chosen_pipeline(compilation.pipelines, pipeline_name)
    try:
        export_to = exporter(target)
    except ImportError:
        click.echo(f"error: export to {target} is not part of this version of Polyflow", err=True)
        raise SystemExit(1) from None
    options = {"executor": executor, "airflow_version": airflow_version, "namespace": namespace, "name": name,
               "starting_deadline_seconds": starting_deadline_seconds}
    try:
        exported = export_to(plan, **{name: value for name, value in options.items() if value is not None})
    except NotCarried as error:
        click.echo(f"error: cannot export pipeline {plan.name} to {target}:", err=True)
        for problem in error.problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(1) from None
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    for warning in exported.warnings:
        click.echo(f"warning: {warning}", err=True)
    if output:
        with open(output, "w", encoding="utf-8") as stream:
            stream.write(exported.text)
        click.echo(f"{exported.target}: pipeline {plan.name} written to {output}", err=True)
    else:
        click.echo(exported.text, nl=False)


def chosen_pipeline(pipelines, name: str | None):
    names = [plan.name for plan in pipelines]
    if not pipelines:
        raise click.UsageError("the files define no pipeline")
    if name is not None:
        for plan in pipelines:
            if plan.name == name:
                return plan
        raise click.UsageError(f"no pipeline {name!r} in the files (pipelines: {', '.join(names)})")
    if len(pipelines) > 1:
        raise click.UsageError(f"the files define {len(pipelines)} pipelines ({', '.join(names)}): "
                               f"choose one with --pipeline")
    return pipelines[0]
