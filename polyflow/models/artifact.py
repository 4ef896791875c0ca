from django.db import models
from django.utils import timezone


class Artifact(models.Model):
    """A file or directory an op run's attempt stored (an output of type `path`, DESIGN
    section 10): where it is, what it weighs and its digest. A cached op run has rows of its
    own that point at the source's files (same URI and digest)."""

    class Kind(models.TextChoices):
        FILE = "file"
        DIRECTORY = "directory"

    op_run = models.ForeignKey("polyflow.OperationRun", on_delete=models.CASCADE, related_name="artifacts")
    attempt = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=128)  # the output's name
    uri = models.TextField()
    size = models.BigIntegerField(default=0)  # bytes, all files of a directory together
    digest = models.CharField(max_length=80)  # "sha256:<hex>"
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FILE)
    files = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    # The op runs whose inputs downloaded it.
    consumers = models.ManyToManyField("polyflow.OperationRun", blank=True, related_name="consumed")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["op_run", "attempt", "name"],
                                               name="polyflow_artifact_attempt_name")]
        ordering = ["op_run_id", "name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.uri})"
