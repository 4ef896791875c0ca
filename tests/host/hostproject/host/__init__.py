"""A host platform that adds Polyflow to itself, as the README's host section says.

Its Celery app is loaded with Django, as Celery's Django guide has it, so that
tasks sent from web processes use the host's broker.
"""

from .celery import app as celery_app

__all__ = ["celery_app"]
