"""Which scheduler processes tick, and when each last did: one row per process.

Written at most once per second by each process that ticks (`telemetry.heartbeat`),
read by `/readyz` (has any process ticked lately?), by the metrics endpoint and, later,
by a dashboard's list of workers. A row per process rather than one shared row: many
workers tick at once on one PostgreSQL, and each updates only its own row (no contention).
"""

from django.db import models


class SchedulerHeartbeat(models.Model):
    worker = models.CharField(max_length=128, unique=True)  # "<host>:<pid>"
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()  # when this process first ticked
    ticked_at = models.DateTimeField(db_index=True)  # when its last tick ended
    tick_seconds = models.FloatField(default=0.0)  # how long that tick took

    class Meta:
        ordering = ["-ticked_at"]

    def __str__(self) -> str:
        return f"{self.worker} ticked at {self.ticked_at.isoformat()}"
