from django.db import models

from polyflow.models import AbstractProject


class Project(AbstractProject):
    """The host's projects, which Polyflow's pipelines belong to (POLYFLOW_PROJECT_MODEL)."""

    # The host's own field: Polyflow neither knows nor needs it.
    visibility = models.CharField(max_length=16, default="private")

    class Meta(AbstractProject.Meta):  # keeps AbstractProject's (owner, name) constraint
        ordering = ["name"]
