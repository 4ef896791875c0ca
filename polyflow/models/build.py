"""Image builds of the Kubernetes backend (DESIGN section 7, docs/kubernetes.md).

A `Build` is one image, identified by its reference `<repository>:<hash of the
build spec>`: a successful build is reused by every later op that needs the
same image, durably (the kaniko pods themselves are cleaned up). A
`BuildWaiter` is an op's pod waiting for its image: the backend creates it
once the build succeeded, or fails the op with the build's reason.
"""

from django.db import models


class Build(models.Model):
    class Status(models.TextChoices):
        BUILDING = "building"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    image = models.CharField(max_length=512, unique=True)  # <repository>:<hash>, where it is pushed
    hash = models.CharField(max_length=64)
    pipeline = models.CharField(max_length=63)
    template = models.CharField(max_length=63)
    namespace = models.CharField(max_length=63)
    pod = models.CharField(max_length=63)  # the kaniko pod of the current (or last) try
    tries = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BUILDING)
    reason = models.CharField(max_length=64, blank=True, default="")
    message = models.TextField(blank=True, default="")
    digest = models.CharField(max_length=128, blank=True, default="")  # sha256:..., as kaniko reported it
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Every transition of the build, oldest first (backends/build_states.py writes it with the status).
    history = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.image} ({self.status})"


class BuildWaiter(models.Model):
    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="waiters")
    pod = models.CharField(max_length=63, unique=True)  # the op's pod name, its attempt key
    manifest = models.JSONField()  # the op's pod, created when the image is there
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.pod} waits for {self.build_id}"
