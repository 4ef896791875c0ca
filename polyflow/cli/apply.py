"""`polyflow apply FILE... --project OWNER/PROJECT`: store documents in the database."""

from __future__ import annotations

from pathlib import Path

import click

from polyflow.cli.django_setup import database_errors, setup_database

CREATE_USER_HINT = "create the user first with `polyflow manage createsuperuser`"
# The project of `apply` and `run` without --project; its owner is made when missing.
DEFAULT_PROJECT = "local/default"
LOCAL_OWNER = "local"


def _owner_and_project(ctx, param, value: str) -> tuple[str, str]:
    from polyflow.spec.fields import dns1123_label_error

    owner, slash, name = value.partition("/")
    if not slash or not owner or not name or "/" in name:
        raise click.BadParameter(f"{value!r}: expected OWNER/PROJECT, e.g. alice/churn")
    error = dns1123_label_error(name)
    if error:
        raise click.BadParameter(error)
    return owner, name


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=False), metavar="FILE...")
@click.option("-f", "--file", "files", multiple=True,
              type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="A file to apply, as the FILE arguments are (kept for older scripts); repeat for more.")
@click.option("--project", default=DEFAULT_PROJECT, show_default=True, callback=_owner_and_project,
              metavar="OWNER/PROJECT",
              help="The project the pipelines belong to; actions and events go to OWNER's registry.")
def apply(paths: tuple[str, ...], files: tuple[str, ...], project: tuple[str, str]) -> None:
    """Create or update the pipelines, actions and events of FILES.

    FILES are YAML files of pipeline, action and event documents, given as
    `polyflow run` and `polyflow validate` take them (`-f FILE` works too).

    Everything is applied in one transaction, or nothing is: pipelines are
    created or updated by name, actions get the version they give (or the
    next one), events are created or updated. Actions and events the
    pipelines use are looked up in OWNER's registry or in the same files.

    Project: `local/default` unless --project is given, as for `polyflow run`.
    The owner `local` is created when it does not exist yet; any other OWNER
    must be an existing user (`polyflow manage createsuperuser`). The project
    is created when it does not exist yet.

    Database: the standalone project's (SQLite in $POLYFLOW_HOME, or
    DATABASE_URL), or the host project's when DJANGO_SETTINGS_MODULE is set.
    With the standalone project, a database that has no Polyflow tables yet
    is set up first (as `polyflow manage migrate` would), so that a first
    apply works; a database with some Polyflow migrations missing is never
    migrated behind your back: run `polyflow manage migrate`.

    Errors are reported as `FILE: PATH: message`, every one at once.
    Exit status: 0 when everything was applied, 1 when nothing was (invalid
    documents, unknown owner, a conflict), 2 on usage errors.
    """
    files = tuple(dict.fromkeys([*paths, *files]))
    if not files:
        raise click.UsageError("Missing argument 'FILE...': the files to apply")
    owner_name, project_name = project
    setup_database()
    with database_errors():
        lines = _apply(files, owner_name, project_name)
    for line in lines:
        click.echo(line)


def _apply(files: tuple[str, ...], owner_name: str, project_name: str) -> list[str]:
    lines, _ = apply_files(files, owner_named(owner_name), project_name)
    return lines


def owner_named(owner_name: str):
    """The user OWNER; `local` is made when missing (with no password: it cannot log in)."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    manager = user_model._default_manager
    owner = manager.filter(**{user_model.USERNAME_FIELD: owner_name}).first()
    if owner is None and owner_name == LOCAL_OWNER:
        owner = manager.create_user(**{user_model.USERNAME_FIELD: LOCAL_OWNER})
    if owner is None:
        raise click.ClickException(f"unknown owner {owner_name!r}: {CREATE_USER_HINT}")
    return owner


def apply_files(files: tuple[str, ...], owner, project_name: str):
    """Apply FILES to OWNER's project (created when missing): (lines to print, the ApplyResult).

    Invalid documents are printed as `FILE: PATH: message` and exit 1; `polyflow run` uses this too.
    """
    from django.db import transaction

    from polyflow.exceptions import PolyflowError
    from polyflow.models import Action
    from polyflow.selectors.projects import project_model
    from polyflow.services.apply import DatabaseRegistry, apply_documents, spec_limits
    from polyflow.services.projects import create_project
    from polyflow.spec import SpecValidationError, check, read_files

    owner_name = owner.get_username()
    raws, read_errors = read_files(files, spec_limits())
    if read_errors:
        # Report what is wrong with the other files too, as validate does.
        try:
            check(raws, registry=DatabaseRegistry(owner), require_registry=True, earlier_errors=read_errors,
                  limits=spec_limits())
        except SpecValidationError as error:
            _fail([(e.source, e.path, e.message) for e in error.errors])
    # The files as written are what the API shows; a file of several documents
    # is stored document by document, as the service writes them.
    contents = {raw.source: Path(raw.source).read_text(encoding="utf-8") for raw in raws if raw.source in files}
    names = {raw.data.get("name") for raw in raws if isinstance(raw.data, dict) and raw.data.get("kind") == "action"}
    stored_before = set(Action.objects.filter(owner=owner, name__in=names - {None}).values_list("pk", flat=True))

    supplies = pack_contexts(raws, files, owner)
    lines = []
    try:
        with transaction.atomic():
            project = project_model()._default_manager.filter(owner=owner, name=project_name).first()
            if project is None:
                project = create_project(owner, project_name)
                lines.append(f"project {owner_name}/{project_name}: created")
            result = apply_documents(project, raws, contents=contents, supplies=supplies)
    except PolyflowError as error:
        if error.errors:
            _fail([(item.get("source", ""), item.get("path", ""), item.get("message", "")) for item in error.errors])
        raise click.ClickException(error.message) from None

    print_warnings(result.warnings)
    for action in result.actions:
        state = "unchanged" if action.pk in stored_before else "stored"
        lines.append(f"action {action.name}: version {action.version} {state}")
    for event, created in result.events:
        lines.append(f"event {event.name}: {'created' if created else 'updated'}")
    for pipeline, created in result.pipelines:
        ops = len(pipeline.plan.get("ops", ()))
        lines.append(f"pipeline {pipeline.name}: {'created' if created else 'updated'} "
                     f"({ops} op{'s' if ops != 1 else ''})")
    return lines, result


def pack_contexts(raws, files: tuple[str, ...], owner) -> dict:
    """On the kubernetes backend, the directory of each build that needs its spec's, packed and
    stored by digest (services/build_contexts.py); first, every setting the pipelines lack is
    reported at once (exit 1) so nothing is uploaded for documents that cannot run. Other
    backends build no images: nothing is packed."""
    from polyflow.artifacts.store import StoreError, settings_store
    from polyflow.conf import polyflow_settings
    from polyflow.exceptions import MissingSettings
    from polyflow.services.apply import DatabaseRegistry, check_settings, spec_limits
    from polyflow.services.build_contexts import pack_for_files
    from polyflow.spec import SpecValidationError, check

    if polyflow_settings.BACKEND != "kubernetes":
        return {}
    try:
        compilation = check(raws, registry=DatabaseRegistry(owner), require_registry=True, limits=spec_limits())
    except SpecValidationError:
        return {}  # the apply reports every error
    try:
        check_settings(compilation.pipelines, compilation.sources, directory_packed=True)
    except MissingSettings as error:
        _fail([(item.get("source", ""), item.get("path", ""), item.get("message", "")) for item in error.errors],
              "nothing was applied or packed.")
    try:
        store = settings_store()
    except StoreError as error:
        raise click.ClickException(str(error)) from None
    supplies, errors = pack_for_files(raws, files, store)
    if errors:
        _fail(errors)
    return supplies


def print_warnings(warnings) -> None:
    """What is valid but likely wrong, on stderr: the exit status stays the command's."""
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


def _fail(items: list[tuple[str, str, str]], outcome: str = "nothing was applied."):
    for item in items:
        click.echo(": ".join(part for part in item if part), err=True)
    count = len(items)
    click.echo(f"{count} error{'s' if count != 1 else ''} found; {outcome}", err=True)
    raise SystemExit(1)
