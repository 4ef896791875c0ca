"""Django admin for Polyflow's models: read-mostly.

Pipelines, actions and events are defined by documents, so they are created
and changed by applying documents (`polyflow apply`, the API), never here:
the admin shows them, pauses and resumes pipelines, and deletes. Runs and
their history are read-only: statuses are written by the transition function
only (services/transitions.py), so no admin form ever has a `status` field and
runs are stopped or retried through admin actions that call the services.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from .exceptions import PolyflowError
from .models import (
    Action,
    Event,
    EventSubscription,
    Operation,
    OperationRun,
    OperationRunStatus,
    Pipeline,
    PipelineRun,
    PipelineRunStatus,
    Project,
    ProjectMember,
    SchedulerHeartbeat,
    project_model_name,
)
from .models.project import DEFAULT_PROJECT_MODEL
from .services.pipelines import delete_pipeline, set_paused
from .services.runs import retry_run, stop_run
from .statuses import RUN_ACTIVE


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False))


def preformatted(text: str) -> str:
    return format_html("<pre>{}</pre>", text) if text else "-"


def all_field_names(model) -> list[str]:
    return [f.name for f in model._meta.get_fields() if f.concrete and not f.auto_created]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never added or changed here."""

    def get_readonly_fields(self, request, obj=None):
        # Fields shown another way (JSON pretty-printed) are excluded.
        excluded = set(self.exclude or ())
        return [*(name for name in all_field_names(self.model) if name not in excluded), *self.readonly_fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# Projects ---------------------------------------------------------------------

class ProjectMemberInline(admin.TabularInline):
    model = ProjectMember
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    raw_id_fields = ("user",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "created_at", "updated_at")
    list_select_related = ("owner",)
    search_fields = ("name", "owner__username", "description")
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")
    inlines = [ProjectMemberInline]

    def get_readonly_fields(self, request, obj=None):
        # The owner's name is part of every URL of the project and its registry.
        return [*self.readonly_fields, "owner"] if obj is not None else self.readonly_fields


class ProjectMemberAdmin(admin.ModelAdmin):
    """For hosts that swap the project model: members cannot be an inline of a model Polyflow does not own."""

    list_display = ("project", "user", "role", "created_at")
    list_select_related = ("user", "project__owner")
    list_filter = ("role",)
    raw_id_fields = ("project", "user")
    readonly_fields = ("created_at",)


if project_model_name() == DEFAULT_PROJECT_MODEL:
    admin.site.register(Project, ProjectAdmin)
else:
    admin.site.register(ProjectMember, ProjectMemberAdmin)


# Pipelines --------------------------------------------------------------------

class OperationInline(ReadOnlyInline):
    model = Operation
    fields = ("position", "name", "template_source", "after", "params")
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("upstream")

    @admin.display(description="template")
    def template_source(self, operation):
        action = operation.spec.get("action")
        if action:
            return f"action {action['name']} v{action['version']}" if action.get("version") else \
                f"action {action['name']} (latest)"
        return f"template {operation.spec.get('template_name')}"

    @admin.display(description="after")
    def after(self, operation):
        return ", ".join(sorted(up.name for up in operation.upstream.all())) or "-"

    @admin.display(description="params")
    def params(self, operation):
        return json.dumps(operation.spec.get("params", {}), ensure_ascii=False)


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "is_paused", "next_slot_at", "updated_at")
    list_select_related = ("project__owner",)
    list_filter = ("is_paused",)
    search_fields = ("name", "description", "project__name", "project__owner__username")
    date_hierarchy = "created_at"
    fields = (
        "project", "name", "description", "is_paused",
        "schedule_start_at", "next_slot_at", "runs_created", "slots_dropped", "schedule_done",
        "created_by", "created_at", "updated_at", "plan_json", "content_text",
    )
    readonly_fields = tuple(f for f in fields if f != "is_paused")
    inlines = [OperationInline]
    actions = ["pause", "resume"]

    @admin.display(description="plan")
    def plan_json(self, pipeline):
        return pretty_json(pipeline.plan)

    @admin.display(description="content")
    def content_text(self, pipeline):
        return preformatted(pipeline.content)

    def has_add_permission(self, request):
        return False  # a pipeline is a compiled document: apply it

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.runs.filter(status__in=RUN_ACTIVE).exists():
            return False  # stop its runs first
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        # Only the pause flag is editable; writing it alone never overwrites the
        # schedule state the scheduler advances meanwhile.
        if "is_paused" in form.changed_data:
            set_paused(obj, obj.is_paused)

    def delete_model(self, request, obj):
        delete_pipeline(obj)

    def delete_queryset(self, request, queryset):
        for pipeline in queryset:
            try:
                delete_pipeline(pipeline)
            except PolyflowError as error:
                self.message_user(request, error.message, messages.ERROR)

    @admin.action(description="Pause selected pipelines", permissions=["change"])
    def pause(self, request, queryset):
        for pipeline in queryset:
            set_paused(pipeline, True)

    @admin.action(description="Resume selected pipelines", permissions=["change"])
    def resume(self, request, queryset):
        for pipeline in queryset:
            set_paused(pipeline, False)


# Registry -------------------------------------------------------------------------

@admin.register(Action)
class ActionAdmin(ReadOnlyAdmin):
    list_display = ("name", "version", "owner", "created_at")
    list_select_related = ("owner",)
    search_fields = ("name", "owner__username", "description")
    exclude = ("template", "content")
    readonly_fields = ("template_json", "content_text")

    @admin.display(description="template")
    def template_json(self, action):
        return pretty_json(action.template)

    @admin.display(description="content")
    def content_text(self, action):
        return preformatted(action.content)


class EventSubscriptionInline(ReadOnlyInline):
    model = EventSubscription
    fields = ("pipeline",)
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("pipeline")


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner", "updated_at")
    list_select_related = ("owner",)
    search_fields = ("name", "owner__username", "description")
    exclude = ("inputs", "content")
    readonly_fields = ("inputs_json", "content_text")
    inlines = [EventSubscriptionInline]

    @admin.display(description="inputs")
    def inputs_json(self, event):
        return pretty_json(event.inputs)

    @admin.display(description="content")
    def content_text(self, event):
        return preformatted(event.content)


@admin.register(EventSubscription)
class EventSubscriptionAdmin(ReadOnlyAdmin):
    """Derived from the pipelines' `events` lists: changed by applying the pipeline."""

    list_display = ("event", "pipeline")
    list_select_related = ("event", "pipeline")
    search_fields = ("event__name", "pipeline__name")

    def has_delete_permission(self, request, obj=None):
        return False


# Runs -------------------------------------------------------------------------------

class PipelineRunStatusInline(ReadOnlyInline):
    model = PipelineRunStatus
    fields = ("created_at", "previous", "status", "reason", "message")
    show_change_link = False
    verbose_name_plural = "status history"


class OperationRunInline(ReadOnlyInline):
    model = OperationRun
    fields = ("name", "status", "attempt", "reason", "started_at", "finished_at", "exit_code")


@admin.register(PipelineRun)
class PipelineRunAdmin(ReadOnlyAdmin):
    list_display = ("uuid", "pipeline", "project", "status", "trigger", "schedule_at", "created_at")
    list_select_related = ("pipeline__project__owner",)
    list_filter = ("status", "trigger")
    search_fields = ("uuid", "pipeline__name")
    date_hierarchy = "created_at"
    exclude = ("plan", "params")
    readonly_fields = ("params_json", "plan_json")
    raw_id_fields = ("pipeline", "event")
    inlines = [OperationRunInline, PipelineRunStatusInline]
    actions = ["stop", "retry"]

    def has_act_permission(self, request):
        """Stop and retry: for users with the model's change permission, though no form changes a run."""
        return super(ReadOnlyAdmin, self).has_change_permission(request)

    @admin.display(ordering="pipeline__project__name")
    def project(self, run):
        return run.pipeline.project

    @admin.display(description="params")
    def params_json(self, run):
        return pretty_json(run.params)

    @admin.display(description="plan")
    def plan_json(self, run):
        return pretty_json(run.plan)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status in RUN_ACTIVE:
            return False  # its ops may be running somewhere: stop it first
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        active = queryset.filter(status__in=RUN_ACTIVE).count()
        if active:
            self.message_user(request, f"{active} active run(s) kept: stop them first", messages.WARNING)
        super().delete_queryset(request, queryset.exclude(status__in=RUN_ACTIVE))

    def _each(self, request, queryset, service, done: str):
        count = 0
        for run in queryset:
            try:
                service(run)
                count += 1
            except PolyflowError as error:
                self.message_user(request, error.message, messages.WARNING)
        if count:
            self.message_user(request, f"{count} run(s) {done}", messages.SUCCESS)

    @admin.action(description="Stop selected runs", permissions=["act"])
    def stop(self, request, queryset):
        self._each(request, queryset, stop_run, "stopping")

    @admin.action(description="Retry selected runs (failed, upstream failed and stopped ops)",
                  permissions=["act"])
    def retry(self, request, queryset):
        self._each(request, queryset, retry_run, "retried")


class OperationRunStatusInline(ReadOnlyInline):
    model = OperationRunStatus
    fields = ("created_at", "attempt", "previous", "status", "reason", "message")
    show_change_link = False
    verbose_name_plural = "status history"


@admin.register(OperationRun)
class OperationRunAdmin(ReadOnlyAdmin):
    list_display = ("name", "run", "pipeline", "status", "attempt", "started_at", "finished_at")
    list_select_related = ("run__pipeline",)
    list_filter = ("status",)
    search_fields = ("name", "run__uuid", "run__pipeline__name")
    exclude = ("params", "outputs")
    readonly_fields = ("params_json", "outputs_json")
    raw_id_fields = ("run", "operation")
    inlines = [OperationRunStatusInline]

    @admin.display(ordering="run__pipeline__name")
    def pipeline(self, op_run):
        return op_run.run.pipeline

    @admin.display(description="params")
    def params_json(self, op_run):
        return pretty_json(op_run.params)

    @admin.display(description="outputs")
    def outputs_json(self, op_run):
        return pretty_json(op_run.outputs)

    def has_delete_permission(self, request, obj=None):
        return False  # delete the run


class StatusHistoryAdmin(ReadOnlyAdmin):
    list_filter = ("status",)
    date_hierarchy = "created_at"

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PipelineRunStatus)
class PipelineRunStatusAdmin(StatusHistoryAdmin):
    list_display = ("created_at", "run", "previous", "status", "reason")
    list_select_related = ("run",)
    search_fields = ("run__uuid", "reason", "message")


@admin.register(OperationRunStatus)
class OperationRunStatusAdmin(StatusHistoryAdmin):
    list_display = ("created_at", "op_run", "run", "attempt", "previous", "status", "reason")
    list_select_related = ("op_run__run",)
    search_fields = ("op_run__name", "op_run__run__uuid", "reason", "message")

    @admin.display(ordering="op_run__run_id")
    def run(self, record):
        return record.op_run.run.uuid


# The scheduler ------------------------------------------------------------------

@admin.register(SchedulerHeartbeat)
class SchedulerHeartbeatAdmin(ReadOnlyAdmin):
    """Which processes tick and when each last did (telemetry/heartbeat.py prunes silent ones)."""

    list_display = ("worker", "host", "pid", "started_at", "ticked_at", "tick_seconds")
    search_fields = ("worker", "host")
