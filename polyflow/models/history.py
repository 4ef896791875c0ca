"""Status history: one row per transition, written by the transition function only."""

from django.conf import settings
from django.db import models


class StatusRecord(models.Model):
    status = models.CharField(max_length=16)
    previous = models.CharField(max_length=16, blank=True, default="")
    reason = models.CharField(max_length=64, blank=True, default="")
    message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    # Who asked for the change (a mark); null for what the scheduler did by itself.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")

    class Meta:
        abstract = True
        # Insertion order is the order of the transitions; times may tie or,
        # under a simulated clock, disagree.
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.previous or '-'} -> {self.status}"


class PipelineRunStatus(StatusRecord):
    run = models.ForeignKey("polyflow.PipelineRun", on_delete=models.CASCADE, related_name="statuses")

    class Meta(StatusRecord.Meta):
        verbose_name_plural = "pipeline run statuses"


class OperationRunStatus(StatusRecord):
    op_run = models.ForeignKey("polyflow.OperationRun", on_delete=models.CASCADE, related_name="statuses")
    attempt = models.PositiveIntegerField(default=1)

    class Meta(StatusRecord.Meta):
        verbose_name_plural = "operation run statuses"
