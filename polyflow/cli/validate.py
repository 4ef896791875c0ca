"""`polyflow validate FILE...`: check documents without touching any database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from polyflow.cli.django_setup import configuration_errors_as_usage_errors

if TYPE_CHECKING:
    from polyflow.spec import Compilation

# Keep the summary to one screen: long pipelines show their first ops only.
MAX_OPS_SHOWN = 12


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--backend", type=click.Choice(["local", "kubernetes", "airflow"]),
              help="Also check that the settings (POLYFLOW_* variables) give this backend everything the "
                   "pipelines need: BUILD_REGISTRY for builds without an image, a context, a usable artifact "
                   "store; on airflow, that its DAG files carry every feature. Every problem is reported.")
def validate(files: tuple[str, ...], backend: str | None) -> None:
    """Validate pipeline, action and event documents in FILES.

    Every error of every file is reported as `FILE: PATH: message`. Actions
    and events that the files reference but do not define are listed: they
    are resolved from the registry at apply time.

    With --backend, the settings that backend would run the pipelines with
    are checked too, as `polyflow apply` checks them (a build without a
    context counts as having its spec's directory, which apply packs).

    Exit status: 0 when all files are valid, 1 when any is not (or a setting
    is missing), 2 on usage errors.
    """
    # Imported here: `polyflow --help` lists this command without loading the spec language.
    from polyflow.conf import environ_setting
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
        count = len(error.errors)
        click.echo(f"{count} error{'s' if count != 1 else ''} found.", err=True)
        raise SystemExit(1) from None
    from polyflow.cli.apply import print_warnings
    from polyflow.spec.shell import shell_warnings

    print_warnings(shell_warnings(compilation))
    if backend:
        _check_settings(compilation, backend, raws, files)
    click.echo(summary(compilation))


def _check_settings(compilation: Compilation, backend: str, raws, files: tuple[str, ...]) -> None:
    """What `polyflow apply` would refuse on `backend`: missing settings, and the build
    directories it could not pack (nothing is packed here)."""
    from polyflow.backends.requirements import environ_settings, missing_settings

    with configuration_errors_as_usage_errors():
        settings = environ_settings(backend)
    missing = missing_settings(compilation.pipelines, settings, directory_packed=True)
    problems = [f"{compilation.sources.get(item.pipeline, '')}: {item.path}: {item.as_error()['message']}"
                for item in missing]
    if backend == "kubernetes":
        from polyflow.services.build_contexts import packing_jobs

        problems += [": ".join(part for part in error if part) for error in packing_jobs(raws, files)[1]]
    for line in problems:
        click.echo(line, err=True)
    if problems:
        count = len(problems)
        settings = sum(item.setting != "BACKEND" for item in missing)
        click.echo(f"{count} problem{'s' if count != 1 else ''} for the {backend} backend "
                   f"({settings} missing setting{'s' if settings != 1 else ''}).", err=True)
        raise SystemExit(1)


def summary(compilation: Compilation) -> str:
    from polyflow.spec.describe import describe_schedule, describe_template_source

    lines = []
    for plan in compilation.pipelines:
        lines.append(f"{compilation.sources[plan.name]}: pipeline {plan.name}: valid, "
                     f"{len(plan.ops)} op{'s' if len(plan.ops) != 1 else ''}")
        lines.append(f"  schedule: {describe_schedule(plan.schedule)}")
        width = max(len(name) for name in plan.order[:MAX_OPS_SHOWN])
        lines.append("  ops, in order:")
        for name in plan.order[:MAX_OPS_SHOWN]:
            op = plan.op(name)
            after = f"  after {', '.join(op.dependencies)}" if op.dependencies else ""
            lines.append(f"    {name:<{width}}  {describe_template_source(op)}{after}")
        if len(plan.order) > MAX_OPS_SHOWN:
            lines.append(f"    ... and {len(plan.order) - MAX_OPS_SHOWN} more ops")
        if plan.events:
            lines.append(f"  runs on events: {', '.join(plan.events)}")
    for action in compilation.actions:
        version = "next version" if action.version is None else f"version {action.version}"
        lines.append(f"action {action.name} ({version}): valid")
    for event in compilation.events:
        lines.append(f"event {event.name}: valid")
    if compilation.external_actions or compilation.external_events:
        lines.append("resolved from the registry at apply time:")
        for ref, users in compilation.external_actions.items():
            version = "latest version" if ref.version is None else f"version {ref.version}"
            lines.append(f"  action {ref.name} ({version}), used by {', '.join(users)}")
        for event, users in compilation.external_events.items():
            lines.append(f"  event {event}, subscribed by {', '.join(users)}")
    return "\n".join(lines)
