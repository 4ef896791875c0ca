"""The host's Celery app: `celery -A host worker --beat` runs Polyflow's ticks with
the host's own tasks, the beat schedule being the host's with Polyflow's entry merged in."""

import os

from celery import Celery

import polyflow.tasks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "host.settings")

app = Celery("host")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # finds polyflow.tasks (polyflow.tick) among INSTALLED_APPS
app.conf.beat_schedule = {**polyflow.tasks.beat_schedule(), **app.conf.beat_schedule}


@app.task(name="host.cleanup")
def cleanup() -> str:
    """A task of the host's own, on the host's own beat entry."""
    return "clean"
