from rest_framework import serializers

from ...models import PipelineRun
from ...selectors.runs import RUN_ORDERINGS
from ...statuses import OpStatus, RunStatus


class OpRunSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=OpStatus.choices())
    reason = serializers.CharField()
    message = serializers.CharField()
    attempt = serializers.IntegerField()
    params = serializers.JSONField()
    outputs = serializers.JSONField()
    exit_code = serializers.IntegerField(allow_null=True)
    backend = serializers.CharField()
    handle = serializers.CharField(help_text="the backend's name for it, e.g. the pod")
    retry_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class OpRunDetailSerializer(OpRunSerializer):
    run = serializers.UUIDField(source="run.uuid")


class RunSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    owner = serializers.CharField(source="pipeline.project.owner.username")
    project = serializers.CharField(source="pipeline.project.name")
    pipeline = serializers.CharField(source="pipeline.name")
    trigger = serializers.ChoiceField(choices=PipelineRun.Trigger.choices)
    schedule_at = serializers.DateTimeField(allow_null=True)
    event = serializers.CharField(source="event.name", allow_null=True, default=None)
    params = serializers.JSONField()
    status = serializers.ChoiceField(choices=RunStatus.choices())
    reason = serializers.CharField()
    message = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    scheduler_error = serializers.CharField(
        help_text="why the scheduler could not advance this run the last time it tried; empty when it can")
    scheduler_error_at = serializers.DateTimeField(allow_null=True)
    op_runs = OpRunSerializer(many=True)


class StatusSerializer(serializers.Serializer):
    status = serializers.CharField()
    previous = serializers.CharField(help_text="the status before; empty for the first")
    reason = serializers.CharField()
    message = serializers.CharField()
    created_at = serializers.DateTimeField()


class OpRunStatusSerializer(StatusSerializer):
    attempt = serializers.IntegerField()


class LogsSerializer(serializers.Serializer):
    op = serializers.CharField()
    attempt = serializers.IntegerField()
    lines = serializers.ListField(child=serializers.CharField(),
                                 help_text="empty until a backend that keeps logs exists")


class TriggerSerializer(serializers.Serializer):
    params = serializers.DictField(
        child=serializers.DictField(), required=False,
        help_text='overrides per op: `{"op": {"input": value}}`, checked like the spec checks params',
    )


ORDERING_CHOICES = [f"{sign}{name}" for name in RUN_ORDERINGS for sign in ("", "-")]


class RunFilterSerializer(serializers.Serializer):
    """The query string of run lists."""

    status = serializers.ListField(child=serializers.ChoiceField(choices=RunStatus.choices()), required=False,
                                   help_text="only runs in these statuses (repeat the parameter for several)")
    created_after = serializers.DateTimeField(required=False, help_text="ISO 8601; created at or after")
    created_before = serializers.DateTimeField(required=False, help_text="ISO 8601; created before")
    ordering = serializers.ChoiceField(choices=ORDERING_CHOICES, default="-created_at")


class ProjectRunFilterSerializer(RunFilterSerializer):
    pipeline = serializers.CharField(required=False, max_length=255, help_text="only the runs of this pipeline")
