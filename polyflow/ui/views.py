"""The dashboard's pages. Thin: selectors read, polyflow.ui's pure helpers draw (DAG,
timeline, YAML), templates show. Nothing here writes: the pages' buttons call the
public API (docs/api.md) from static/polyflow/ui/ui.js.

Permissions are the API's: a page of a project the user may not read is a 404,
as the API's answer is, so names do not leak; anonymous users are sent to log in.
"""

from __future__ import annotations

from collections import Counter
from functools import wraps

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from ..access import Access
from ..exceptions import NotFound
from ..exceptions import PermissionDenied as PolyflowPermissionDenied
from ..models import PipelineRun
from ..selectors import dashboard, registry_pages
from ..selectors.exports import available_targets
from ..selectors.groups import group_progress
from ..selectors.pipelines import get_pipeline
from ..selectors.projects import get_project
from ..spec import Plan
from ..statuses import OP_ACTIVE, OP_RETRYABLE, RUN_ACTIVE, OpStatus, RunStatus
from . import filters, forms, panels, timeline
from .dag import plan_svg
from .highlight import highlight_yaml

LOGIN_URL = reverse_lazy("polyflow:ui:login")
# Stands for a run's UUID (an op's name) in URLs that the script completes.
UUID_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
MARK_STATUSES = ("succeeded", "failed", "skipped")  # what an op may be marked (the mark endpoint)
OP_PLACEHOLDER = "op-name-placeholder"


def page(view):
    """Signed in (else to the login page), GET or HEAD only, never cached; NotFound (Http404) is
    the dashboard's own 404 page, PermissionDenied its 403 page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except (NotFound, Http404) as error:
            return error_page(request, 404, getattr(error, "message", None) or str(error))
        except (PermissionDenied, PolyflowPermissionDenied) as error:
            return error_page(request, 403, str(error))

    return login_required(never_cache(require_safe(wrapper)), login_url=LOGIN_URL)


ERRORS = {404: ("Not found", "There is no such page, or it belongs to a project you cannot see."),
          403: ("Forbidden", "Your role does not allow this.")}


def error_page(request, status: int, detail: str = ""):
    title, text = ERRORS[status]
    return render(request, "polyflow/ui/error.html", {"status": status, "title": title, "text": text,
                                                      "detail": detail, "health": _health()}, status=status)


@never_cache
def not_found(request, rest=""):
    """Any other path under ui/: the dashboard's 404 page (signed in or not: it names nothing)."""
    return error_page(request, 404)


def _health():
    return dashboard.scheduler_health(timezone.now())


def show(request, template: str, context: dict, status: int = 200):
    """A page with the header's scheduler health (one query)."""
    return render(request, template, {"health": _health(), **context}, status=status)


class LoginView(auth_views.LoginView):
    template_name = "polyflow/ui/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return reverse("polyflow:ui:projects")


class LogoutView(auth_views.LogoutView):
    """POST only (Django's rule); then back to the login page."""

    def get_default_redirect_url(self):
        return str(LOGIN_URL)


@page
def projects(request):
    return show(request, "polyflow/ui/projects.html", {
        "projects": dashboard.projects_overview(request.user, timezone.now()),
        "nav": "projects",
    })


@page
def project(request, owner, project):
    get_project(request.user, owner, project)  # a 404 unless readable
    return show(request, "polyflow/ui/projects.html", {
        "projects": dashboard.projects_overview(request.user, timezone.now(), owner=owner, name=project),
        "single": True,
    })


def _api(url_name: str, **kwargs) -> str:
    return reverse(f"polyflow:{url_name}", kwargs=kwargs)


@page
def pipeline(request, owner, project, name):
    project_obj = get_project(request.user, owner, project)
    pipeline_obj = get_pipeline(project_obj, name)
    statuses = [status for status in request.GET.getlist("status") if status in RunStatus.values()]
    runs = dashboard.pipeline_runs(project_obj, name, statuses=statuses, page=request.GET.get("page", 1))
    now = timezone.now()
    summary = dashboard.summarize(pipeline_obj, dashboard.active_run_counts([pipeline_obj.pk]).get(pipeline_obj.pk, 0),
                                  now)
    counts = dashboard.run_status_counts(project_obj, name)
    keys = {"owner": owner, "project": project}
    return show(request, "polyflow/ui/pipeline.html", {
        "project": project_obj,
        "summary": summary,
        "pipeline": pipeline_obj,
        "can_act": dashboard.project_access(request.user, project_obj) >= Access.ACT,
        "dag": plan_svg(summary.plan, label=f"DAG of {name}"),
        "trigger_form": forms.trigger_fields(summary.plan),
        "grid": _grid(project_obj, pipeline_obj),
        "spec": highlight_yaml(pipeline_obj.content),
        "runs": runs,
        "run_rows": [(run, _op_counts(run)) for run in runs],
        "filters": _filters(statuses, counts),
        "filter_query": "".join(f"&status={status}" for status in statuses),
        "api": {
            "runs": _api("api-pipeline-runs", name=name, **keys),
            "pause": _api("api-pipeline-pause", name=name, **keys),
            "resume": _api("api-pipeline-resume", name=name, **keys),
        },
        # Links to the export API (the session's cookie authenticates them): the file downloads.
        "exports": [(EXPORT_LABELS.get(target, target), f"{_api('api-pipeline-export', name=name, **keys)}?to={target}")
                    for target in available_targets()],
        "run_url": reverse("polyflow:ui:run", kwargs={"uuid": UUID_PLACEHOLDER, **keys}),
        "uuid_placeholder": UUID_PLACEHOLDER,
    })


@page
def pipeline_history(request, owner, project, name):
    """The pipeline's applied specs, newest first, and a unified diff of two of them (`version`
    against `base`; by default the newest against the one before)."""
    from ..selectors.spec_history import history_page

    project_obj = get_project(request.user, owner, project)
    pipeline_obj = get_pipeline(project_obj, name)
    versions, shown, compared, diff = history_page(pipeline_obj, request.GET.get("version"), request.GET.get("base"))
    return show(request, "polyflow/ui/pipeline_history.html", {
        "project": project_obj, "pipeline": pipeline_obj, "versions": versions, "shown": shown,
        "compared": compared, "diff": diff, "text": highlight_yaml(shown.content) if shown else "",
    })


EXPORT_LABELS = {"airflow": "Airflow DAG", "argo": "Argo Workflow"}
GRID_RUNS = 25  # columns of the pipeline page's grid


def _grid(project_obj, pipeline_obj) -> dict:
    """Airflow's grid: the newest runs as columns (oldest on the left), the ops as rows, each cell
    the op's status in that run, linking to its row on the run's page (three queries)."""
    from ..selectors.runs import recent_runs_grid

    data = recent_runs_grid(pipeline_obj, limit=GRID_RUNS)
    runs = list(reversed(data["runs"]))
    base = reverse("polyflow:ui:run", kwargs={"owner": project_obj.owner.get_username(), "project": project_obj.name,
                                              "uuid": UUID_PLACEHOLDER})
    for run in runs:
        run["url"] = base.replace(UUID_PLACEHOLDER, str(run["uuid"]))
        run["short"] = str(run["uuid"]).replace("-", "")[:8]
    rows = [{"op": name, "cells": [(run, run["ops"].get(name)) for run in runs]} for name in data["ops"]]
    return {"runs": runs, "rows": rows}


def _filters(selected: list[str], counts: dict[str, int]) -> list[dict]:
    chips = [{"status": "", "label": "all", "count": sum(counts.values()), "active": not selected}]
    chips += [{"status": status, "label": status.replace("_", " "), "count": counts.get(status, 0),
               "active": status in selected} for status in RunStatus.values()]
    return chips


def _op_counts(run) -> list[tuple[str, int, float]]:
    """A run's progress bar: its ops by status (a matrix op counts once, as its group)."""
    return panels.status_bar(Counter(op_run.status for op_run in run.op_runs.all()))


# A run page draws every op's body (attempts, params, panel, buttons, logs) inline while it is
# small; past these, an op's body is fetched when its row is opened (`run_op`): a 200-op run or
# a group of 1,000 trials stays a page of a few hundred KiB drawn in well under 200 ms.
INLINE_OPS = 40
INLINE_TRIALS = 100


def _op_entry(op_run, spec, history, bars, panel, progress, now, urls, inline=True) -> dict:
    attempts: dict[int, list] = {}
    for record in history:
        attempts.setdefault(record.attempt, []).append(record)
    seconds = _seconds(op_run, now)
    return {
        "run": op_run,
        "spec": spec,
        "attempts": sorted(attempts.items(), reverse=True),
        "attempt_numbers": list(range(op_run.attempt, 0, -1)),
        "bars": bars,
        "seconds": "" if seconds is None else f"{seconds:.6f}",
        "duration": timeline.duration(seconds),
        "panel": panel,
        "progress": progress,
        "active": op_run.status in OP_ACTIVE,
        "inline": inline,
        "status_label": str(op_run.status).replace("_", " "),
        "body_url": _op_url(urls, "polyflow:ui:run-op", op_run.name),
        "api": {action: _op_url(urls, f"polyflow:api-op-run-{action}", op_run.name) for action in ("retry", "stop")},
    }


def _op_urls(keys: dict) -> dict[str, str]:
    """The URLs of an op of the run, with OP_PLACEHOLDER for its name: reversed once a page (a page
    has hundreds of ops), the op's name put in by `_op_url`."""
    return {name: reverse(name, kwargs={**keys, "op": OP_PLACEHOLDER})
            for name in ("polyflow:ui:run-op", "polyflow:api-op-run-retry", "polyflow:api-op-run-stop")}


def _op_url(urls: dict, name: str, op: str) -> str:
    from django.utils.encoding import iri_to_uri

    return urls[name].replace(OP_PLACEHOLDER, iri_to_uri(op))


def _inline(op_runs, progress) -> set[str]:
    if len(op_runs) > INLINE_OPS:
        return set()
    return {op_run.name for op_run in op_runs
            if op_run.name not in progress or progress[op_run.name].total <= INLINE_TRIALS}


@page
def run(request, owner, project, uuid):
    project_obj = get_project(request.user, owner, project)
    detail = dashboard.run_detail(project_obj, uuid, every_history_up_to=INLINE_OPS)
    run_obj, op_runs = detail.run, detail.op_runs
    now = timezone.now()
    keys = {"owner": owner, "project": project, "uuid": str(run_obj.uuid)}
    gantt = timeline.build(op_runs, detail.op_history, now, run_obj.finished_at)
    specs = {op.name: op for op in detail.plan.ops}
    progress = group_progress(run_obj.pk)
    inline = _inline(op_runs, progress)
    op_panels = panels.build(run_obj, detail.plan, op_runs, progress, now, only=inline)
    can_act = dashboard.project_access(request.user, project_obj) >= Access.ACT
    urls = _op_urls(keys)
    ops = [_op_entry(op_run, specs.get(op_run.name), detail.op_history.get(op_run.name, ()), row.bars,
                     op_panels.get(op_run.name), progress.get(op_run.name), now, urls, op_run.name in inline)
           for op_run, row in zip(op_runs, gantt.rows, strict=True)]
    return show(request, "polyflow/ui/run.html", {
        "project": project_obj,
        "run": run_obj,
        "pipeline": run_obj.pipeline,
        "history": detail.history,
        "ops": ops,
        "timeline": gantt,
        "duration": timeline.duration(_seconds(run_obj, now)),
        "active": run_obj.status in RUN_ACTIVE,
        "retryable": run_obj.status not in RUN_ACTIVE and any(op.status in OP_RETRYABLE for op in op_runs),
        "can_act": can_act,
        "dag": _run_dag(run_obj, detail.plan, op_runs, progress),
        "legend": [(status, status.replace("_", " ")) for status in OpStatus.values()],
        "live_url": reverse("polyflow:ui:run-live", kwargs=keys),
        "groups": " ".join(op_run.name for op_run in op_runs
                           if panels.panel_kind(specs.get(op_run.name), op_run) == "group"),
        "api": {
            "run": _api("api-run", **keys),
            "stop": _api("api-run-stop", **keys),
            "retry": _api("api-run-retry", **keys),
            "statuses": _api("api-run-statuses", **keys),
            "logs": _api("api-op-run-logs", op=OP_PLACEHOLDER, **keys),
            "op": _api("api-op-run", op=OP_PLACEHOLDER, **keys),
            # POST .../ops/{op}/mark/ {"status", "reason"} (docs/api.md)
            "mark": _api("api-op-run-mark", op=OP_PLACEHOLDER, **keys),
        },
        "mark_statuses": MARK_STATUSES,
        **_run_statuses(),
    })


def _run_statuses() -> dict:
    return {
        "op_placeholder": OP_PLACEHOLDER,
        "active_statuses": " ".join(sorted(RUN_ACTIVE)),
        "op_active_statuses": " ".join(sorted(OP_ACTIVE)),
        "retryable_statuses": " ".join(sorted(OP_RETRYABLE)),
    }


@page
def run_op(request, owner, project, uuid, op):
    """One op's body on the run page (its attempts, params, outputs, panel, buttons and logs),
    drawn as the page draws it inline: what the page asks for when a row is opened on a run too
    large to draw every op's body at once."""
    project_obj = get_project(request.user, owner, project)
    detail = dashboard.run_detail(project_obj, uuid, op=op)
    run_obj = detail.run
    op_run = next((item for item in detail.op_runs if item.name == op), None)
    if op_run is None:
        raise NotFound(f"op {op!r} not found in run {run_obj.uuid}")
    now = timezone.now()
    keys = {"owner": owner, "project": project, "uuid": str(run_obj.uuid)}
    progress = group_progress(run_obj.pk)
    (row,) = timeline.build([op_run], detail.op_history, now).rows
    panel = panels.build(run_obj, detail.plan, [op_run], progress, now,
                         pages={op: _page_number(request.GET.get("trials"))}).get(op)
    return render(request, "polyflow/ui/_op_body.html", {
        "op": _op_entry(op_run, detail.plan.op(op) if op in detail.plan.order else None,
                        detail.op_history.get(op, ()), row.bars, panel, progress.get(op), now, _op_urls(keys)),
        "can_act": dashboard.project_access(request.user, project_obj) >= Access.ACT,
        "mark_statuses": MARK_STATUSES,
    })


@page
def run_live(request, owner, project, uuid):
    """What the run page replaces while its run goes on (ui.js asks once a poll): the DAG with
    the groups' progress, each group's progress line, and the panels of the ops in `?op=`
    (those open on the page), drawn as the page draws them."""
    project_obj = get_project(request.user, owner, project)
    run_obj = dashboard.dashboard_run(project_obj, uuid)
    plan = Plan.from_dict(run_obj.plan)
    op_runs = list(run_obj.op_runs.all())
    progress = group_progress(run_obj.pk)
    return render(request, "polyflow/ui/_live.html", {
        "dag": _run_dag(run_obj, plan, op_runs, progress),
        "progress": progress,
        "panels": panels.build(run_obj, plan, op_runs, progress, timezone.now(), only=request.GET.getlist("op"),
                               pages=_trial_pages(request.GET.getlist("trials"))),
    })


def _page_number(text: str | None) -> int:
    """A page number as a query gives it: 1 for nothing, or what is no number."""
    try:
        return max(int(text or 1), 1)
    except ValueError:
        return 1


def _trial_pages(values: list[str]) -> dict[str, int]:
    """`?trials=tune:3`: the page of group tune's trials that is open on the page, redrawn as it is."""
    pages = {}
    for value in values:
        name, _, number = value.rpartition(":")
        if name:
            pages[name] = _page_number(number)
    return pages


def _run_dag(run_obj, plan, op_runs, progress):
    return plan_svg(plan, {op.name: op.status for op in op_runs}, links={op.name: f"#op-{op.name}" for op in op_runs},
                    badges=panels.badges(progress), label=f"DAG of run {run_obj.uuid}")


def _seconds(item, now) -> float | None:
    """A run's or an op run's time from its own start to its end (to now while it goes on), never
    negative: a run ticked ahead of the clock has not started yet."""
    if item.started_at is None:
        return None
    return max(((item.finished_at or now) - item.started_at).total_seconds(), 0.0)


@page
def project_runs(request, owner, project):
    """The project's runs: filters by status, pipeline, trigger and creation time (a range, or the
    last hour, day, week, month), and search by a run UUID's prefix or a param's value. Every filter
    is a query parameter, so a filtered page is a link."""
    project_obj = get_project(request.user, owner, project)
    return _runs_page(request, dashboard.pipeline_names(project_obj), project_obj,
                      lambda **filters: dashboard.project_runs(project_obj, **filters))


@page
def all_runs(request):
    """The runs of every project the viewer can see, with the filters of a project's runs page."""
    return _runs_page(request, dashboard.visible_pipeline_names(request.user), None,
                      lambda **filters: dashboard.visible_runs(request.user, **filters))


def _runs_page(request, names: list[str], project_obj, read):
    query = request.GET
    statuses = [value for value in query.getlist("status") if value in RunStatus.values()]
    triggers = [value for value in query.getlist("trigger") if value in PipelineRun.Trigger.values]
    pipelines = [value for value in query.getlist("pipeline") if value in names]
    since = query.get("since", "")
    # From and To are the viewer's wall-clock times: the page's script sends its zone along (`tz`).
    zone = filters.viewer_zone(query.get("tz"))
    created_after, created_before = filters.moment(query.get("from"), zone), filters.moment(query.get("to"), zone)
    now = timezone.now()
    if since in dashboard.TIME_RANGES:
        created_after = now - dashboard.TIME_RANGES[since]
    search = query.get("q", "")[:64]
    param_texts = query.getlist("param")[:10]
    params, param_error = filters.param_filters(param_texts)
    if param_error:
        runs = read(search="-")  # "-" is no UUID prefix: a search that cannot be run finds no run
    else:
        runs = read(statuses=statuses, pipelines=pipelines, triggers=triggers, created_after=created_after,
                    created_before=created_before, search=search, params=params, page=query.get("page", 1))
    kept = query.copy()
    kept.pop("page", None)
    return show(request, "polyflow/ui/runs.html", {
        "project": project_obj,
        "runs": runs,
        "run_rows": [(run, _op_counts(run)) for run in runs],
        "statuses": [(status, status.replace("_", " "), status in statuses) for status in RunStatus.values()],
        "triggers": [(value, value in triggers) for value in PipelineRun.Trigger.values],
        "pipelines": [(name, name in pipelines) for name in names],
        "since": since, "ranges": [("", "any time"), ("1h", "last hour"), ("24h", "last 24 hours"),
                                   ("7d", "last 7 days"), ("30d", "last 30 days")],
        "created_after": "" if since else query.get("from", ""), "created_before": query.get("to", ""),
        "zone": filters.zone_name(zone),
        "search": search, "param": (param_texts or [""])[0], "param_error": param_error,
        "filtered": bool(statuses or triggers or pipelines or created_after or created_before or search.strip()
                         or params or param_error),
        "page_query": kept.urlencode(),
        "nav": "runs" if project_obj is None else None,
    })


# -- The registry: an owner's actions and events ---------------------------------------------


@page
def actions(request, owner):
    owner_obj, can_act = registry_pages.registry_owner(request.user, owner)
    return show(request, "polyflow/ui/actions.html", {
        "owner": owner_obj, "actions": registry_pages.actions_page(owner_obj), "can_act": can_act,
    })


@page
def action(request, owner, name):
    owner_obj, can_act = registry_pages.registry_owner(request.user, owner)
    versions, shown, compared, diff = registry_pages.action_page(owner_obj, name, request.GET.get("version"),
                                                                 request.GET.get("base"))
    return show(request, "polyflow/ui/action.html", {
        "owner": owner_obj, "versions": versions, "shown": shown, "compared": compared, "diff": diff,
        "text": highlight_yaml(registry_pages.action_text(shown)),
    })


@page
def events(request, owner):
    owner_obj, can_act = registry_pages.registry_owner(request.user, owner)
    return show(request, "polyflow/ui/events.html", {
        "owner": owner_obj, "events": registry_pages.events_page(request.user, owner_obj), "can_act": can_act,
    })


@page
def event(request, owner, name):
    owner_obj, can_act = registry_pages.registry_owner(request.user, owner)
    event_obj = registry_pages.event_page(request.user, owner_obj, name)
    return show(request, "polyflow/ui/event.html", {
        "owner": owner_obj, "event": event_obj, "can_act": can_act, "fields": forms.event_fields(event_obj),
        "fire_url": _api("api-event-fire", owner=owner, name=name),
        "run_url": reverse("polyflow:ui:run", kwargs={"owner": "OWNER", "project": "PROJECT",
                                                      "uuid": UUID_PLACEHOLDER}),
        "spec": highlight_yaml(event_obj.content) if event_obj.content else "",
    })
