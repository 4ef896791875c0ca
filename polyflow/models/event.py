from django.conf import settings
from django.db import models

from .project import name_validator


class Event(models.Model):
    """A named trigger: firing it starts one run of every subscribed pipeline."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="polyflow_events")
    name = models.CharField(max_length=63, validators=[name_validator])
    description = models.TextField(blank=True, default="")
    inputs = models.JSONField(default=list)  # [IOSpec.to_dict()]
    content = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="polyflow_event_owner_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EventSubscription(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="subscriptions")
    pipeline = models.ForeignKey("polyflow.Pipeline", on_delete=models.CASCADE, related_name="subscriptions")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "pipeline"], name="polyflow_subscription_unique")]

    def __str__(self) -> str:
        return f"{self.pipeline} on {self.event}"
