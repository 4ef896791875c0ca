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
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from ..access import Access
from ..exceptions import NotFound
from ..selectors import dashboard
from ..selectors.groups import group_progress
from ..selectors.pipelines import get_pipeline
from ..selectors.projects import get_project
from ..spec import Plan
from ..statuses import OP_ACTIVE, OP_RETRYABLE, RUN_ACTIVE, OpStatus, RunStatus
from . import panels, timeline
from .dag import plan_svg
from .highlight import highlight_yaml

LOGIN_URL = reverse_lazy("polyflow:ui:login")
# Stands for a run's UUID (an op's name) in URLs that the script completes.
UUID_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
OP_PLACEHOLDER = "op-name-placeholder"


def page(view):
    """Signed in (else to the login page), GET or HEAD only, never cached; NotFound is a 404."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotFound as error:
            raise Http404(error.message) from None

    return login_required(never_cache(require_safe(wrapper)), login_url=LOGIN_URL)


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
    return render(request, "polyflow/ui/projects.html", {
        "projects": dashboard.projects_overview(request.user, timezone.now()),
        "nav": "projects",
    })


@page
def project(request, owner, project):
    get_project(request.user, owner, project)  # a 404 unless readable
    return render(request, "polyflow/ui/projects.html", {
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
    return render(request, "polyflow/ui/pipeline.html", {
        "project": project_obj,
        "summary": summary,
        "pipeline": pipeline_obj,
        "can_act": dashboard.project_access(request.user, project_obj) >= Access.ACT,
        "dag": plan_svg(summary.plan, label=f"DAG of {name}"),
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
        "run_url": reverse("polyflow:ui:run", kwargs={"uuid": UUID_PLACEHOLDER, **keys}),
        "uuid_placeholder": UUID_PLACEHOLDER,
    })


def _filters(selected: list[str], counts: dict[str, int]) -> list[dict]:
    chips = [{"status": "", "label": "all", "count": sum(counts.values()), "active": not selected}]
    chips += [{"status": status, "label": status.replace("_", " "), "count": counts.get(status, 0),
               "active": status in selected} for status in RunStatus.values()]
    return chips


def _op_counts(run) -> list[tuple[str, int, float]]:
    """A run's progress bar: its ops by status (a matrix op counts once, as its group)."""
    return panels.status_bar(Counter(op_run.status for op_run in run.op_runs.all()))


@page
def run(request, owner, project, uuid):
    project_obj = get_project(request.user, owner, project)
    detail = dashboard.run_detail(project_obj, uuid)
    run_obj, op_runs = detail.run, detail.op_runs
    now = timezone.now()
    keys = {"owner": owner, "project": project, "uuid": str(run_obj.uuid)}
    gantt = timeline.build(op_runs, detail.op_history, now, run_obj.finished_at)
    specs = {op.name: op for op in detail.plan.ops}
    progress = group_progress(run_obj.pk)
    op_panels = panels.build(run_obj, detail.plan, op_runs, progress, now)
    ops = []
    for op_run, row in zip(op_runs, gantt.rows, strict=True):
        attempts: dict[int, list] = {}
        for record in detail.op_history.get(op_run.name, ()):
            attempts.setdefault(record.attempt, []).append(record)
        ops.append({
            "run": op_run,
            "spec": specs.get(op_run.name),
            "attempts": sorted(attempts.items(), reverse=True),
            "bars": row.bars,
            "duration": timeline.duration(row.bars[-1].seconds) if row.bars and row.bars[-1].end else "",
            "panel": op_panels.get(op_run.name),
            "progress": progress.get(op_run.name),
        })
    return render(request, "polyflow/ui/run.html", {
        "project": project_obj,
        "run": run_obj,
        "pipeline": run_obj.pipeline,
        "history": detail.history,
        "ops": ops,
        "timeline": gantt,
        "duration": timeline.duration(_seconds(run_obj, now)),
        "active": run_obj.status in RUN_ACTIVE,
        "retryable": run_obj.status not in RUN_ACTIVE and any(op.status in OP_RETRYABLE for op in op_runs),
        "can_act": dashboard.project_access(request.user, project_obj) >= Access.ACT,
        "dag": _run_dag(run_obj, detail.plan, op_runs, progress),
        "legend": [(status, status.replace("_", " ")) for status in OpStatus.values()],
        "live_url": reverse("polyflow:ui:run-live", kwargs=keys),
        "groups": " ".join(name for name, panel in op_panels.items() if panel.kind == "group"),
        "api": {
            "run": _api("api-run", **keys),
            "stop": _api("api-run-stop", **keys),
            "retry": _api("api-run-retry", **keys),
            "statuses": _api("api-run-statuses", **keys),
            "logs": _api("api-op-run-logs", op=OP_PLACEHOLDER, **keys),
        },
        "op_placeholder": OP_PLACEHOLDER,
        "active_statuses": " ".join(sorted(RUN_ACTIVE)),
        "op_active_statuses": " ".join(sorted(OP_ACTIVE)),
        "retryable_statuses": " ".join(sorted(OP_RETRYABLE)),
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
        "panels": panels.build(run_obj, plan, op_runs, progress, timezone.now(), only=request.GET.getlist("op")),
    })


def _run_dag(run_obj, plan, op_runs, progress):
    return plan_svg(plan, {op.name: op.status for op in op_runs}, links={op.name: f"#op-{op.name}" for op in op_runs},
                    badges=panels.badges(progress), label=f"DAG of run {run_obj.uuid}")


def _seconds(run_obj, now) -> float | None:
    if run_obj.started_at is None:
        return None
    return ((run_obj.finished_at or now) - run_obj.started_at).total_seconds()
