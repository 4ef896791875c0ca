"""The standalone project's Celery app: the scheduler's worker and beat.

    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \\
        celery -A polyflow.standalone worker --beat

(Celery finds this module from the package name.) Configuration comes from the
standalone settings' ``CELERY_*`` names; the beat ticks the scheduler every
``POLYFLOW_TICK_INTERVAL`` seconds. Neither the ``polyflow`` command nor the web
server import this module: they need no broker.
"""

import os
from pathlib import Path

from polyflow.extras import require
from polyflow.tasks import beat_schedule

Celery = require("celery", "celery", "the Celery app of the standalone project").Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "polyflow.standalone.settings")

app = Celery("polyflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Entries of a CELERY_BEAT_SCHEDULE setting, if any, come on top.
app.conf.beat_schedule = {**beat_schedule(), **(app.conf.beat_schedule or {})}

# The beat keeps its state in POLYFLOW_HOME, which a deployment on PostgreSQL
# has not needed so far; the beat opens the file before any signal a handler
# could create it in.
Path(app.conf.beat_schedule_filename).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
