from rest_framework import serializers


class Text(serializers.CharField):
    """A string and only a string: 5 is not "5", as in the spec language (DRF's CharField converts)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
