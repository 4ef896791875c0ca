"""The error shape, for the schema (errors.py builds the bodies)."""

from rest_framework import serializers


class ErrorItemSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="what the error is in: `body`, `query`, a document, or empty")
    path = serializers.CharField(help_text="where in it, e.g. `ops[1].template.action`; empty for the whole")
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="machine-readable, e.g. `invalid_spec`, `not_found`, `conflict`")
    message = serializers.CharField()
    errors = ErrorItemSerializer(many=True)
