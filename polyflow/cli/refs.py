"""How every command names a run (RUN): a UUID, a unique prefix of one, or `@latest`
(polyflow.selectors.lookup.resolve_run, docs/cli.md); and the output formats of
the listing and show commands."""

from __future__ import annotations

import json

import click

RUN_HELP = ("RUN is a run's UUID, a unique prefix of it (the 8 characters the commands show), or @latest: "
            "the newest run; PIPELINE@latest, OWNER/PROJECT@latest, OWNER/PROJECT/PIPELINE@latest: "
            "the newest of that pipeline or project.")
OUTPUTS = ("table", "json", "yaml")
OUTPUT = click.Choice(OUTPUTS)


def complete_runs(ctx, param, incomplete: str):
    """Shell completion of RUN: the 20 newest runs whose UUID starts with what is typed, and @latest."""
    from click.shell_completion import CompletionItem

    try:
        from polyflow.cli.django_setup import setup_database

        setup_database()
        from polyflow.models import PipelineRun
        from polyflow.selectors.lookup import run_path

        runs = (PipelineRun.objects.select_related("pipeline__project__owner").order_by("-created_at", "-id")[:200])
        items = [CompletionItem(run.uuid.hex[:8], help=f"{run_path(run)} {run.status}") for run in runs
                 if run.uuid.hex.startswith(incomplete.lower().replace("-", ""))][:20]
    except Exception:  # noqa: BLE001 - completion never prints a traceback into the shell
        items = []
    if "@latest".startswith(incomplete):
        items.append(CompletionItem("@latest", help="the newest run"))
    return items


def run_argument(function):
    return click.argument("run_ref", metavar="RUN", shell_complete=complete_runs)(function)


def resolve(ref: str, project: tuple[str, str] | None = None):
    """The run RUN names (with its op runs), in `project` when given; `Error: ...`, exit 1, when none
    or several do. Django must be set up (call inside `command_errors()`)."""
    from polyflow.exceptions import NotFound
    from polyflow.selectors.lookup import LATEST, resolve_run

    text = ref.strip()
    if project is not None and text.endswith(LATEST):
        # @latest and PIPELINE@latest of the project: as OWNER/PROJECT@latest, OWNER/PROJECT/PIPELINE@latest.
        if text.count("/") == 0:
            return resolve_run("/".join([*project, text[: -len(LATEST)]]).rstrip("/") + LATEST)
        run = resolve_run(text)
        found = (run.pipeline.project.owner.get_username(), run.pipeline.project.name)
        if found != tuple(project):
            raise NotFound(f"run {ref!r} is not in project {project[0]}/{project[1]} (its run {run.uuid} is in "
                           f"{found[0]}/{found[1]})")
        return run
    return resolve_run(text, project)


def _optional_project(ctx, param, value):
    from polyflow.cli.apply import _owner_and_project

    return None if value is None else _owner_and_project(ctx, param, value)


def project_option(function):
    """--project of the commands that take a run: needed against a server (the API finds runs by project)."""
    return click.option("--project", callback=_optional_project, metavar="OWNER/PROJECT",
                        help="The run's project: RUN is looked for there (needed with --server, except for "
                             "OWNER/PROJECT[/PIPELINE]@latest).")(function)


def output_option(function):
    return click.option("-o", "--output", type=OUTPUT, default="table", show_default=True,
                        help="table: for people; json or yaml: every field, for programs.")(function)


def echo_data(value, output: str) -> None:
    """`value` as JSON or YAML (the same fields either way)."""
    if output == "yaml":
        import yaml

        click.echo(yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False), nl=False)
    else:
        click.echo(json.dumps(value, indent=2))
