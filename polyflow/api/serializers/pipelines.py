from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ...selectors.exports import available_targets


class OpSummarySerializer(serializers.Serializer):
    """One op of the plan, enough to draw the DAG."""

    name = serializers.CharField()
    dependencies = serializers.ListField(child=serializers.CharField())
    template = serializers.CharField(source="template_name", allow_null=True,
                                     help_text="the inline template's name, or null for an action")
    action = serializers.JSONField(allow_null=True, help_text="`{name, version}` of the registry action, or null")


class PipelineSerializer(serializers.Serializer):
    owner = serializers.CharField(source="project.owner.username")
    project = serializers.CharField(source="project.name")
    name = serializers.CharField()
    description = serializers.CharField()
    tags = serializers.SerializerMethodField()
    schedule = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()
    is_paused = serializers.BooleanField()
    next_slot_at = serializers.DateTimeField(allow_null=True)
    runs_created = serializers.IntegerField()
    slots_dropped = serializers.IntegerField()
    schedule_done = serializers.BooleanField()
    scheduler_error = serializers.CharField(
        help_text="why creating this pipeline's due runs failed the last time; empty when it works")
    scheduler_error_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tags(self, pipeline) -> list:
        return pipeline.plan.get("tags", [])

    @extend_schema_field({"type": "object", "nullable": True, "additionalProperties": True})
    def get_schedule(self, pipeline):
        return pipeline.plan.get("schedule")

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_events(self, pipeline) -> list:
        return pipeline.plan.get("events", [])


class PipelineDetailSerializer(PipelineSerializer):
    content = serializers.CharField(help_text="the document as submitted")
    ops = serializers.SerializerMethodField()
    plan = serializers.JSONField(help_text="the compiled plan that runs are created from")

    @extend_schema_field(OpSummarySerializer(many=True))
    def get_ops(self, pipeline):
        return OpSummarySerializer(pipeline.plan.get("ops", []), many=True).data



class ExportQuerySerializer(serializers.Serializer):
    # The targets this installation has: the schema lists no target that would answer 400.
    to = serializers.ChoiceField(choices=available_targets(), help_text="the engine to export to")
    executor = serializers.ChoiceField(
        choices=["kubernetes", "local"], required=False,
        help_text="airflow: KubernetesPodOperator tasks running Polyflow's pods (default), or BashOperator tasks "
                  "running the commands on the Airflow worker as the local backend does")
    airflow_version = serializers.RegexField(
        r"^[23](\.[0-9]+)*$", required=False, max_length=20,
        help_text="airflow: pin the DAG file to Airflow 2.10 or 3.x (default: it adapts to the Airflow that loads it)")
    namespace = serializers.RegexField(
        r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", required=False, max_length=63,
        help_text="the Kubernetes namespace of the pods (airflow's kubernetes executor) or of the Workflow (argo); "
                  "default: the server's POLYFLOW['KUBE_NAMESPACE'] (airflow), none (argo)")
    name = serializers.RegexField(
        r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", required=False, max_length=63,
        help_text="argo: the Workflow's generateName prefix, or the CronWorkflow's name (default: the pipeline's)")
    starting_deadline_seconds = serializers.IntegerField(
        required=False, min_value=0, max_value=31_536_000,
        help_text="argo: a CronWorkflow's startingDeadlineSeconds (default 3600)")


class SpecVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="1 for the first text applied, then one more for each text "
                                                 "that differed from the one before")
    content = serializers.CharField(help_text="the document as applied (YAML or JSON)")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None,
                                       help_text="who applied it; null when unknown")
    created_at = serializers.DateTimeField()
