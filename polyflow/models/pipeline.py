from django.conf import settings
from django.db import models

from .project import name_validator, project_model_name


class Pipeline(models.Model):
    project = models.ForeignKey(project_model_name(), on_delete=models.CASCADE, related_name="polyflow_pipelines")
    name = models.CharField(max_length=63, validators=[name_validator])
    description = models.TextField(blank=True, default="")
    content = models.TextField(blank=True, default="")  # the document as submitted (YAML or JSON)
    plan = models.JSONField()  # Plan.to_dict(): what runs are created from
    is_paused = models.BooleanField(default=False)
    # Schedule state, advanced by the scheduler.
    schedule_start_at = models.DateTimeField(null=True, blank=True)  # start_at, or when applied
    last_slot_at = models.DateTimeField(null=True, blank=True)  # the newest slot created or dropped
    next_slot_at = models.DateTimeField(null=True, blank=True, db_index=True)
    runs_created = models.PositiveIntegerField(default=0)
    slots_dropped = models.PositiveIntegerField(default=0)  # due slots skipped with catchup false
    schedule_done = models.BooleanField(default=False)
    # Why creating this pipeline's due runs failed the last time (cleared when it works).
    scheduler_error = models.TextField(blank=True, default="")
    scheduler_error_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="polyflow_pipeline_project_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Operation(models.Model):
    """One op of a pipeline's current plan, with its upstream edges (for queries and the DAG view)."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="operations")
    name = models.CharField(max_length=63)
    position = models.PositiveIntegerField()  # in the plan's topological order
    spec = models.JSONField()  # OpSpec.to_dict()
    upstream = models.ManyToManyField("self", symmetrical=False, related_name="downstream", blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pipeline", "name"], name="polyflow_operation_pipeline_name")]
        ordering = ["pipeline_id", "position"]

    def __str__(self) -> str:
        return self.name


class PipelineSpecVersion(models.Model):
    """A spec text of a pipeline as applied, kept when it differs from the one before: the history
    that the pipeline's history page diffs. Version 1 is the first applied (or, for a pipeline
    older than this history, its text when the history began)."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="spec_versions")
    version = models.PositiveIntegerField()
    content = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pipeline", "version"],
                                               name="polyflow_pipeline_spec_version")]
        ordering = ["pipeline", "-version"]

    def __str__(self) -> str:
        return f"{self.pipeline} v{self.version}"
