from django.conf import settings
from django.db import models

from .project import name_validator


class Action(models.Model):
    """One version of a reusable template in an owner's registry. Never changed once stored:
    pipelines snapshot the version they use."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="polyflow_actions")
    name = models.CharField(max_length=63, validators=[name_validator])
    version = models.PositiveIntegerField()
    description = models.TextField(blank=True, default="")
    template = models.JSONField()  # TemplateSpec.to_dict()
    content = models.TextField(blank=True, default="")  # the document as submitted
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "name", "version"],
                                               name="polyflow_action_owner_name_version")]
        ordering = ["name", "-version"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"
