from rest_framework import serializers

from .runs import RunSerializer


class ActionSerializer(serializers.Serializer):
    """An action in a list: its latest version."""

    name = serializers.CharField()
    latest_version = serializers.IntegerField(source="version")
    versions_count = serializers.IntegerField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField(help_text="when the latest version was added")


class ActionVersionSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField()
    description = serializers.CharField()
    template = serializers.JSONField()
    content = serializers.CharField(help_text="the document as submitted")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class ActionDetailSerializer(serializers.Serializer):
    name = serializers.CharField()
    latest_version = serializers.IntegerField()
    description = serializers.CharField()
    versions = ActionVersionSerializer(many=True, help_text="newest first")


class EventSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    inputs = serializers.JSONField()
    content = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class FireSerializer(serializers.Serializer):
    payload = serializers.DictField(required=False, default=dict,
                                    help_text="values for the event's inputs, given to every op with an input "
                                              "of the same name")


class FiredSerializer(serializers.Serializer):
    event = serializers.CharField()
    runs = RunSerializer(many=True, help_text="the runs created, those in projects you may read")
