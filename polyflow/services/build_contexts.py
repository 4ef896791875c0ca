"""Build contexts at apply time (docs/kubernetes.md "Build contexts").

A build without a context (or with a relative one) builds from its spec's directory. That
directory reaches a plan in one of two ways, each a `Supplied` keyed by (document source,
template name):

- `polyflow apply` / `polyflow run` pack it (`pack_for_files`): each template's own
  directory (the spec's, or the sub-directory its relative context names), stored by digest;
- over the API the pipeline names one (`supplied_over_api`): a context uploaded to the
  project before (`POST .../contexts/`, by digest; a relative context is then a sub-path of
  it) or a URL (`git://`, `s3://`, ...) given to kaniko as it is.

`supply` puts them in the compiled plans and actions: their BuildSpecs hold the packed
context's URI and digest (so the build hash covers it) or the URL.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..artifacts.contexts import ContextError, PackedContext, is_digest, store_context
from ..artifacts.layout import context_uri
from ..artifacts.store import Store, StoreError
from ..spec.build_context import is_url, needs_directory, relative_part, with_named, with_packed
from ..spec.plan import BuildSpec, Plan, TemplateSpec

EVERY_TEMPLATE = "*"  # a key's template part: every template of the document
_DOCUMENT_SUFFIX = re.compile(r" \(document \d+\)$")


@dataclass(frozen=True)
class Supplied:
    """The directory of a build's spec, as it was supplied."""

    packed: PackedContext | None = None
    url: str | None = None
    # The packed directory is the spec's own (an upload): a relative context is a sub-path of
    # it. False when the relative context's sub-directory itself was packed (the CLI).
    spec_directory: bool = False

    def build(self, build: BuildSpec) -> BuildSpec:
        if self.packed is not None:
            sub_path = relative_part(build.context) if self.spec_directory else None
            return with_packed(build, self.packed.uri, self.packed.digest, sub_path)
        return with_named(build, self.url or "")


Supplies = Mapping[tuple[str, str], Supplied]


# -- putting them in plans (pure) ----------------------------------------------------------------

def _supplied_template(template: TemplateSpec | None, source: str, supplies: Supplies) -> TemplateSpec | None:
    if template is None or not needs_directory(template.build):
        return template
    supplied = supplies.get((source, template.name)) or supplies.get((source, EVERY_TEMPLATE))
    if supplied is None:
        return template
    return dataclasses.replace(template, build=supplied.build(template.build))


def supply_plan(plan: Plan, source: str, supplies: Supplies, action_sources: Mapping[str, str]) -> Plan:
    """`plan` with the builds of its inline templates (from `source`) and of the actions applied
    with it (from theirs) given their supplied directories."""
    if not supplies:
        return plan
    ops = []
    for op in plan.ops:
        origin = action_sources.get(op.action.name) if op.action is not None else source
        template = _supplied_template(op.template, origin, supplies) if origin else op.template
        ops.append(op if template is op.template else dataclasses.replace(op, template=template))
    return dataclasses.replace(plan, ops=tuple(ops))


def supply_action_template(template: TemplateSpec, source: str, supplies: Supplies) -> TemplateSpec:
    return _supplied_template(template, source, supplies) if supplies else template


# -- the command line: packing the spec files' directories ----------------------------------------

def file_of(source: str, files: Sequence[str]) -> str | None:
    """The file a document came from ("f.yaml (document 2)" is of f.yaml)."""
    path = _DOCUMENT_SUFFIX.sub("", source)
    return path if path in files else None


def _templates_of(data: Mapping) -> list[tuple[str, Mapping]]:
    """(path in the document, template) of each template a document defines."""
    if data.get("kind") == "pipeline":
        return [(f"templates[{index}]", template) for index, template in enumerate(data.get("templates") or ())
                if isinstance(template, Mapping)]
    if data.get("kind") == "action" and isinstance(data.get("template"), Mapping):
        return [("template", data["template"])]
    return []


@dataclass(frozen=True)
class PackJob:
    source: str
    where: str  # the template's path in its document
    template: str
    directory: Path
    dockerfile: str


def packing_jobs(raws, files: Sequence[str]) -> tuple[list[PackJob], list[tuple[str, str, str]]]:
    """The directories to pack for the builds that need their spec's (read from the files'
    documents, nothing written), and the errors as (source, path, message): a relative context
    that names no directory, a dockerfile that is not in its context."""
    jobs: list[PackJob] = []
    errors: list[tuple[str, str, str]] = []
    for raw in raws:
        path = file_of(raw.source, files)
        if path is None or not isinstance(raw.data, Mapping):
            continue
        for where, template in _templates_of(raw.data):
            build = template.get("build")
            if not isinstance(build, Mapping) or not isinstance(template.get("name"), str):
                continue
            context = build.get("context")
            context = context if isinstance(context, str) or context is None else None
            if is_url(context) or (context or "").startswith("/"):
                continue
            directory = (Path(path).resolve().parent / (relative_part(context) or "")).resolve()
            dockerfile = build.get("dockerfile") or "Dockerfile"
            if not directory.is_dir():
                errors.append((raw.source, f"{where}.build.context",
                               f"{context!r}: no directory {directory} (a relative context is a sub-directory of "
                               f"the spec's directory)"))
            elif not (directory / dockerfile).is_file():
                errors.append((raw.source, f"{where}.build.dockerfile",
                               f"{dockerfile!r} is not in the build's context {directory}"))
            else:
                jobs.append(PackJob(raw.source, where, template["name"], directory, dockerfile))
    return jobs, errors


def pack_for_files(raws, files: Sequence[str], store: Store) -> tuple[dict[tuple[str, str], Supplied], list]:
    """Pack the directory of every build that needs its spec's: (supplies, errors as
    (source, path, message)). Every directory is checked before any is packed, so a
    refused apply uploads nothing; a directory packed once is reused within the call."""
    jobs, errors = packing_jobs(raws, files)
    if errors:
        return {}, errors
    supplies: dict[tuple[str, str], Supplied] = {}
    packed: dict[tuple[Path, str], PackedContext] = {}
    for job in jobs:
        key = (job.directory, job.dockerfile)
        try:
            if key not in packed:
                packed[key] = store_context(store, job.directory, job.dockerfile)
        except (ContextError, StoreError, OSError) as error:
            errors.append((job.source, f"{job.where}.build", f"cannot pack the build context {job.directory}: "
                                                            f"{error}"))
            continue
        supplies[(job.source, job.template)] = Supplied(packed=packed[key])
    return supplies, errors


# -- the API: an uploaded context, or a URL ----------------------------------------------------

def project_marker_uri(store: Store, project_pk: int, digest: str) -> str:
    """Marks a context uploaded to a project: a pipeline names only its own project's uploads."""
    return store.uri("contexts", "projects", str(project_pk), digest.replace(":", "-"))


def mark_uploaded(store: Store, project_pk: int, digest: str) -> None:
    store.write_bytes(project_marker_uri(store, project_pk, digest), b"")


def supplied_over_api(store: Store, project_pk: int, value: str, source: str) -> dict[tuple[str, str], Supplied]:
    """What a pipeline's `?context=` names: an upload of this project (by digest), or a URL.
    Raises ContextError when it names neither."""
    if is_digest(value):
        if not store.exists(project_marker_uri(store, project_pk, value)):
            raise ContextError(f"context {value}: no context with this digest was uploaded to this project "
                               f"(POST it to the project's contexts/ first)")
        uri = context_uri(store, value)
        return {(source, EVERY_TEMPLATE): Supplied(packed=PackedContext(uri, value, 0), spec_directory=True)}
    if is_url(value):
        return {(source, EVERY_TEMPLATE): Supplied(url=value.strip())}
    raise ContextError(f"context {value!r} is neither a digest ('sha256:' and 64 hex digits) nor a URL "
                       f"(git://, s3://, gs://, https://)")


# -- services (they write) -----------------------------------------------------------------

def upload_context(project, stream, digest: str) -> tuple[PackedContext, bool]:
    """Store a tar.gz sent to `project` (size-limited, digest-checked) and mark it as the
    project's: (what is stored, whether the store did not have it)."""
    from ..artifacts.contexts import ContextTooLarge, receive
    from ..artifacts.store import settings_store
    from ..conf import polyflow_settings
    from ..exceptions import TooLarge, Unavailable, Unprocessable

    try:
        store = settings_store()
        packed, created = receive(store, stream, digest, polyflow_settings.MAX_CONTEXT_BYTES)
        mark_uploaded(store, project.pk, digest)
    except ContextTooLarge as error:
        raise TooLarge(str(error)) from None
    except ContextError as error:
        raise Unprocessable(str(error), [{"source": "body", "path": "", "message": str(error)}]) from None
    except StoreError as error:
        raise Unavailable(f"the artifact store cannot be used: {error}") from None
    return packed, created


def api_supplies(project, value: str | None, raws) -> dict[tuple[str, str], Supplied]:
    """The supplies of a pipeline body whose `?context=` is `value` (none: {})."""
    from ..artifacts.store import settings_store
    from ..exceptions import Unavailable, Unprocessable

    if not value:
        return {}
    try:
        return supplied_over_api(settings_store(), project.pk, value, raws[0].source if raws else "body")
    except ContextError as error:
        raise Unprocessable(str(error), [{"source": "query", "path": "context", "message": str(error)}]) from None
    except StoreError as error:
        raise Unavailable(f"the artifact store cannot be used: {error}") from None
