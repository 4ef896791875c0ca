from django.core.validators import RegexValidator
from rest_framework import serializers

from ...spec.fields import DNS1123_LABEL, dns1123_label_error


class Text(serializers.CharField):
    """A string and only a string: 5 is not "5", as in the spec language (DRF's CharField converts)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Name(Text):
    """A DNS-1123 label (a project's name), with the spec language's message; its pattern and
    length are in the OpenAPI schema, so that the schema states what the API enforces."""

    def __init__(self, **kwargs):
        super().__init__(max_length=63, **kwargs)
        self.validators.append(RegexValidator(DNS1123_LABEL.pattern))

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = dns1123_label_error(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value
