import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from ..statuses import OpStatus, RunStatus


class Lifecycle(models.Model):
    """What runs and op runs share: why they are in their status, and when
    they were created, changed, started and finished. `status` itself is
    declared by each, with its own choices."""

    reason = models.CharField(max_length=64, blank=True, default="")
    message = models.TextField(blank=True, default="")
    # Not auto_now_add: a run created for a given time (a slot's tick, a test's
    # clock) records that time, and its start is never before it.
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class PipelineRun(Lifecycle):
    class Trigger(models.TextChoices):
        MANUAL = "manual"
        SCHEDULE = "schedule"
        EVENT = "event"
        # A past slot's run made on request (services/backfill.py): queued behind max_active_runs.
        BACKFILL = "backfill"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    pipeline = models.ForeignKey("polyflow.Pipeline", on_delete=models.CASCADE, related_name="runs")
    schedule_at = models.DateTimeField(null=True, blank=True)  # the slot; null for manual and event runs
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    event = models.ForeignKey("polyflow.Event", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    params = models.JSONField(default=dict)  # overrides per op: {"op": {"input": value}}
    # The plan the run was created from: updating the pipeline never changes a run.
    plan = models.JSONField()
    status = models.CharField(max_length=16, choices=RunStatus.choices(), default=RunStatus.CREATED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    # The scheduler's bookkeeping (DESIGN section 8). A worker leases the runs it
    # ticks, so that others take other runs while it talks to the backend with no
    # lock held; the least recently ticked runs are taken first.
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    ticked_at = models.DateTimeField(null=True, blank=True)
    # Why the scheduler could not advance this run the last time it tried (a bug,
    # bad data): shown by the API, CLI and dashboard; cleared once it advances.
    scheduler_error = models.TextField(blank=True, default="")
    scheduler_error_at = models.DateTimeField(null=True, blank=True)
    # Run every op, cached or not (`polyflow run --no-cache`, the API's `no_cache`).
    no_cache = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pipeline", "schedule_at"], name="polyflow_run_pipeline_slot")]
        indexes = [
            models.Index(fields=["status"], name="polyflow_run_status"),
            models.Index(fields=["pipeline", "status"], name="polyflow_run_pipe_status"),
            models.Index(fields=["pipeline", "-created_at"], name="polyflow_run_pipe_created"),
            models.Index(fields=["status", "ticked_at"], name="polyflow_run_status_ticked"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.pipeline_id}:{self.uuid}"

    @property
    def short_uuid(self) -> str:
        return self.uuid.hex[:8]


class OperationRun(Lifecycle):
    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="op_runs")
    # Null once the op is removed from the pipeline; `name` and the run's plan keep the record.
    operation = models.ForeignKey("polyflow.Operation", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="runs")
    name = models.CharField(max_length=63)
    status = models.CharField(max_length=16, choices=OpStatus.choices(), default=OpStatus.CREATED)
    attempt = models.PositiveIntegerField(default=1)
    params = models.JSONField(default=dict)  # resolved when submitted
    outputs = models.JSONField(default=dict)
    exit_code = models.IntegerField(null=True, blank=True)
    backend = models.CharField(max_length=32, blank=True, default="")
    handle = models.CharField(max_length=255, blank=True, default="")  # e.g. the pod name
    retry_at = models.DateTimeField(null=True, blank=True)  # when retrying: the next attempt's time
    # A matrix op (DESIGN section 9) is one row for the group (trial null: its status is
    # what downstream ops see) and one row per trial, numbered from 0 in trial order.
    trial = models.PositiveIntegerField(null=True, blank=True)
    trial_params = models.JSONField(default=dict, blank=True)  # a trial's own values of the matrix
    # The latest value of each metric the attempt reported ({name: value}); the series are
    # MetricPoint rows. `metrics_cursor` is where the backend's report was last read up to.
    metrics = models.JSONField(default=dict, blank=True)
    metrics_cursor = models.CharField(max_length=64, blank=True, default="")
    # A group's account of its trials: counts, the best trial, the early stopping that fired.
    summary = models.JSONField(default=dict, blank=True)
    # The attempts before the current one, oldest first: {attempt, status, reason, started_at,
    # finished_at} as the op run's own fields were when the next attempt began (the current
    # attempt's are the op run's fields themselves).
    attempts = models.JSONField(default=list, blank=True)
    # Caching (DESIGN section 10): what identifies this op run's work (scheduler/cache_key.py),
    # recorded when it is submitted; a cached op run's source, the op run whose results it reuses.
    cache_key = models.CharField(max_length=64, blank=True, default="")
    cache_source = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="cache_hits")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], condition=models.Q(trial__isnull=True),
                                    name="polyflow_oprun_run_name"),
            models.UniqueConstraint(fields=["run", "name", "trial"], condition=models.Q(trial__isnull=False),
                                    name="polyflow_oprun_run_trial"),
        ]
        indexes = [
            models.Index(fields=["status"], name="polyflow_oprun_status"),
            models.Index(fields=["run", "status"], name="polyflow_oprun_run_status"),
            models.Index(fields=["operation", "status"], name="polyflow_oprun_op_status"),
            # A backend's report of a changed attempt names its handle.
            models.Index(fields=["handle"], name="polyflow_oprun_handle"),
            # The cache's lookup: the newest succeeded op run with a key.
            models.Index(fields=["cache_key", "status", "-finished_at"], name="polyflow_oprun_cache",
                         condition=~models.Q(cache_key="")),
        ]
        ordering = ["run_id", "id"]

    def __str__(self) -> str:
        trial = "" if self.trial is None else f"[{self.trial}]"
        return f"{self.name}{trial} #{self.attempt}"

    @property
    def label(self) -> str:
        """The op's name, with the trial's index for a trial: `tune[3]`."""
        return self.name if self.trial is None else f"{self.name}[{self.trial}]"


class MetricPoint(models.Model):
    """One reported value of one metric of an attempt: the series an op run's metrics draw."""

    op_run = models.ForeignKey(OperationRun, on_delete=models.CASCADE, related_name="metric_points")
    attempt = models.PositiveIntegerField(default=1)
    step = models.BigIntegerField()
    name = models.CharField(max_length=128)
    value = models.FloatField()
    reported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["op_run", "name", "step"], name="polyflow_metric_series")]
        ordering = ["op_run_id", "name", "step", "id"]

    def __str__(self) -> str:
        return f"{self.name}@{self.step}={self.value}"
