"""An owner's registry: actions (one row per version) and events."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery

from ..exceptions import NotFound
from ..models import Action, Event


def latest_actions(owner) -> QuerySet:
    """One row per action name, its latest version, with `versions_count`.

    Subqueries rather than DISTINCT ON, which SQLite (the embedded database) lacks.
    """
    same_name = Action.objects.filter(owner=owner, name=OuterRef("name"))
    latest = same_name.order_by("-version").values("pk")[:1]
    count = same_name.order_by().values("name").annotate(n=Count("pk")).values("n")
    return (Action.objects.filter(owner=owner, pk=Subquery(latest))
            .annotate(versions_count=Subquery(count, output_field=IntegerField()))
            .order_by("name"))


def action_versions(owner, name: str) -> list[Action]:
    """Every version of the action, newest first."""
    versions = list(Action.objects.filter(owner=owner, name=name).select_related("created_by").order_by("-version"))
    if not versions:
        raise NotFound(f"action {name!r} not found")
    return versions


def events_of(owner) -> QuerySet:
    return Event.objects.filter(owner=owner).order_by("name")
