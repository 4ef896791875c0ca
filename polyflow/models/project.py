"""Projects: where Polyflow plugs into a host platform.

Like AUTH_USER_MODEL, the project model is swappable: a host (Polyaxon) sets
`POLYFLOW_PROJECT_MODEL = "app.Project"` to its own model, which must have an
`owner` foreign key to the user model and a `name` unique per owner (subclass
AbstractProject to get both). Polyflow's own Project is the default.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

name_validator = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    "Use lowercase letters, digits and '-', starting and ending with a letter or digit.",
)

PROJECT_MODEL_SETTING = "POLYFLOW_PROJECT_MODEL"


DEFAULT_PROJECT_MODEL = "polyflow.Project"

# Migrations name the project model through the setting
# (`swappable_dependency(settings.POLYFLOW_PROJECT_MODEL)`), so it must exist
# even in projects that keep the default, as AUTH_USER_MODEL does in Django's
# global settings.
if not hasattr(settings, PROJECT_MODEL_SETTING):
    setattr(settings, PROJECT_MODEL_SETTING, DEFAULT_PROJECT_MODEL)


def project_model_name() -> str:
    return getattr(settings, PROJECT_MODEL_SETTING)


class AbstractProject(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="+")
    name = models.CharField(max_length=63, validators=[name_validator])
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.owner.get_username()}/{self.name}"


class Project(AbstractProject):
    class Meta:
        swappable = PROJECT_MODEL_SETTING
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="polyflow_project_owner_name")]
        ordering = ["name"]


class ProjectMember(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer"  # reads
        MEMBER = "member"  # reads and acts: apply, trigger, stop, retry, pause

    project = models.ForeignKey(project_model_name(), on_delete=models.CASCADE,
                                related_name="polyflow_members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="polyflow_memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="polyflow_member_project_user")]
        ordering = ["user_id"]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"
