"""Build contexts over the API (docs/api.md "Build contexts")."""

from rest_framework import serializers

DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
# A digest of an upload, or a URL kaniko reads (git://, s3://, gs://, https://...tar.gz).
CONTEXT_PATTERN = r"^(sha256:[0-9a-f]{64}|[A-Za-z][A-Za-z0-9+.-]*://[^\s\x00]+)$"


class ContextUploadQuerySerializer(serializers.Serializer):
    digest = serializers.RegexField(DIGEST_PATTERN, help_text="the sha256 of the body: `sha256:<64 hex digits>`")


class PipelineContextQuerySerializer(serializers.Serializer):
    context = serializers.RegexField(
        CONTEXT_PATTERN, required=False, max_length=2048,
        help_text="the spec's directory for builds without a context (or with a relative one): the digest "
                  "of a context uploaded to this project (`POST contexts/`), or a URL given to kaniko as it "
                  "is (`git://host/repo.git#refs/heads/main`, `s3://bucket/ctx.tar.gz`)")


class ContextSerializer(serializers.Serializer):
    digest = serializers.CharField()
    size = serializers.IntegerField(help_text="bytes of the tar.gz")
    uri = serializers.CharField(help_text="where the artifact store keeps it")
    created = serializers.BooleanField(help_text="false when the store had it already")
