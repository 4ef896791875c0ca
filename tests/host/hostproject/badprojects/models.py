"""Project models that miss what Polyflow needs, for the system check's tests (host.settings_bad)."""

from django.db import models

from polyflow.models import AbstractProject


class Project(AbstractProject):
    class Meta:  # a Meta of its own, not AbstractProject.Meta's: the (owner, name) constraint is lost
        ordering = ["name"]


class Team(models.Model):
    owner = models.ForeignKey("auth.Group", on_delete=models.CASCADE)  # not the user model
    title = models.CharField(max_length=63)  # no `name`

    def __str__(self) -> str:
        return self.title
