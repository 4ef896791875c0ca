"""What the command line names things by: runs by a unique prefix of their UUID or `@latest`,
pipelines and events by name across projects and owners, earlier attempts of an op run.

Whoever runs the command line has the database, so these see every project (reads only).
"""

from __future__ import annotations

import re
import uuid

from ..exceptions import NotFound
from ..models import Event, OperationRun, Pipeline, PipelineRun
from ..spec.errors import choices_text
from .run_search import dashed
from .runs import with_op_runs

LATEST = "@latest"
# How many runs an ambiguous prefix lists.
MATCHES_SHOWN = 10
_HEX = re.compile(r"[0-9a-f]+")


def resolve_run(ref: str, project: tuple[str, str] | None = None) -> PipelineRun:
    """The run `ref` names, with its op runs:

    - a UUID, with or without dashes;
    - a unique prefix of one (`ed2298c4`, as the command line shows runs), dashes optional;
    - `@latest`: the newest run of the database; `PIPELINE@latest`, `OWNER/PROJECT@latest` and
      `OWNER/PROJECT/PIPELINE@latest`: the newest run of that pipeline or project.

    NotFound when nothing matches, a prefix matches several runs (they are named), or a
    pipeline name is in several projects. `project` (OWNER, PROJECT): a UUID or prefix is looked
    for among its runs only.
    """
    text = ref.strip()
    if text.endswith(LATEST):
        return _latest(text[: -len(LATEST)], ref)
    digits = text.lower().replace("-", "")
    if not digits or not _HEX.fullmatch(digits) or len(digits) > 32:
        raise NotFound(f"run {ref!r} not found: expected a UUID, a prefix of one (e.g. ed2298c4) or @latest "
                       "(PIPELINE@latest, OWNER/PROJECT@latest)")
    runs, where = PipelineRun.objects.all(), ""
    if project is not None:
        _project_exists(*project)
        runs = runs.filter(pipeline__project__owner__username=project[0], pipeline__project__name=project[1])
        where = f" in project {project[0]}/{project[1]}"
    if len(digits) == 32:
        runs = runs.filter(uuid=uuid.UUID(digits))
    else:
        runs = runs.filter(uuid__startswith=dashed(digits))
    found = list(runs.select_related("pipeline__project__owner").order_by("-created_at", "-id")
                 [: MATCHES_SHOWN + 1].only("uuid", "status", "created_at", "pipeline__name",
                                            "pipeline__project__name", "pipeline__project__owner"))
    if not found:
        if len(digits) == 32:
            raise NotFound(f"run {uuid.UUID(digits)} not found{where}")
        raise NotFound(f"run {ref!r} not found: no run's UUID{where} starts with {digits}")
    if len(found) > 1:
        listed = "; ".join(f"{run.uuid} ({run_path(run)}, {run.status})" for run in found[:MATCHES_SHOWN])
        more = " and more" if len(found) > MATCHES_SHOWN else ""
        raise NotFound(f"run prefix {ref!r} is ambiguous: it matches {listed}{more}; give more of the UUID")
    return _with_op_runs(found[0].pk)


def run_path(run: PipelineRun) -> str:
    project = run.pipeline.project
    return f"{project.owner.get_username()}/{project.name}/{run.pipeline.name}"


def _with_op_runs(pk: int) -> PipelineRun:
    return with_op_runs(PipelineRun.objects.filter(pk=pk)).get()


def _latest(scope: str, ref: str) -> PipelineRun:
    runs = PipelineRun.objects.all()
    parts = scope.split("/") if scope else []
    if any(not part for part in parts) or len(parts) > 3:
        raise NotFound(f"run {ref!r} not found: expected @latest, PIPELINE@latest, OWNER/PROJECT@latest or "
                       "OWNER/PROJECT/PIPELINE@latest")
    if len(parts) == 1:
        pipeline = find_pipeline(parts[0])
        runs, what = runs.filter(pipeline=pipeline), f"pipeline {pipeline_path(pipeline)}"
    elif len(parts) == 2:
        owner, project = parts
        runs, what = runs.filter(pipeline__project__owner__username=owner,
                                 pipeline__project__name=project), f"project {owner}/{project}"
        _project_exists(owner, project)
    elif len(parts) == 3:
        pipeline = find_pipeline(parts[2], project=(parts[0], parts[1]))
        runs, what = runs.filter(pipeline=pipeline), f"pipeline {pipeline_path(pipeline)}"
    else:
        what = "the database"
    pk = runs.order_by("-created_at", "-id").values_list("pk", flat=True).first()
    if pk is None:
        raise NotFound(f"run {ref!r} not found: {what} has no runs")
    return _with_op_runs(pk)


def _project_exists(owner: str, name: str) -> None:
    from .projects import project_by_name

    project_by_name(owner, name)


def pipeline_path(pipeline: Pipeline) -> str:
    project = pipeline.project
    return f"{project.owner.get_username()}/{project.name}/{pipeline.name}"


def find_pipeline(name: str, *, project: tuple[str, str] | None = None) -> Pipeline:
    """Pipeline `name` of project (OWNER, PROJECT), or of whichever project has one of that name;
    NotFound naming the projects when several have one, or the project's pipelines when it has none."""
    pipelines = Pipeline.objects.select_related("project__owner").defer("content")
    if project is not None:
        from .projects import project_by_name

        found = project_by_name(*project)
        match = pipelines.filter(project=found, name=name).first()
        if match is None:
            names = Pipeline.objects.filter(project=found).order_by("name").values_list("name", flat=True)
            raise NotFound(f"pipeline {name!r} not found in {project[0]}/{project[1]} "
                           f"(pipelines: {choices_text(names)})")
        return match
    matches = list(pipelines.filter(name=name).order_by("project__owner__username", "project__name")[:MATCHES_SHOWN])
    if not matches:
        names = Pipeline.objects.order_by("name").values_list("name", flat=True).distinct()
        raise NotFound(f"pipeline {name!r} not found (pipelines: {choices_text(names)})")
    if len(matches) > 1:
        projects = ", ".join(f"{p.project.owner.get_username()}/{p.project.name}" for p in matches)
        raise NotFound(f"pipeline {name!r} is in several projects ({projects}): choose one with --project "
                       f"OWNER/PROJECT (or OWNER/PROJECT/{name}@latest for a run)")
    return matches[0]


def find_event(name: str, *, owner: str | None = None) -> Event:
    """Event `name` of `owner`, or of whichever owner has one of that name (NotFound naming the owners
    when several do)."""
    events = Event.objects.select_related("owner").filter(name=name)
    if owner is not None:
        events = events.filter(owner__username=owner)
    matches = list(events.order_by("owner__username")[:MATCHES_SHOWN])
    if not matches:
        where = f" of {owner}" if owner is not None else ""
        names = Event.objects.order_by("name").values_list("name", flat=True).distinct()
        if owner is not None:
            names = names.filter(owner__username=owner)
        raise NotFound(f"event {name!r}{where} not found (events: {choices_text(names)})")
    if len(matches) > 1:
        owners = ", ".join(event.owner.get_username() for event in matches)
        raise NotFound(f"event {name!r} is in several registries ({owners}): choose one with --owner USER")
    return matches[0]


def op_runs_in_order(run: PipelineRun) -> list[OperationRun]:
    """The run's op runs, ops in their order and each matrix op's trials after its group."""
    from ..matrix.grouping import ops_and_trials

    ops, trials = ops_and_trials(OperationRun.objects.filter(run=run).order_by("id"))
    ordered = []
    for op in ops:
        ordered.append(op)
        ordered.extend(trials.get(op.name, ()))
    return ordered


def all_pipelines(*, project: tuple[str, str] | None = None):
    """Pipelines of every project (or of project (OWNER, PROJECT)), by project then name."""
    pipelines = Pipeline.objects.select_related("project__owner").defer("content")
    if project is not None:
        from .projects import project_by_name

        pipelines = pipelines.filter(project=project_by_name(*project))
    return pipelines.order_by("project__owner__username", "project__name", "name")


def run_summaries(pipeline_ids) -> dict[int, tuple[int, PipelineRun | None]]:
    """{pipeline id: (how many runs, its newest run)}, in two queries."""
    from django.db.models import Count, Max

    ids = list(pipeline_ids)
    rows = (PipelineRun.objects.filter(pipeline_id__in=ids).order_by().values("pipeline_id")
            .annotate(n=Count("id"), newest=Max("id")))
    counts = {row["pipeline_id"]: (row["n"], row["newest"]) for row in rows}
    newest = PipelineRun.objects.in_bulk([newest for _, newest in counts.values()])
    return {pk: (counts[pk][0], newest.get(counts[pk][1])) if pk in counts else (0, None) for pk in ids}

