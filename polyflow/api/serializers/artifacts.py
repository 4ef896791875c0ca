from django.urls import reverse
from rest_framework import serializers

from ...models import Artifact


class ArtifactSerializer(serializers.Serializer):
    """A file or directory an op run stored (an output of type `path`)."""

    op = serializers.CharField(source="op_run.label", help_text="the op run that stored it: `op`, or `op[trial]`")
    trial = serializers.IntegerField(source="op_run.trial", allow_null=True)
    attempt = serializers.IntegerField()
    name = serializers.CharField(help_text="the output's name")
    uri = serializers.CharField(help_text="where it is in the artifact store")
    size = serializers.IntegerField(help_text="bytes (a directory: all its files together)")
    digest = serializers.CharField(help_text="`sha256:<hex>`; of a directory, over its files' paths and digests")
    kind = serializers.ChoiceField(choices=Artifact.Kind.choices)
    files = serializers.IntegerField(help_text="how many files (1 for a file)")
    created_at = serializers.DateTimeField()
    consumers = serializers.SerializerMethodField(help_text="the op runs that downloaded it as an input")
    download = serializers.SerializerMethodField(help_text="its download endpoint (a directory: a tar archive)")

    def get_consumers(self, artifact) -> list[str]:
        return [op_run.label for op_run in artifact.consumers.all()]

    def get_download(self, artifact) -> str:
        request = self.context["request"]
        # The run's owner, project and uuid, as the request named them.
        kwargs = {key: request.resolver_match.kwargs[key] for key in ("owner", "project", "uuid")}
        op_run = artifact.op_run
        kwargs["op"], kwargs["name"] = op_run.name, artifact.name
        if op_run.trial is None:
            path = reverse("polyflow:api-op-artifact-download", kwargs=kwargs)
        else:
            path = reverse("polyflow:api-trial-artifact-download", kwargs={**kwargs, "index": op_run.trial})
        return request.build_absolute_uri(path)


class ArtifactListField(serializers.ListSerializer):
    """An op run's artifacts, as its view loaded them (`artifact_list`)."""

    def get_attribute(self, instance):
        return getattr(instance, "artifact_list", None) or []


class DownloadQuerySerializer(serializers.Serializer):
    file = serializers.CharField(required=False, max_length=4096,
                                 help_text="one file of a directory artifact, by its path in it (`part/b.csv`); "
                                           "without it a directory comes as a tar archive")
