"""What the dashboard's registry pages read (polyflow/ui/): an owner's actions with their
versions, and events with their subscribers, in a fixed number of queries per page.

Scoping is the API's: `get_registry_owner`'s rule (selectors.owners) for the registry itself, and a
subscriber is listed only when its project is one the user may read (selectors.projects).
"""

from __future__ import annotations

import yaml

from ..access import Access
from ..exceptions import NotFound
from ..models import Event, EventSubscription
from .projects import visible_projects
from .registry import action_versions, events_of, latest_actions
from .versions import diff_lines, pick_versions


def registry_owner(user, username: str):
    """(the owner, whether the user may add to the registry and fire its events): the API's rule
    (selectors.owners.get_registry_owner: no access at all is NotFound), in two queries."""
    from django.contrib.auth import get_user_model

    from ..access import owner_access_level
    from ..models import ProjectMember

    owner = get_user_model().objects.filter(username=username).first()
    level = Access.NONE
    if owner is not None:
        roles = []
        if user.is_authenticated and not user.is_staff and owner.pk != user.pk:
            roles = list(ProjectMember.objects.filter(user=user, project__owner=owner)
                         .values_list("role", flat=True).distinct())
        level = owner_access_level(user, owner, roles)
    if level == Access.NONE:
        raise NotFound(f"owner {username!r} not found")
    return owner, level >= Access.ACT


def actions_page(owner) -> list:
    return list(latest_actions(owner))


def action_text(action) -> str:
    """The version's document as submitted, else its template as YAML."""
    return action.content or yaml.safe_dump({"kind": "action", "name": action.name, "version": action.version,
                                             "template": action.template}, sort_keys=False)


def action_page(owner, name: str, version: str | None = None, base: str | None = None):
    """(every version newest first, the one shown, the one it is compared to or None, the diff)."""
    versions = action_versions(owner, name)
    shown, compared = pick_versions(versions, version, base)
    diff = diff_lines(action_text(compared), action_text(shown), f"v{compared.version}", f"v{shown.version}") \
        if compared is not None and compared.pk != shown.pk else []
    return versions, shown, compared, diff


def events_page(user, owner, name: str | None = None) -> list[Event]:
    """The owner's events (or the one named), each with `subscribers`: the subscribed pipelines
    the user may see (2 queries)."""
    events = events_of(owner)
    events = list(events.filter(name=name) if name is not None else events)
    by_event: dict[int, list] = {event.pk: [] for event in events}
    subscriptions = (EventSubscription.objects.filter(event__in=events, pipeline__project__in=visible_projects(user))
                     .select_related("pipeline__project__owner").order_by("pipeline__project__name", "pipeline__name"))
    for subscription in subscriptions:
        by_event[subscription.event_id].append(subscription.pipeline)
    for event in events:
        event.subscribers = by_event[event.pk]
    return events


def event_page(user, owner, name: str) -> Event:
    events = events_page(user, owner, name)
    if not events:
        raise NotFound(f"event {name!r} not found")
    return events[0]
