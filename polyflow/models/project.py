"""Projects: where Polyflow plugs into a host platform.

Like AUTH_USER_MODEL, the project model is swappable: a host (Polyaxon) sets
`POLYFLOW_PROJECT_MODEL = "app.Project"` to its own model, which must have an
`owner` foreign key to the user model and a `name` unique per owner (subclass
AbstractProject to get both, and keep its Meta.constraints when the subclass
declares a Meta: `class Meta(AbstractProject.Meta)`). Polyflow's own Project is
the default. A system check (polyflow/checks.py) fails a model that lacks them.
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
        # Polyflow finds a project by owner and name (the API's {owner}/{project}/ paths)
        # and relies on the database to refuse a second one (create_project turns the
        # IntegrityError into a 409, whatever the race). The constraint's index is also
        # the one those lookups use. `%(app_label)s_%(class)s` keeps the name unique
        # per concrete model: "polyflow_project_owner_name" for Polyflow's own.
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="%(app_label)s_%(class)s_owner_name")]

    def __str__(self) -> str:
        return f"{self.owner.get_username()}/{self.name}"


class Project(AbstractProject):
    class Meta(AbstractProject.Meta):
        swappable = PROJECT_MODEL_SETTING
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
